package httpegress

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/hopscope/hopscope/sidecar/backend"
	"go.opentelemetry.io/otel/attribute"
	"go.uber.org/zap"
)

// Options configure a Proxy.
type Options struct {
	// RootCAs verifies the targets' certificates (tls: originate, and
	// https:// absolute-form requests to the forward proxy); nil uses the
	// system roots.
	RootCAs *x509.CertPool
	// Egress records the forward proxy's calls (NewForward only): the
	// synthetic backend "egress" of kind http. Its Config's policies
	// (timeout, retries, circuit breaker, rate limit) apply to every call
	// through the forward proxy, whatever its destination.
	Egress *backend.Backend
	// Logger receives what the proxy cannot tell the app; nil logs nothing.
	Logger *zap.Logger
}

// Proxy is an HTTP egress proxy: the listener of one `kind: http` backend
// (NewBackend) or the forward proxy (NewForward). It is a backend.Handler,
// to serve the connections a backend.Server accepts, and an http.Handler.
type Proxy struct {
	b       *backend.Backend
	forward bool
	target  *url.URL // kind http: the target's base URL
	log     *zap.Logger

	transport *http.Transport
	srv       *http.Server
	// dial and lookup reach the network; tests replace them.
	dial   func(ctx context.Context, network, addr string) (net.Conn, error)
	lookup func(ctx context.Context, host string) ([]net.IPAddr, error)

	timeout time.Duration
	retry   *backend.RetryPolicy
	budget  *retryBudget
	breaker *breaker
	limiter *limiter
	replies replies

	exchanges sync.Pool
}

// A Proxy serves the connections of a backend.Server, or requests of an
// http.Server.
var (
	_ backend.Handler = (*Proxy)(nil)
	_ http.Handler    = (*Proxy)(nil)
)

// NewBackend makes the proxy of a `kind: http` backend: the app sends
// plain HTTP/1.1 to b.Config.Listen, the proxy forwards each request to
// b.Config.Target (with TLS when the target is https:// and tls:
// originate) and records it on b.
func NewBackend(b *backend.Backend, opts Options) (*Proxy, error) {
	if b == nil {
		return nil, errors.New("httpegress: no backend")
	}
	cfg := b.Config
	if cfg.Kind != backend.KindHTTP {
		return nil, fmt.Errorf("httpegress: backend %s is of kind %q, not http", cfg.Name, cfg.Kind)
	}
	u, err := url.Parse(cfg.Target)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") || (u.Path != "" && u.Path != "/") {
		return nil, fmt.Errorf("httpegress: backend %s: target must be http://host[:port] or https://host[:port], got %q", cfg.Name, cfg.Target)
	}
	if (u.Scheme == "https") != (cfg.TLS.Mode == backend.TLSOriginate) {
		return nil, fmt.Errorf("httpegress: backend %s: an https:// target needs tls: originate, and originate an https:// target", cfg.Name)
	}
	p := newProxy(b, opts)
	p.target = &url.URL{Scheme: u.Scheme, Host: u.Host}
	return p, nil
}

// NewForward makes the forward proxy for apps that honour HTTP_PROXY and
// HTTPS_PROXY: absolute-form requests (GET http://host/path) are proxied
// and timed like a backend's, CONNECT host:port tunnels are relayed opaque
// and timed as one call. Everything is recorded on opts.Egress.
func NewForward(opts Options) (*Proxy, error) {
	if opts.Egress == nil {
		return nil, errors.New("httpegress: the forward proxy needs Options.Egress, the backend its calls are recorded on")
	}
	if k := opts.Egress.Config.Kind; k != backend.KindHTTP {
		return nil, fmt.Errorf("httpegress: the egress backend must be of kind http, got %q", k)
	}
	p := newProxy(opts.Egress, opts)
	p.forward = true
	return p, nil
}

