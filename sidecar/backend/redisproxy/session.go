package redisproxy

import (
	"bufio"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hopscope/hopscope/sidecar/backend"
	"go.opentelemetry.io/otel/trace"
)

// What the reply side found at the head of the queue.
const (
	headOK      uint8 = iota
	headNone          // nothing pending: the reply answers no command
	headStopped       // decoding was stopped on purpose (MONITOR…) or already counted as failed
)

// Error types of calls that got no decoded reply (every begun call is
// finished).
const (
	errClosed    = "closed"    // the connection ended first
	errUndecoded = "undecoded" // decoding stopped before its reply
)

// session is one proxied connection: the command side (app → server) and
// the reply side (server → app), each in its own goroutine, share the
// queue of pending commands. The command side queues each command before
// it relays the read that completes it, so a reply always finds its
// command queued.
type session struct {
	b *backend.Backend
	q queue

	// stopCmds tells the command side that decoding stopped.
	stopCmds atomic.Bool
	// cmdsStopped: the command side queues no more on purpose (MONITOR…,
	// a violation): once the queue drains the reply side relays.
	cmdsStopped atomic.Bool

	// topo, for a cluster backend, learns the places of the topology
	// commands; seq counts the commands queued (the command side's).
	topo *topoQueue
	seq  uint64
	// batchFirst is the first call of the pipeline being read, while
	// inBatch (the command side's).
	batchFirst backend.Call
	inBatch    bool
	batches    bool // the backend's Batches

	mu      sync.Mutex
	gauge   func()
	relayed bool
	failed  bool

	// The reply side's own state.
	// db is the database the server runs the next command in: 0, then as
	// the last SELECT that succeeded (or RESET) set it. Followed on the
	// reply side, a SELECT the server refuses changes nothing.
	db       int32
	proto    int   // 2 or 3, as the last HELLO answered
	combined int64 // channels + patterns, as the last confirmation counted
	channels int64
	patterns int64
	shards   int64
	cur      pending // a (P|S)(UN)SUBSCRIBE taking its confirmations
	curLeft  int64
	curEnd   time.Time
	hasCur   bool
	batch    backend.Batch // the pipeline whose replies are coming
}

func newSession(b *backend.Backend) *session {
	return &session{b: b, gauge: b.Connected(backend.StateDecoded), proto: 2, batches: b.Batches()}
}

// close ends the calls still pending (the connection ended before their
// replies, or decoding stopped) and the connection's gauge. Both sides
// are done.
func (s *session) close() {
	s.finishCur()
	s.mu.Lock()
	defer s.mu.Unlock()
	why := errClosed
	if s.relayed {
		why = errUndecoded
	}
	now := time.Now()
	for {
		p, ok, _ := s.q.front()
		if !ok {
			break
		}
		s.q.pop()
		s.finish(p, now, p.opOf(why, s.db))
	}
	s.batch.End()
	s.gauge()
}

// toRelay moves the connection to the relayed state, counting a decode
// failure when failed (both once).
func (s *session) toRelay(failed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if failed && !s.failed {
		s.failed = true
		s.b.DecodeFailed()
	}
	if !s.relayed {
		s.relayed = true
		s.gauge()
		s.gauge = s.b.Connected(backend.StateRelayed)
	}
}

// replyTee relays every byte it reads to dst at once, before the
// decoder sees it, and notes when the last read arrived: a reply's call
// is finished once the reply is on its way.
type replyTee struct {
	src  io.Reader
	dst  io.Writer
	last time.Time
}

func (t *replyTee) Read(p []byte) (int, error) {
	n, err := t.src.Read(p)
	if n > 0 {
		t.last = time.Now()
		if _, werr := t.dst.Write(p[:n]); werr != nil {
			return 0, werr
		}
	}
	return n, err
}

// cmdTee relays the app's bytes one read late: a read is decoded before
// it is written, so each command it completes is queued (and its call
// begun, attributed to the requests in flight) before the server can
// answer it. The decoder asks for the next read only once it has decoded
// everything before it; the tee writes the previous read then, before it
// waits for the app.
type cmdTee struct {
	src     io.Reader
	dst     io.Writer
	last    time.Time
	pending []byte // the last read, not yet written
}

func (t *cmdTee) Read(p []byte) (int, error) {
	if err := t.flush(); err != nil {
		return 0, err
	}
	n, err := t.src.Read(p)
	if n > 0 {
		t.last = time.Now()
		t.pending = append(t.pending[:0], p[:n]...)
	}
	return n, err
}

// flush writes the read not yet written.
func (t *cmdTee) flush() error {
	if len(t.pending) == 0 {
		return nil
	}
	_, err := t.dst.Write(t.pending)
	t.pending = t.pending[:0]
	return err
}

// readerSize is the decoders' buffer, Redis's own read size.
const readerSize = 16 << 10

var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, readerSize) }}

