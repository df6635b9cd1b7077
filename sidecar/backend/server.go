package backend

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/hopscope/hopscope/internal/contract"
)

// Handler serves one accepted client connection of a backend and returns
// when it is done. ctx ends when the sidecar shuts down: the handler then
// closes both sides.
type Handler interface {
	ServeConn(ctx context.Context, client net.Conn)
}

// Server accepts the app's connections on a backend's listen address and
// runs the Handler for each.
type Server struct {
	cfg Config
	h   Handler
	log *zap.Logger

	ln     net.Listener
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
}

// NewServer prepares a server for cfg; Start listens.
func NewServer(cfg Config, h Handler, log *zap.Logger) *Server {
	if log == nil {
		log = zap.NewNop()
	}
	return &Server{cfg: cfg, h: h, log: log.With(zap.String("backend", cfg.Name)), conns: map[net.Conn]struct{}{}}
}

// Start listens on the backend's address and serves.
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("backend %s: listening on %s: %w", s.cfg.Name, s.cfg.Listen, err)
	}
	s.ln = ln
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.wg.Add(1)
	go s.accept()
	return nil
}

// Addr is the listening address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Name is the backend's name.
func (s *Server) Name() string { return s.cfg.Name }

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				s.log.Warn("accept", zap.Error(err))
			}
			return
		}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() {
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				c.Close()
			}()
			s.h.ServeConn(s.ctx, c)
		}()
	}
}

// Shutdown stops accepting, lets open connections finish until ctx ends,
// then closes them.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.ln == nil {
		return nil
	}
	s.ln.Close()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		s.cancel()
		return nil
	case <-ctx.Done():
	}
	s.cancel()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	<-done
	return nil
}

// DialTimeout bounds connecting to a backend.
const DialTimeout = 10 * time.Second

// Dial connects to a backend's target (host:port).
func Dial(ctx context.Context, target string) (net.Conn, error) {
	d := net.Dialer{Timeout: DialTimeout, KeepAlive: 30 * time.Second}
	return d.DialContext(ctx, "tcp", target)
}

// Pipe copies both ways between a and b until both directions end,
// closing the write side of each as its source ends; it returns the bytes
// copied from a to b and from b to a. ctx ending closes both.
func Pipe(ctx context.Context, a, b net.Conn) (aToB, bToA int64) {
	stop := context.AfterFunc(ctx, func() { a.Close(); b.Close() })
	defer stop()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		bToA, _ = io.Copy(a, b)
		closeWrite(a)
	}()
	aToB, _ = io.Copy(b, a)
	closeWrite(b)
	wg.Wait()
	return aToB, bToA
}

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
		return
	}
	c.Close()
}

// TCPRelay is the Handler of kind tcp: bytes relayed unchanged, each
// connection one span (its life, bytes each way) attributed at connect.
type TCPRelay struct {
	B *Backend
}

// ServeConn relays one connection.
func (t TCPRelay) ServeConn(ctx context.Context, client net.Conn) {
	start := time.Now()
	call := t.B.Begin(start, trace.SpanContext{}) // a TCP stream carries no trace context
	up, err := Dial(ctx, t.B.Config.Target)
	if err != nil {
		call.Finish(time.Now(), Op{Name: "connect", Error: "connect"})
		return
	}
	defer up.Close()
	closed := t.B.Connected(StateRelayed)
	defer closed()
	sent, received := Pipe(ctx, client, up)
	call.Finish(time.Now(), Op{Name: "connection", Attrs: []attribute.KeyValue{
		attribute.Int64(contract.AttrNetworkIOSentBytes, sent), attribute.Int64(contract.AttrNetworkIOReceivedBytes, received)}})
}