func newProxy(b *backend.Backend, opts Options) *Proxy {
	cfg := b.Config
	p := &Proxy{b: b, log: opts.Logger, timeout: cfg.Timeout, retry: cfg.Retries}
	if p.log == nil {
		p.log = zap.NewNop()
	}
	p.log = p.log.With(zap.String("backend", cfg.Name))
	dialer := &net.Dialer{Timeout: backend.DialTimeout, KeepAlive: 30 * time.Second}
	p.dial = dialer.DialContext
	p.lookup = net.DefaultResolver.LookupIPAddr
	if r := cfg.Retries; r != nil && r.Attempts > 1 {
		p.budget = &retryBudget{ratio: r.Budget}
	} else {
		p.retry = nil
	}
	if c := cfg.CircuitBreaker; c != nil {
		p.breaker = newBreaker(max(c.Failures, 1), c.OpenFor, b.SetBreakerState)
	}
	if l := cfg.RateLimit; l != nil {
		p.limiter = newLimiter(l.PerSecond, max(l.Burst, 1))
	}
	p.replies = newReplies(cfg.Name, p)
	p.transport = &http.Transport{
		Proxy: nil, // never the sidecar's own HTTP_PROXY: that would be this proxy
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return p.dial(ctx, network, addr)
		},
		TLSClientConfig:        &tls.Config{RootCAs: opts.RootCAs, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:      true, // to TLS targets that offer it
		MaxIdleConns:           512,
		MaxIdleConnsPerHost:    64,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    backend.DialTimeout,
		ExpectContinueTimeout:  time.Second,
		DisableCompression:     true, // the bytes pass as the app and the target wrote them
		MaxResponseHeaderBytes: 1 << 20,
		WriteBufferSize:        16 << 10,
		ReadBufferSize:         16 << 10,
	}
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true) // the app speaks HTTP/1.1 to the sidecar
	errLog := log.New(io.Discard, "", 0)
	if opts.Logger != nil {
		errLog, _ = zap.NewStdLogAt(p.log, zap.DebugLevel)
	}
	p.srv = &http.Server{
		Handler:                      p,
		Protocols:                    protocols,
		DisableGeneralOptionsHandler: true, // OPTIONS * is the target's to answer
		ReadHeaderTimeout:            time.Minute,
		MaxHeaderBytes:               1 << 20,
		ErrorLog:                     errLog,
		ConnState:                    connState,
	}
	p.exchanges.New = func() any {
		ex := &exchange{buf: make([]byte, 32<<10), attrs: make([]attribute.KeyValue, 0, 16)}
		ex.timing.init()
		return ex
	}
	return p
}

// Backend is the backend the proxy records on.
func (p *Proxy) Backend() *backend.Backend { return p.b }

// Close closes the idle connections to the targets. Connections being
// served end with their ServeConn context.
func (p *Proxy) Close() error {
	p.transport.CloseIdleConnections()
	return nil
}

// exchange is the pooled per-call state.
type exchange struct {
	timing timing
	attrs  []attribute.KeyValue
	buf    []byte
}

func (p *Proxy) getExchange() *exchange {
	ex := p.exchanges.Get().(*exchange)
	ex.timing.reset()
	return ex
}

func (p *Proxy) putExchange(ex *exchange) {
	if !ex.timing.quiet() {
		return // a dial of this call may still report: leave it to the GC
	}
	clear(ex.attrs[:cap(ex.attrs)])
	ex.attrs = ex.attrs[:0]
	p.exchanges.Put(ex)
}

// deadline bounds a call until its response headers (Config.Timeout).
type deadline struct {
	timer  *time.Timer
	cancel context.CancelFunc
	fired  chan struct{}
}

func withDeadline(parent context.Context, d time.Duration) (context.Context, *deadline) {
	ctx, cancel := context.WithCancel(parent)
	dl := &deadline{cancel: cancel, fired: make(chan struct{})}
	dl.timer = time.AfterFunc(d, dl.fire)
	return ctx, dl
}

func (dl *deadline) fire() { close(dl.fired); dl.cancel() }

// stop ends the deadline when the headers arrived; false means it fired
// first.
func (dl *deadline) stop() bool { return dl == nil || dl.timer.Stop() }

// expired is whether the deadline fired.
func (dl *deadline) expired() bool {
	if dl == nil {
		return false
	}
	select {
	case <-dl.fired:
		return true
	default:
		return false
	}
}

// end releases the deadline's context.
func (dl *deadline) end() {
	if dl != nil {
		dl.timer.Stop()
		dl.cancel()
	}
}
