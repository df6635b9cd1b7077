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
)

// Server defaults.
const (
	DefaultIdleTimeout    = 2 * time.Minute
	DefaultWriteTimeout   = 10 * time.Second
	DefaultMaxConnections = 1024
)

// ServerConfig configures a Server. Zero fields take their defaults.
type ServerConfig struct {
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
	MaxConnections int
	// OnReject, if set, is called with the peer address and the error of
	// every rejected (malformed or oversized) request, from the
	// connection's goroutine, before the connection is closed.
	OnReject func(remote net.Addr, err error)
}

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
	// OpenConnections is the number of connections open now.
	OpenConnections int64
}

// Server receives Fluent forward traffic over TCP.
type Server struct {
	cfg    ServerConfig
	handle func([]Event)

	mu      sync.Mutex
	ln      net.Listener
	conns   map[net.Conn]struct{}
	closing bool
	wg      sync.WaitGroup

	acceptedEvents   atomic.Uint64
	acceptedRequests atomic.Uint64
	rejected         atomic.Uint64
	acks             atomic.Uint64
	refused          atomic.Uint64
	open             atomic.Int64
}

// NewServer returns a Server that calls handle with the events of every
// request, in the order they arrived on a connection. handle is called
// from one goroutine per connection, so it must be safe for concurrent
// use; it owns the slice it is given. An ack is written only after handle
// returns. Events whose time was nil or 0 get the time of their arrival.
func NewServer(cfg ServerConfig, handle func([]Event)) *Server {
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.MaxConnections <= 0 {
		cfg.MaxConnections = DefaultMaxConnections
	}
	cfg.Limits = cfg.Limits.withDefaults()
	if handle == nil {
		handle = func([]Event) {}
	}
	return &Server{cfg: cfg, handle: handle, conns: map[net.Conn]struct{}{}}
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
		AcceptedEvents:     s.acceptedEvents.Load(),
		AcceptedRequests:   s.acceptedRequests.Load(),
		RejectedRequests:   s.rejected.Load(),
		Acks:               s.acks.Load(),
		RefusedConnections: s.refused.Load(),
		OpenConnections:    s.open.Load(),
	}
}

// Shutdown stops accepting connections, lets every connection finish the
// request it is handling (and write its ack), then closes it. When ctx
// ends first, the remaining connections are closed at once and ctx's
// error is returned.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
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
		if !s.track(c) {
			_ = c.Close()
			continue
		}
		go s.serveConn(c)
	}
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// track registers c, or reports false when the server is closing or full.
func (s *Server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	if len(s.conns) >= s.cfg.MaxConnections {
		s.refused.Add(1)
		return false
	}
	s.conns[c] = struct{}{}
	s.open.Add(1)
	s.wg.Add(1)
	return true
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
func (s *Server) armRead(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	_ = c.SetReadDeadline(time.Now().Add(s.cfg.IdleTimeout))
	return true
}

func (s *Server) serveConn(c net.Conn) {
	defer s.untrack(c)
	cr := &connReader{c: c}
	r := msgp.NewReaderSize(cr, 64<<10)
	var ack []byte
	for s.armRead(c) {
		events, chunk, err := s.cfg.Limits.Decode(r)
		if err != nil {
			// A failed read of the connection (peer gone, idle timeout,
			// shutdown) is no rejection of the data.
			if err == io.EOF || cr.err != nil || s.isClosing() {
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

// appendAck appends the msgpack ack {"ack": chunk}.
func appendAck(b []byte, chunk string) []byte {
	b = msgp.AppendMapHeader(b, 1)
	b = msgp.AppendString(b, "ack")
	return msgp.AppendString(b, chunk)
}

// connReader remembers the connection's read error, which tells a broken
// connection from a malformed request.
type connReader struct {
	c   net.Conn
	err error
}

func (r *connReader) Read(p []byte) (int, error) {
	n, err := r.c.Read(p)
	if err != nil {
		r.err = err
	}
	return n, err
}