// pendings are the command tees' copies of their last read.
var pendings = sync.Pool{New: func() any { b := make([]byte, 0, readerSize); return &b }}

// runCommands relays the app's stream to the server, timing each command,
// until the app's stream ends or the relay fails.
func (s *session) runCommands(dst io.Writer, src io.Reader) {
	buf := pendings.Get().(*[]byte)
	t := &cmdTee{src: src, dst: dst, pending: (*buf)[:0]}
	br := readers.Get().(*bufio.Reader)
	br.Reset(t)
	defer func() {
		br.Reset(nil)
		readers.Put(br)
		*buf = t.pending[:0]
		pendings.Put(buf)
	}()
	why := s.decodeCommands(t, br)
	s.q.close(why)
	// The last read is written now; the bytes buffered were in it or
	// written before.
	if err := t.flush(); err != nil || why == closeEnded {
		return
	}
	br.Discard(br.Buffered())
	io.Copy(dst, src)
}

func (s *session) decodeCommands(t *cmdTee, br *bufio.Reader) (why uint8) {
	defer func() {
		if recover() != nil {
			s.cmdsStopped.Store(true)
			s.toRelay(true)
			why = closeFailed
		}
	}()
	stop := func(failed bool) uint8 {
		s.cmdsStopped.Store(true)
		s.toRelay(failed)
		if failed {
			return closeFailed
		}
		return closeStop
	}
	d := cmdDecoder{br: br}
	setup := true // no command but a setup one yet
	for {
		if br.Buffered() == 0 {
			if _, err := br.Peek(1); err != nil {
				return closeEnded
			}
		}
		if s.stopCmds.Load() {
			return closeFailed
		}
		// The command's first byte arrived with the last read.
		start := t.last
		cmd, ok, err := d.next()
		if err != nil {
			if errors.Is(err, errProtocol) {
				return stop(true)
			}
			return closeEnded
		}
		if !ok {
			continue
		}
		if cmd.replyOff {
			return stop(true) // replies would no longer match
		}
		setup = setup && opSetup[cmd.op]
		// A pipeline: the commands one read completed, one span.
		more, batchable := br.Buffered() > 0, s.batches && !setup && cmd.kind == kindPlain
		var call backend.Call
		var batch uint8
		switch {
		case s.inBatch && batchable:
			call, batch = s.b.BeginMember(start, s.batchFirst), batchMember
			if !more {
				batch |= batchLast
			}
		default:
			call = s.b.BeginHint(start, trace.SpanContext{}, &d.hint)
			if more && batchable {
				batch, s.batchFirst = batchFirst, call
			}
		}
		s.inBatch = more && batchable
		p := pending{call: call, op: cmd.op, kind: cmd.kind, nargs: cmd.nargs, db: cmd.db, setup: setup, batch: batch}
		if !s.q.push(p) {
			call.Finish(time.Now(), p.opOf(errUndecoded, -1))
			return stop(true)
		}
		s.seq++
		if cmd.topology && s.topo != nil {
			s.topo.add(s.seq)
		}
		switch {
		case cmd.badQuotes:
			return stop(true) // Redis answers an error and closes
		case cmd.kind == kindMonitor, cmd.kind == kindSync:
			return stop(false) // a stream follows the reply
		}
	}
}

// runReplies relays the server's stream to the app, ending the calls of
// the commands its replies answer, until the server's stream ends or the
// relay fails.
func (s *session) runReplies(dst io.Writer, src io.Reader) {
	t := &replyTee{src: src, dst: dst}
	br := readers.Get().(*bufio.Reader)
	br.Reset(t)
	defer func() { br.Reset(nil); readers.Put(br) }()
	if !s.decodeReplies(t, br) {
		return
	}
	br.Discard(br.Buffered())
	io.Copy(dst, src)
}

// decodeReplies reports whether the rest is to be relayed undecoded.
func (s *session) decodeReplies(t *replyTee, br *bufio.Reader) (relay bool) {
	defer func() {
		if recover() != nil {
			s.stopDecoding(true)
			relay = true
		}
	}()
	d := replyDecoder{br: br, stack: make([]frame, 0, 8)}
	for {
		if s.cmdsStopped.Load() && !s.hasCur {
			if n, _ := s.q.state(); n == 0 {
				s.stopDecoding(false)
				return true
			}
		}
		r, err := d.next()
		if err != nil {
			s.finishCur()
			if errors.Is(err, errProtocol) {
				s.stopDecoding(true)
				return true
			}
			return false
		}
		if !s.match(r, t.last) {
			return true
		}
	}
}

// stopDecoding stops both sides' decoding for good.
func (s *session) stopDecoding(failed bool) {
	s.stopCmds.Store(true)
	s.toRelay(failed)
}

