package forward

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tinylib/msgp/msgp"

	"github.com/hopscope/hopscope/collector/consumer"
	"github.com/hopscope/hopscope/collector/logformat"
)

// Server defaults.
const (
	DefaultIdleTimeout    = 2 * time.Minute
	DefaultWriteTimeout   = 10 * time.Second
	DefaultMaxConnections = 1024
	// DefaultFirstByteTimeout: a Fluent sender writes as soon as it
	// connects, so a connection silent this long is not one.
	DefaultFirstByteTimeout = 10 * time.Second
)

// Reasons given to ServerConfig.OnConnClosed: fixed words, metric labels.
const (
	// ReasonConnLimit: a connection refused because MaxConnections were
	// open and none of them had yet to send its first byte.
	ReasonConnLimit = "conn_limit"
	// ReasonEvicted: a connection that had sent nothing yet, closed to
	// make room for a new one while MaxConnections were open.
	ReasonEvicted = "evicted_silent"
	// ReasonIdleTimeout: a connection closed because no byte of a request
	// arrived within FirstByteTimeout (its first) or IdleTimeout (later).
	ReasonIdleTimeout = "idle_timeout"
	// ReasonReadTimeout: a request started but not complete within
	// IdleTimeout.
	ReasonReadTimeout = "read_timeout"
)

// ServerConfig configures a Server. Zero fields take their defaults.
type ServerConfig struct {
	// HAProxyLoc is the zone of the local dates of forwarded HAProxy log
	// lines (UTC when nil).
	HAProxyLoc *time.Location
	// Listen is the TCP address to listen on, e.g. ":24224" or
	// "127.0.0.1:0" for a free loopback port.
	Listen string
	// Limits bounds every request read from a connection.
	Limits Limits
	// IdleTimeout closes a connection that completes no request for this
	// long; it also bounds the time one request may take to arrive.
	// Default DefaultIdleTimeout.
	IdleTimeout time.Duration
	// WriteTimeout bounds the writing of one ack. Default
	// DefaultWriteTimeout.
	WriteTimeout time.Duration
	// MaxConnections bounds the connections served at once; connections
	// beyond it are closed as soon as they are accepted. Default
	// DefaultMaxConnections.
	//
	// When the server is full, the connection open longest without having
	// sent a byte is closed to make room (ReasonEvicted): idle
	// connections cannot lock senders out. Only when every open
	// connection has sent something is the new one refused.
	MaxConnections int
	// FirstByteTimeout closes a new connection that sends nothing for
	// this long. Default DefaultFirstByteTimeout (IdleTimeout if shorter).
	FirstByteTimeout time.Duration
	// OnConnClosed, if set, is called with the reason (a Reason*
	// constant) of every connection refused or closed by the server
	// rather than by its peer. It may be called from the accepting
	// goroutine and from connections' goroutines at once.
	OnConnClosed func(reason string)
	// OnReject, if set, is called with the peer address and the error of
	// every rejected (malformed or oversized) request, from the
	// connection's goroutine, before the connection is closed.
	OnReject func(remote net.Addr, err error)
	// Refuse, if set, is asked before every read from a connection;
	// while it reports true (the memory limiter is past its soft limit)
	// the connection is not read, asked again every PauseCheck: the
	// sender's writes back up in TCP (Fluent Bit then pauses its input,
	// a sidecar queues and retries), and nothing is lost. What was read
	// is still handled and acknowledged; a request read halfway waits,
	// held, for the rest. The pause does not count against the
	// connection's deadlines. It must be cheap: an atomic load.
	Refuse func() bool
	// OnPause, if set, is called with the peer address each time a
	// connection pauses for Refuse (once per pause, however long).
	OnPause func(remote net.Addr)
}

// PauseCheck is how often a connection paused by ServerConfig.Refuse
// asks again.
const PauseCheck = 50 * time.Millisecond

