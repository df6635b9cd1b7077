package httpegress

import (
	"context"
	"net"
	"net/http"
	"sync"

	"github.com/hopscope/hopscope/sidecar/backend"
)

// ServeConn serves one connection the app opened to the listener, with
// net/http's HTTP/1.1 server (keep-alive, pipelining, 100-continue), and
// returns when the connection is done. ctx ending closes it.
func (p *Proxy) ServeConn(ctx context.Context, client net.Conn) {
	decoded := p.b.Connected(backend.StateDecoded)
	defer decoded()
	tc := &trackedConn{Conn: client, ctx: ctx, decoded: decoded, done: make(chan struct{})}
	stop := context.AfterFunc(ctx, func() { client.Close() })
	defer stop()
	p.srv.Serve(&oneConnListener{c: tc})
}

// trackedConn is a connection served by ServeConn: it says when net/http
// (or the tunnel that took it over) is done with it.
type trackedConn struct {
	net.Conn
	ctx     context.Context // ServeConn's: ends at sidecar shutdown
	decoded func()          // ends the connection's count as decoded

	once sync.Once
	done chan struct{}
}

// CloseWrite half-closes, so tunnels keep their half-close semantics.
func (c *trackedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Conn.Close()
}

func (c *trackedConn) finish() { c.once.Do(func() { close(c.done) }) }

// connState ends a served connection when net/http closed it; a hijacked
// one ends when its new owner releases it.
func connState(c net.Conn, s http.ConnState) {
	if s == http.StateClosed {
		if tc, ok := c.(*trackedConn); ok {
			tc.finish()
		}
	}
}

// release ends a hijacked connection (after closing it).
func release(c net.Conn) {
	if tc, ok := c.(*trackedConn); ok {
		tc.finish()
	}
}

// connContext is the context that ends a hijacked connection's relay: the
// sidecar's shutdown when served by ServeConn, else fallback.
func connContext(c net.Conn, fallback context.Context) context.Context {
	if tc, ok := c.(*trackedConn); ok {
		return tc.ctx
	}
	return fallback
}

// oneConnListener hands net/http's Serve one connection, then blocks until
// that connection is done.
type oneConnListener struct {
	c        *trackedConn
	accepted bool
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	if !l.accepted {
		l.accepted = true
		return l.c, nil
	}
	<-l.c.done
	return nil, net.ErrClosed
}

func (l *oneConnListener) Close() error   { return nil }
func (l *oneConnListener) Addr() net.Addr { return l.c.LocalAddr() }