// match ends the call a reply answers, if any; false when decoding
// stopped.
func (s *session) match(r reply, end time.Time) bool {
	switch {
	case r.typ == '>':
		if isConfirmation(r.kind) {
			_, cont := s.confirm(r, end, true)
			return cont
		}
		return true // out of band: no command's reply
	case r.typ == '*' && s.proto == 2 && r.kind != pushNone:
		if r.kind == pushMessage && s.subscribed() {
			return true
		}
		if isConfirmation(r.kind) {
			if handled, cont := s.confirm(r, end, false); handled {
				return cont
			}
		}
	}
	return s.answer(r, end)
}

// answer ends the oldest pending command with reply r.
func (s *session) answer(r reply, end time.Time) bool {
	s.finishCur()
	head, st := s.head()
	if st != headOK {
		s.stopDecoding(st != headStopped) // a reply that answers no command
		return false
	}
	s.q.pop()
	switch head.kind {
	case kindHello:
		switch r.typ {
		case '%':
			s.proto = 3
		case '*':
			s.proto = 2
		}
	case kindReset:
		if r.err == "" {
			s.proto, s.combined, s.channels, s.patterns, s.shards, s.db = 2, 0, 0, 0, 0, 0
		}
	}
	if head.op == opSelect && head.db >= 0 && r.err == "" {
		s.db = head.db // SELECT's own span names the database it selected
	}
	s.finish(head, end, head.opOf(r.err, s.db))
	return true
}

// finish ends p's call at end: in the pipeline's span when p is one of a
// pipeline (the span ends with the pipeline's last command), else in its
// own. A pipeline whose last command never came (the app's read ended
// with a command it does not batch) ends at the next command that is not
// of it.
func (s *session) finish(p pending, end time.Time, op backend.Op) {
	if p.batch&batchMember != 0 && s.batch.Open() {
		s.batch.Add(p.call, end, op)
		if p.batch&batchLast != 0 {
			s.batch.End()
		}
		return
	}
	s.batch.End()
	if p.batch&batchFirst != 0 {
		s.batch.Add(p.call, end, op)
		return
	}
	p.call.Finish(end, op)
}

// confirm takes a (P|S)(UN)SUBSCRIBE confirmation: it ends the command
// once all of its confirmations came. handled is false when the reply is
// a plain array after all (RESP2, not subscribed, no such command
// pending).
func (s *session) confirm(r reply, end time.Time, push bool) (handled, cont bool) {
	if s.hasCur && s.cur.kind == r.kind {
		s.count(r)
		s.curLeft--
		s.curEnd = end
		if s.curLeft <= 0 {
			s.finishCur()
		}
		return true, true
	}
	s.finishCur()
	head, st := s.head()
	switch {
	case st == headOK && head.kind == r.kind:
		s.q.pop()
		s.batch.End() // the pipeline before it, if one was open
		s.cur, s.hasCur, s.curEnd = head, true, end
		s.curLeft = s.expected(head)
		s.count(r)
		s.curLeft--
		if s.curLeft <= 0 {
			s.finishCur()
		}
		return true, true
	case push || s.subscribed():
		// Not ours to time (a shard channel moved away, a subscription
		// made inside MULTI), but it counts.
		s.count(r)
		return true, true
	}
	return false, true
}

// expected is the number of confirmations a command gets: one per
// channel named, or one per subscription it ends (at least one).
func (s *session) expected(p pending) int64 {
	if p.nargs > 0 {
		return int64(p.nargs)
	}
	switch p.kind {
	case kindUnsubscribe:
		return max(s.channels, 1)
	case kindPUnsubscribe:
		return max(s.patterns, 1)
	case kindSUnsubscribe:
		return max(s.shards, 1)
	}
	return 1
}

// count follows the subscription counts a confirmation carries.
func (s *session) count(r reply) {
	if !r.hasCount || r.count < 0 {
		return
	}
	switch r.kind {
	case kindSubscribe, kindUnsubscribe:
		s.channels += r.count - s.combined
		s.combined = r.count
	case kindPSubscribe, kindPUnsubscribe:
		s.patterns += r.count - s.combined
		s.combined = r.count
	case kindSSubscribe, kindSUnsubscribe:
		s.shards = r.count
	}
	s.channels, s.patterns = max(s.channels, 0), max(s.patterns, 0)
}

// subscribed reports whether a RESP2 connection is in subscriber mode.
func (s *session) subscribed() bool { return s.combined+s.shards > 0 }

// finishCur ends the (P|S)(UN)SUBSCRIBE in progress at its last
// confirmation.
func (s *session) finishCur() {
	if !s.hasCur {
		return
	}
	s.hasCur = false
	s.batch.End()
	s.cur.call.Finish(s.curEnd, s.cur.opOf("", s.db))
	s.cur = pending{}
}

// head returns the oldest pending command.
func (s *session) head() (pending, uint8) {
	p, ok, closed := s.q.front()
	switch {
	case ok:
		return p, headOK
	case closed == closeStop || closed == closeFailed:
		return p, headStopped
	}
	return p, headNone
}