// Stats are the Server's counters since Start.
type Stats struct {
	// AcceptedEvents counts events handed to the handle callback.
	AcceptedEvents uint64
	// AcceptedRequests counts requests decoded without error
	// (heartbeats included).
	AcceptedRequests uint64
	// RejectedRequests counts malformed or oversized requests; each one
	// closed its connection.
	RejectedRequests uint64
	// Acks counts acknowledgements written.
	Acks uint64
	// RefusedConnections counts connections closed because
	// MaxConnections were already open.
	RefusedConnections uint64
	// EvictedConnections counts silent connections closed to make room
	// for a new one.
	EvictedConnections uint64
	// TimedOutConnections counts connections closed by FirstByteTimeout
	// or IdleTimeout.
	TimedOutConnections uint64
	// OpenConnections is the number of connections open now.
	OpenConnections int64
	// Pauses counts connections paused by ServerConfig.Refuse, once per
	// pause.
	Pauses uint64
}

// Server receives Fluent forward traffic over TCP.
type Server struct {
	cfg    ServerConfig
	handle func([]Event)

	mu      sync.Mutex
	ln      net.Listener
	conns   map[net.Conn]*connState
	closing bool
	quit    chan struct{} // closed by Shutdown: ends pauses
	wg      sync.WaitGroup

	acceptedEvents   atomic.Uint64
	acceptedRequests atomic.Uint64
	rejected         atomic.Uint64
	acks             atomic.Uint64
	refused          atomic.Uint64
	evicted          atomic.Uint64
	timedOut         atomic.Uint64
	open             atomic.Int64
	pauses           atomic.Uint64
}

// NewServer returns a Server that reads every event it receives as a
// record (Records: a sidecar access log, ingress-nginx fields, a log line
// of a known format) and hands it, or the reason it is not one, to next,
// in the order the events arrived on a connection, from one goroutine per
// connection. An ack is written only after next has had every event of
// the request.
func NewServer(cfg ServerConfig, next consumer.Consumer) *Server {
	p := logformat.Parser{HAProxyLoc: cfg.HAProxyLoc}
	return NewEventServer(cfg, func(events []Event) {
		for _, ev := range events {
			_ = next.Consume(context.Background(), Input(p, ev))
		}
	})
}

// NewEventServer returns a Server that calls handle with the events of
// every request as they came, in the order they arrived on a connection:
// NewServer's reader, before the events are read as records. It is for
// checking what a Fluent sender sends (the sidecar's tests); the collector
// takes NewServer. handle is called from one
// goroutine per connection, so it must be safe for concurrent use; it
// owns the slice it is given. An ack is written only after handle
// returns. Events whose time was nil or 0 get the time of their arrival.
func NewEventServer(cfg ServerConfig, handle func([]Event)) *Server {
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.MaxConnections <= 0 {
		cfg.MaxConnections = DefaultMaxConnections
	}
	if cfg.FirstByteTimeout <= 0 {
		cfg.FirstByteTimeout = DefaultFirstByteTimeout
	}
	cfg.FirstByteTimeout = min(cfg.FirstByteTimeout, cfg.IdleTimeout)
	cfg.Limits = cfg.Limits.withDefaults()
	if handle == nil {
		handle = func([]Event) {}
	}
	return &Server{cfg: cfg, handle: handle, conns: map[net.Conn]*connState{}, quit: make(chan struct{})}
}

// Start listens on cfg.Listen and serves connections in the background
// until Shutdown. ctx bounds the listen call only.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil || s.closing {
		return errors.New("forward: server already started")
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("forward: listen on %q: %w", s.cfg.Listen, err)
	}
	s.ln = ln
	s.wg.Add(1)
	go s.serve(ln)
	return nil
}

// Addr returns the listening address, or nil before Start.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	return Stats{
		AcceptedEvents:      s.acceptedEvents.Load(),
		AcceptedRequests:    s.acceptedRequests.Load(),
		RejectedRequests:    s.rejected.Load(),
		Acks:                s.acks.Load(),
		RefusedConnections:  s.refused.Load(),
		EvictedConnections:  s.evicted.Load(),
		TimedOutConnections: s.timedOut.Load(),
		OpenConnections:     s.open.Load(),
		Pauses:              s.pauses.Load(),
	}
}

