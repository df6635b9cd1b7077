package pgproxy

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/hopscope/hopscope/internal/contract"
	"github.com/hopscope/hopscope/sidecar/backend"
)

// maxPending bounds the calls awaiting their ReadyForQuery on one
// connection; more stops decoding.
const maxPending = 4096

// pending is a call sent to the server (a simple query, or a batch up to
// its Sync) whose ReadyForQuery has not come back.
type pending struct {
	call    backend.Call
	kind    string
	text    string
	summary string // db.query.summary, shared per statement
	// namespace is the connection's database (db.namespace).
	namespace string
	simple    bool   // a Query or FunctionCall, not an extended batch
	copyEnds  uint64 // CopyDone/CopyFail the client had sent when it was pushed
}

// finished is a call whose ReadyForQuery came, to be recorded once the
// reply has been forwarded.
type finished struct {
	pending
	end      time.Time
	sqlstate string
	severity string
	auth     string // a connect call's: how the server asked to authenticate
	tls      string // a connect call's: the TLS version to the server, or ""
}

// session is the decoding state of one connection: the two directions'
// decoders and the calls in flight between them.
type session struct {
	b   *backend.Backend
	rec *recorder // nil: calls recorded as they end

	failed atomic.Bool
	// nonStandard is standard_conforming_strings off, as the server last
	// reported it: a backslash escapes in '…' strings (NormalizeSession).
	nonStandard atomic.Bool
	fe          frontend
	be          replies

	mu       sync.Mutex
	q        []pending // FIFO from head
	head     int
	copyEnds uint64 // CopyDone/CopyFail messages the client sent
	extCopy  bool   // an extended batch's COPY FROM STDIN awaits its end
	closed   func() // ends the connection's count in its current state

	// connectStart, when set, is when the proxy began TLS with the
	// server: the connect call starts there. tlsVersion is that TLS's
	// version ("" in plain text).
	connectStart time.Time
	tlsVersion   string
}

func newSession(b *backend.Backend) *session {
	s := &session{b: b}
	s.fe.s = s
	s.fe.f.startup = true
	s.be.s = s
	return s
}

// count counts the connection as decoded until release.
func (s *session) count() {
	s.mu.Lock()
	s.closed = s.b.Connected(backend.StateDecoded)
	s.mu.Unlock()
}

// release ends the connection's count.
func (s *session) release() {
	s.mu.Lock()
	if s.closed != nil {
		s.closed()
		s.closed = nil
	}
	s.mu.Unlock()
}

// fail stops decoding for good: the connection goes on as a relay,
// counted as relayed, its calls in flight dropped.
func (s *session) fail() {
	if !s.failed.CompareAndSwap(false, true) {
		return
	}
	s.b.DecodeFailed()
	s.mu.Lock()
	if s.closed != nil {
		s.closed()
		s.closed = s.b.Connected(backend.StateRelayed)
	}
	clear(s.q)
	s.q, s.head = s.q[:0], 0
	s.mu.Unlock()
}

// clientBytes decodes bytes the client sent, before they are forwarded.
func (s *session) clientBytes(p []byte) {
	if s.failed.Load() {
		return
	}
	defer s.recover()
	s.fe.now = time.Time{}
	if !s.fe.f.feed(p, &s.fe) {
		s.fail()
	}
}

// serverBytes decodes bytes the server sent, before they are forwarded;
// finish then records the calls they completed.
func (s *session) serverBytes(p []byte) {
	if s.failed.Load() {
		return
	}
	defer s.recover()
	s.be.now = time.Time{}
	if !s.be.f.feed(p, &s.be) {
		s.fail()
	}
}

// recover turns a decoder panic into a decoding failure: the bytes are
// relayed regardless.
func (s *session) recover() {
	if r := recover(); r != nil {
		s.fail()
	}
}

// finish records the calls the last server bytes completed (the bytes
// themselves are not looked at): through the proxy's recorder when there
// is one, else at once.
func (s *session) finish([]byte) {
	done := s.be.done
	if len(done) == 0 {
		return
	}
	if s.rec == nil || !s.rec.add(done) {
		for i := range done {
			record(&done[i])
		}
	}
	clear(done)
	s.be.done = done[:0]
}

// ErrConnectionClosed is the error of a call still in flight when its
// connection ended without a SQLSTATE (the server or the client went
// away).
const ErrConnectionClosed = "connection_closed"

// abandon records the calls still in flight when the connection ended,
// once both directions are done: the first with the error that came
// before the end (a FATAL's SQLSTATE), if any.
func (s *session) abandon(end time.Time) {
	if s.failed.Load() {
		return
	}
	for {
		p, ok := s.pop()
		if !ok {
			break
		}
		f := finished{pending: p, end: end, sqlstate: s.be.sqlstate, severity: s.be.severity}
		if p.kind == KindConnect {
			f.auth, f.tls = s.be.auth, s.tlsVersion
		}
		if f.sqlstate == "" {
			f.sqlstate, f.severity = ErrConnectionClosed, ""
		}
		s.be.sqlstate, s.be.severity = "", ""
		s.be.done = append(s.be.done, f)
	}
	s.finish(nil)
}

// AttrSeverity is the span attribute with the severity of the error a
// call ended in (ERROR, FATAL, PANIC).
const AttrSeverity = contract.AttrPostgreSQLSeverity

// push queues a call for its ReadyForQuery; false when too many are.
func (s *session) push(p pending) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.q)-s.head >= maxPending {
		return false
	}
	if s.head > 0 && s.head == len(s.q) {
		clear(s.q)
		s.q, s.head = s.q[:0], 0
	}
	p.copyEnds = s.copyEnds
	s.q = append(s.q, p)
	return true
}

// pop takes the oldest call in flight.
func (s *session) pop() (pending, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.head == len(s.q) {
		return pending{}, false
	}
	p := s.q[s.head]
	s.q[s.head] = pending{}
	s.head++
	if s.head == len(s.q) {
		s.q, s.head = s.q[:0], 0
	} else if s.head > 64 && s.head > len(s.q)/2 {
		n := copy(s.q, s.q[s.head:])
		clear(s.q[n:])
		s.q, s.head = s.q[:n], 0
	}
	return p, true
}

// copyStarted is the server entering COPY FROM STDIN (or COPY BOTH) for
// the oldest call in flight. The server ignores every Sync it receives
// until the client's CopyDone or CopyFail: the calls those Syncs queued
// get no ReadyForQuery and are dropped; an extended batch's ReadyForQuery
// then answers the first Sync after the copy's end.
func (s *session) copyStarted() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.head == len(s.q) {
		return
	}
	front := s.q[s.head]
	kept := s.q[:s.head+1]
	mergeNext := !front.simple && s.copyEnds > front.copyEnds
	for _, p := range s.q[s.head+1:] {
		switch {
		case p.copyEnds == front.copyEnds:
			continue // a Sync sent during the copy
		case mergeNext:
			mergeNext = false
			continue // the Sync after the copy: it ends front
		}
		kept = append(kept, p)
	}
	clear(s.q[len(kept):])
	s.q = kept
	if !front.simple && s.copyEnds == front.copyEnds {
		s.extCopy = true
	}
}

// copyEnded is the client's CopyDone or CopyFail; it says whether the
// next Sync ends an extended batch already in flight.
func (s *session) copyEnded() (absorbSync bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.copyEnds++
	if s.extCopy {
		s.extCopy = false
		return true
	}
	return false
}
