package sidecar

import (
	"context"
	"fmt"
	"io"
	"net"

	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.uber.org/zap"

	"github.com/hopscope/hopscope/sidecar/backend"
	"github.com/hopscope/hopscope/sidecar/backend/httpegress"
	"github.com/hopscope/hopscope/sidecar/backend/pgproxy"
	"github.com/hopscope/hopscope/sidecar/backend/redisproxy"
)

// backends runs the backend protocol proxies of the `backends:` list and
// the egress forward proxy.
type backends struct {
	tracker *backend.Tracker // nil when there are none
	servers []*backend.Server
	closers []io.Closer
	log     *zap.Logger
}

// handlerFor builds the proxy of one backend's kind.
var handlerFor = map[string]func(b *backend.Backend, log *zap.Logger) (backend.Handler, error){
	backend.KindTCP:      func(b *backend.Backend, _ *zap.Logger) (backend.Handler, error) { return backend.TCPRelay{B: b}, nil },
	backend.KindPostgres: func(b *backend.Backend, _ *zap.Logger) (backend.Handler, error) { return pgproxy.New(b) },
	backend.KindRedis:    func(b *backend.Backend, _ *zap.Logger) (backend.Handler, error) { return redisproxy.New(b) },
	backend.KindHTTP: func(b *backend.Backend, log *zap.Logger) (backend.Handler, error) {
		return httpegress.NewBackend(b, httpegress.Options{Logger: log})
	},
}

// newBackends builds the proxies; with none configured it returns an
// empty set that costs the inbound path nothing.
func newBackends(cfg *Config, tp *sdktrace.TracerProvider, reg prometheus.Registerer, log *zap.Logger) (*backends, error) {
	bs := &backends{log: log}
	if len(cfg.Backends) == 0 && cfg.EgressListen == "" {
		return bs, nil
	}
	bs.tracker = backend.NewTracker()
	opts := backend.Options{Tracker: bs.tracker, Registerer: reg, AmbiguousSpansPerSecond: backend.DefaultAmbiguousSpansPerSecond}
	if cfg.OTLPEndpoint != "" {
		// Spans only when they go somewhere: without an endpoint a call
		// costs one histogram observation.
		opts.Tracer = tp.Tracer("github.com/hopscope/hopscope/sidecar/backend")
	}
	rec, err := backend.NewRecorder(opts)
	if err != nil {
		return nil, err
	}
	for i, c := range cfg.Backends {
		mk, ok := handlerFor[c.Kind]
		if !ok {
			return nil, fmt.Errorf("backends[%d].kind: %s proxies are not built into this sidecar", i, c.Kind)
		}
		h, err := mk(rec.Backend(c), log)
		if err != nil {
			return nil, fmt.Errorf("backends[%d]: %w", i, err)
		}
		if c.TLS.InsecureSkipVerify {
			log.Warn("backend TLS verifies no certificate: the target is not authenticated (tls.insecureSkipVerify)",
				zap.String("backend", c.Name), zap.String("key", fmt.Sprintf("backends[%d].tls.insecureSkipVerify", i)))
		}
		bs.add(c, h)
	}
	if cfg.EgressListen != "" {
		c := backend.Config{Name: EgressBackend, Kind: backend.KindHTTP, Listen: cfg.EgressListen}
		fwd, err := httpegress.NewForward(httpegress.Options{Egress: rec.Backend(c), Logger: log})
		if err != nil {
			return nil, fmt.Errorf("--egress-listen: %w", err)
		}
		bs.add(c, fwd)
	}
	return bs, nil
}

// EgressBackend names the forward proxy's calls (label backend).
const EgressBackend = "egress"

func (bs *backends) add(c backend.Config, h backend.Handler) {
	bs.servers = append(bs.servers, backend.NewServer(c, h, bs.log))
	if cl, ok := h.(io.Closer); ok {
		bs.closers = append(bs.closers, cl)
	}
}

// start listens on every backend's address.
func (bs *backends) start() error {
	for i, s := range bs.servers {
		if err := s.Start(); err != nil {
			for _, started := range bs.servers[:i] {
				started.Shutdown(context.Background())
			}
			return err
		}
	}
	return nil
}

// shutdown stops the proxies, letting open calls finish within ctx.
func (bs *backends) shutdown(ctx context.Context) {
	for _, s := range bs.servers {
		_ = s.Shutdown(ctx)
	}
	for _, c := range bs.closers {
		_ = c.Close()
	}
}

// BackendAddrs are the backend proxies' listening addresses, by name, once
// started (tests and logs).
func (s *Sidecar) BackendAddrs() map[string]net.Addr {
	out := map[string]net.Addr{}
	for _, srv := range s.backends.servers {
		out[srv.Name()] = srv.Addr()
	}
	return out
}
