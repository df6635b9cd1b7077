package redisproxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/hopscope/hopscope/sidecar/backend"
	"go.opentelemetry.io/otel/trace"
)

// Proxy is the backend.Handler of kind redis.
type Proxy struct {
	b       *backend.Backend
	tls     *tls.Config // to the target, in tls mode originate (tls.go)
	cluster *cluster    // nil unless the backend has cluster: (cluster.go)
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
	tc, err := clientTLS(b.Config)
	if err != nil {
		return nil, err
	}
	p := &Proxy{b: b, tls: tc}
	if b.Config.Cluster != nil {
		p.cluster = newCluster(p, *b.Config.Cluster)
	}
	return p, nil
}

// ServeConn relays one app connection to its own connection to the
// target (in TLS with tls mode originate), timing each command, until both directions end or ctx does.
func (p *Proxy) ServeConn(ctx context.Context, client net.Conn) {
	p.serve(ctx, client, p.b.Config.Target)
}

// serve relays one app connection to target: the backend's, or a cluster
// node's.
func (p *Proxy) serve(ctx context.Context, client net.Conn, target string) {
	start := time.Now()
	up, failed := p.dial(ctx, target)
	if up == nil {
		p.b.Begin(start, trace.SpanContext{}).Finish(time.Now(), backend.Op{Name: "connect", Error: failed})
		return
	}
	defer up.Close()
	stop := context.AfterFunc(ctx, func() { client.Close(); up.Close() })
	defer stop()

	s := newSession(p.b)
	defer s.close()
	var replies io.Reader = up
	if p.cluster != nil {
		// The node addresses in replies are rewritten on their way.
		host, _, _ := net.SplitHostPort(target)
		s.topo = &topoQueue{}
		pr, pw := io.Pipe()
		rw := &rewriter{b: p.b, local: p.cluster.local, host: host, topo: s.topo}
		rwDone := make(chan struct{})
		go func() { defer close(rwDone); rw.run(up, pw) }()
		defer func() { up.Close(); <-rwDone }()
		defer pr.Close()
		replies = pr
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.runReplies(client, replies)
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