// Shutdown stops accepting connections, lets every connection finish the
// request it is handling (and write its ack), then closes it. When ctx
// ends first, the remaining connections are closed at once and ctx's
// error is returned.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if !s.closing {
		close(s.quit)
	}
	s.closing = true
	var err error
	if s.ln != nil {
		if cerr := s.ln.Close(); cerr != nil && !errors.Is(cerr, net.ErrClosed) {
			err = fmt.Errorf("forward: close listener: %w", cerr)
		}
	}
	// Wake every reader; a connection busy in handle finishes it first.
	now := time.Now()
	for c := range s.conns {
		_ = c.SetReadDeadline(now)
	}
	s.mu.Unlock()

	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return err
	case <-ctx.Done():
		s.mu.Lock()
		for c := range s.conns {
			_ = c.Close()
		}
		s.mu.Unlock()
		return fmt.Errorf("forward: shutdown: %w", ctx.Err())
	}
}

func (s *Server) serve(ln net.Listener) {
	defer s.wg.Done()
	backoff := 5 * time.Millisecond
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || s.isClosing() {
				return
			}
			// Out of file descriptors and the like: wait, then retry.
			time.Sleep(backoff)
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 5 * time.Millisecond
		st, evicted, refused := s.track(c)
		if evicted != nil {
			_ = evicted.Close()
			s.closed(ReasonEvicted)
		}
		if st == nil {
			_ = c.Close()
			if refused {
				s.closed(ReasonConnLimit)
			}
			continue
		}
		go s.serveConn(c, st)
	}
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// connState is what the server knows of one connection; its fields are
// guarded by Server.mu.
type connState struct {
	accepted time.Time
	spoke    bool // a byte has arrived
	evicted  bool
}

// closed counts a connection the server refused or closed.
func (s *Server) closed(reason string) {
	switch reason {
	case ReasonConnLimit:
		s.refused.Add(1)
	case ReasonEvicted:
		s.evicted.Add(1)
	case ReasonIdleTimeout, ReasonReadTimeout:
		s.timedOut.Add(1)
	}
	if s.cfg.OnConnClosed != nil {
		s.cfg.OnConnClosed(reason)
	}
}

// track registers c with its first-byte deadline and returns its state;
// nil when the server is closing or full (refused set then). When full,
// the oldest connection that has sent nothing is unregistered and
// returned as evicted for the caller to close.
func (s *Server) track(c net.Conn) (st *connState, evicted net.Conn, refused bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return nil, nil, false
	}
	if len(s.conns) >= s.cfg.MaxConnections {
		var oldest *connState
		for oc, ost := range s.conns {
			if !ost.spoke && (oldest == nil || ost.accepted.Before(oldest.accepted)) {
				evicted, oldest = oc, ost
			}
		}
		if oldest == nil {
			return nil, nil, true
		}
		// Its goroutine sees the flag or a failed read and untracks it
		// (wg and the open count).
		oldest.evicted = true
		delete(s.conns, evicted)
	}
	now := time.Now()
	st = &connState{accepted: now}
	_ = c.SetReadDeadline(now.Add(s.cfg.FirstByteTimeout))
	s.conns[c] = st
	s.open.Add(1)
	s.wg.Add(1)
	return st, evicted, false
}

// spoke records the first byte of c and gives it the read deadline of a
// request, unless the server is closing.
func (s *Server) spoke(c net.Conn, st *connState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st.spoke = true
	if !s.closing {
		_ = c.SetReadDeadline(time.Now().Add(s.cfg.IdleTimeout))
	}
}

func (s *Server) untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.open.Add(-1)
	_ = c.Close()
	s.wg.Done()
}

