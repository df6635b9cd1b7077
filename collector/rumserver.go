package collector

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// Bounds of the public RUM endpoint, which faces the internet (a beacon is
// a few KiB sent at once; nothing legitimate needs longer).
const (
	// RUMReadHeaderTimeout and RUMReadTimeout bound reading a request's
	// headers and the whole request, body included: a client that sends
	// half a body and stalls is cut off.
	RUMReadHeaderTimeout = 5 * time.Second
	RUMReadTimeout       = 10 * time.Second
	// RUMWriteTimeout bounds a request from its headers to the end of the
	// response.
	RUMWriteTimeout = 15 * time.Second
	// RUMIdleTimeout closes a kept-alive connection with no request.
	RUMIdleTimeout = 30 * time.Second
	// RUMMaxConnections bounds the connections served at once; more wait
	// in the listen backlog until one closes.
	RUMMaxConnections = 1024
)

// rumServer serves the public RUM endpoint on its own listener.
type rumServer struct {
	addr     string
	srv      *http.Server
	maxConns int
	ln       net.Listener
}

func newRUMServer(addr string, h http.Handler) *rumServer {
	return &rumServer{addr: addr, maxConns: RUMMaxConnections, srv: &http.Server{Handler: h,
		ReadHeaderTimeout: RUMReadHeaderTimeout, ReadTimeout: RUMReadTimeout,
		WriteTimeout: RUMWriteTimeout, IdleTimeout: RUMIdleTimeout, MaxHeaderBytes: 16 << 10}}
}

func (r *rumServer) Start(context.Context) error {
	ln, err := net.Listen("tcp", r.addr)
	if err != nil {
		return fmt.Errorf("--rum-listen %s: %w", r.addr, err)
	}
	r.ln = ln
	go func() { _ = r.srv.Serve(limitListener(ln, r.maxConns)) }()
	return nil
}

func (r *rumServer) Shutdown(ctx context.Context) error { return r.srv.Shutdown(ctx) }

// RUMAddr is the public RUM endpoint's address (nil when off).
func (c *Collector) RUMAddr() net.Addr {
	if c.rum == nil || c.rum.ln == nil {
		return nil
	}
	return c.rum.ln.Addr()
}

// limitListener accepts at most n connections at once: Accept waits for
// one of them to close (golang.org/x/net/netutil.LimitListener, which this
// module does not depend on directly).
func limitListener(l net.Listener, n int) net.Listener {
	return &limitedListener{Listener: l, sem: make(chan struct{}, n), done: make(chan struct{})}
}

type limitedListener struct {
	net.Listener
	sem       chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

func (l *limitedListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitedConn{Conn: c, release: func() { <-l.sem }}, nil
}

func (l *limitedListener) Close() error {
	err := l.Listener.Close()
	l.closeOnce.Do(func() { close(l.done) })
	return err
}

type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
