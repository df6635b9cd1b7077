package redisproxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/hopscope/hopscope/sidecar/backend"
	"go.opentelemetry.io/otel/trace"
)

// Proxy is the backend.Handler of kind redis.
type Proxy struct {
	b *backend.Backend
}

// New returns the Redis proxy of one configured backend: b.Config.Target
// is the Redis server's host:port.
func New(b *backend.Backend) (backend.Handler, error) {
	if b == nil {
		return nil, errors.New("redisproxy: no backend")
	}
	if b.Config.Kind != backend.KindRedis {
		return nil, fmt.Errorf("redisproxy: backend %s is of kind %q, not %s", b.Config.Name, b.Config.Kind, backend.KindRedis)
	}
	if _, port, err := net.SplitHostPort(b.Config.Target); err != nil || port == "" {
		return nil, fmt.Errorf("redisproxy: backend %s: target must be host:port, got %q", b.Config.Name, b.Config.Target)
	}
	return &Proxy{b: b}, nil
}

// ServeConn relays one app connection to its own connection to the
// target, timing each command, until both directions end or ctx does.
func (p *Proxy) ServeConn(ctx context.Context, client net.Conn) {
	start := time.Now()
	up, err := backend.Dial(ctx, p.b.Config.Target)
	if err != nil {
		p.b.Begin(start, trace.SpanContext{}).Finish(time.Now(), backend.Op{Name: "connect", Error: "connect"})
		return
	}
	defer up.Close()
	stop := context.AfterFunc(ctx, func() { client.Close(); up.Close() })
	defer stop()

	s := newSession(p.b)
	defer s.close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.runReplies(client, up)
		closeWrite(client)
	}()
	s.runCommands(up, client)
	closeWrite(up)
	<-done
}

// closeWrite half-closes c when it can, else closes it.
func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
		return
	}
	c.Close()
}