// armRead sets the read deadline for the next request unless the server
// is closing; under the lock so Shutdown's wake-up cannot be overwritten.
// The first request keeps the first-byte deadline set by track.
func (s *Server) armRead(c net.Conn, st *connState) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing || st.evicted {
		return false
	}
	if st.spoke {
		_ = c.SetReadDeadline(time.Now().Add(s.cfg.IdleTimeout))
	}
	return true
}

func (s *Server) serveConn(c net.Conn, st *connState) {
	defer s.untrack(c)
	cr := &connReader{c: c, onFirst: func() { s.spoke(c, st) }}
	if s.cfg.Refuse != nil {
		cr.wait = func() error { return s.pause(c, st) }
	}
	r := msgp.NewReaderSize(cr, 64<<10)
	var ack []byte
	for s.armRead(c, st) {
		before, buffered := cr.n, r.Buffered()
		events, chunk, err := s.cfg.Limits.Decode(r)
		if err != nil {
			// A failed read of the connection (peer gone, idle timeout,
			// shutdown) is no rejection of the data.
			if err == io.EOF || cr.err != nil || s.isClosing() {
				var ne net.Error
				if errors.As(cr.err, &ne) && ne.Timeout() && !s.isClosing() {
					if cr.n == before && buffered == 0 {
						s.closed(ReasonIdleTimeout)
					} else {
						s.closed(ReasonReadTimeout)
					}
				}
				return
			}
			s.rejected.Add(1)
			if s.cfg.OnReject != nil {
				s.cfg.OnReject(c.RemoteAddr(), err)
			}
			return
		}
		s.acceptedRequests.Add(1)
		if len(events) > 0 {
			now := time.Now().UTC()
			for i := range events {
				if events[i].Time.IsZero() {
					events[i].Time = now
				}
			}
			s.acceptedEvents.Add(uint64(len(events)))
			s.handle(events)
		}
		if chunk != "" {
			ack = appendAck(ack[:0], chunk)
			_ = c.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
			if _, err := c.Write(ack); err != nil {
				return
			}
			s.acks.Add(1)
		}
	}
}

// errShutdown ends the read of a connection paused when Shutdown came.
var errShutdown = errors.New("forward: server shutting down")

// pause holds a read from c while cfg.Refuse reports true, then gives c
// its deadline afresh: the first byte's, or a request's. It returns
// errShutdown when Shutdown comes first.
func (s *Server) pause(c net.Conn, st *connState) error {
	if !s.cfg.Refuse() {
		return nil
	}
	s.pauses.Add(1)
	if s.cfg.OnPause != nil {
		s.cfg.OnPause(c.RemoteAddr())
	}
	t := time.NewTicker(PauseCheck)
	defer t.Stop()
	for s.cfg.Refuse() {
		select {
		case <-s.quit:
			return errShutdown
		case <-t.C:
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closing:
		return errShutdown
	case st.spoke:
		_ = c.SetReadDeadline(time.Now().Add(s.cfg.IdleTimeout))
	default:
		_ = c.SetReadDeadline(time.Now().Add(s.cfg.FirstByteTimeout))
	}
	return nil
}

// appendAck appends the msgpack ack {"ack": chunk}.
func appendAck(b []byte, chunk string) []byte {
	b = msgp.AppendMapHeader(b, 1)
	b = msgp.AppendString(b, "ack")
	return msgp.AppendString(b, chunk)
}

// connReader remembers the connection's read error, which tells a broken
// connection from a malformed request.
type connReader struct {
	c       net.Conn
	err     error
	n       int64        // bytes read
	onFirst func()       // called once, when the first bytes arrive
	wait    func() error // if set, called before every read: the pause
}

func (r *connReader) Read(p []byte) (int, error) {
	if r.wait != nil {
		if err := r.wait(); err != nil {
			r.err = err
			return 0, err
		}
	}
	n, err := r.c.Read(p)
	if err != nil {
		r.err = err
	}
	if n > 0 && r.n == 0 && r.onFirst != nil {
		r.onFirst()
	}
	r.n += int64(n)
	return n, err
}
