package sidecar

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.uber.org/zap"

	"github.com/hopscope/hopscope/internal/contract"
	"github.com/hopscope/hopscope/sidecar/accesslog"
	"github.com/hopscope/hopscope/sidecar/propagation"
)

// Options carries what the sidecar gets from its host process rather than
// from configuration.
type Options struct {
	// Registerer receives the sidecar's metrics; Gatherer serves them on
	// /metrics. Both nil: a private registry is used.
	Registerer prometheus.Registerer
	Gatherer   prometheus.Gatherer
	// AccessLogWriter receives the JSON access lines when --access-log is
	// stdout; os.Stdout when nil.
	AccessLogWriter io.Writer
	// Logger receives the sidecar's own diagnostics; nop when nil.
	Logger *zap.Logger

	// spanExporter, when set with --otlp-endpoint, replaces the
	// endpoint's exporter (tests).
	spanExporter sdktrace.SpanExporter
}

// Sidecar is the per-pod proxy with its admin server.
type Sidecar struct {
	cfg   Config
	log   *zap.Logger
	proxy *proxy
	tp    *sdktrace.TracerProvider
	// spanQueue is tp's export queue; nil without --otlp-endpoint.
	spanQueue *queueProcessor
	access    *accesslog.Logger
	metrics   *metrics
	gather    prometheus.Gatherer
	tr        *timedTransport
	// backends are the backend protocol proxies (nil tracker and no
	// servers when none is configured).
	backends *backends

	draining atomic.Bool
	// base is the context of every inbound connection; cut cancels it
	// with errSidecarShutdown when the drain times out.
	base    context.Context
	cut     context.CancelCauseFunc
	server  *http.Server
	admin   *http.Server
	ln, aln net.Listener
	errc    chan error
}

// New builds a sidecar from a validated configuration.
func New(cfg Config, opts Options) (*Sidecar, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.Registerer == nil && opts.Gatherer == nil {
		reg := prometheus.NewRegistry()
		opts.Registerer, opts.Gatherer = reg, reg
	}
	if opts.Registerer == nil || opts.Gatherer == nil {
		return nil, errors.New("sidecar: Options.Registerer and Options.Gatherer go together")
	}
	if opts.AccessLogWriter == nil {
		opts.AccessLogWriter = os.Stdout
	}
	// Every series carries the service name: one value per sidecar, and
	// what dashboards and SLO rules group by (namespace and pod come from
	// the scrape).
	reg := prometheus.WrapRegistererWith(prometheus.Labels{contract.LabelService: cfg.Service}, opts.Registerer)
	m, err := newMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("registering metrics: %w", err)
	}
	target, _ := url.Parse(cfg.Upstream) // checked by Validate
	prop, err := propagation.New(cfg.Propagators)
	if err != nil {
		return nil, fmt.Errorf("--propagators: %w", err)
	}
	res, err := newResource(cfg.Service)
	if err != nil {
		return nil, err
	}
	tp, spanQueue, err := newTracerProviderQueue(&cfg, res, opts.spanExporter, m.dropped.WithLabelValues(SinkOTLP), m.truncated, opts.Logger)
	if err != nil {
		return nil, err
	}
	s := &Sidecar{cfg: cfg, log: opts.Logger, tp: tp, spanQueue: spanQueue, metrics: m, gather: opts.Gatherer, errc: make(chan error, 2)}
	s.base, s.cut = context.WithCancelCause(context.Background())
	if s.backends, err = newBackends(&cfg, tp, reg, opts.Logger); err != nil {
		return nil, err
	}

	alcfg := accesslog.Config{
		FluentAddress:     cfg.FluentAddress,
		FluentTag:         cfg.FluentTag,
		FluentBufferLimit: cfg.FluentBufferLimit,
		FluentBufferBytes: cfg.FluentBufferBytes,
		Logger:            opts.Logger,
		OnDrop: func(sink string, n int) {
			m.dropped.WithLabelValues(sink).Add(float64(n))
		},
	}
	if cfg.AccessLog == "stdout" {
		alcfg.Stdout = opts.AccessLogWriter
	}
	if alcfg.Stdout != nil || alcfg.FluentAddress != "" {
		if s.access, err = accesslog.New(alcfg); err != nil {
			return nil, fmt.Errorf("access log: %w", err)
		}
	}

	// Every telemetry record is sent, queued or dropped: these with
	// hopscope_telemetry_dropped_total account for all of them.
	for _, sink := range []struct {
		name   string
		counts func() (sent, queued float64)
	}{
		{SinkOTLP, func() (float64, float64) { a, b := spanQueue.counts(); return float64(a), float64(b) }},
		{SinkFluent, func() (float64, float64) { a, b := s.access.FluentCounts(); return float64(a), float64(b) }},
	} {
		if err := reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: metricSent, Help: "Telemetry records (spans, log records) delivered to their sink: an OTLP export that succeeded, a Fluent chunk acknowledged.",
			ConstLabels: prometheus.Labels{contract.LabelSink: sink.name},
		}, func() float64 { v, _ := sink.counts(); return v })); err != nil {
			return nil, fmt.Errorf("registering metrics: %w", err)
		}
		if err := reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: metricQueued, Help: "Telemetry records (spans, log records) waiting for their sink: queued, being exported, or sent and awaiting an acknowledgement.",
			ConstLabels: prometheus.Labels{contract.LabelSink: sink.name},
		}, func() float64 { _, v := sink.counts(); return v })); err != nil {
			return nil, fmt.Errorf("registering metrics: %w", err)
		}
	}

	routes := newRouteNamer(cfg.Routes, cfg.MaxRoutes)
	if err := reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: metricRouteOverflow,
		Help: "Requests whose route label became \"other\" because --max-routes distinct routes were taken.",
	}, func() float64 { return float64(routes.known.Refused()) })); err != nil {
		return nil, fmt.Errorf("registering metrics: %w", err)
	}

	s.tr = newTimedTransport(&cfg)
	p := &proxy{
		target:      target,
		prop:        prop,
		tracer:      tp.Tracer("github.com/hopscope/hopscope/sidecar"),
		metrics:     m,
		routes:      routes,
		redactor:    newQueryRedactor(cfg.RedactQueryParams),
		access:      s.access,
		service:     cfg.Service,
		tao:         cfg.TimingAllowOrigin,
		upTimeout:   cfg.UpstreamTimeout,
		bodyTimeout: cfg.RequestBodyTimeout,
		draining:    &s.draining,
		tracker:     s.backends.tracker,

		idFromRequestID: cfg.TraceIDFromRequestID,
	}
	errLog := log.New(zapWriter{opts.Logger}, "", 0)
	p.rp = &httputil.ReverseProxy{
		Rewrite:        p.rewrite,
		Transport:      s.tr,
		ModifyResponse: p.modifyResponse,
		ErrorHandler:   p.errorHandler,
		ErrorLog:       errLog,
		BufferPool:     newBufferPool(),
		// FlushInterval 0: ReverseProxy already flushes text/event-stream
		// and unknown-length (streamed) bodies after every write.
	}
	s.proxy = p

	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true) // h2c prior knowledge: gRPC from the ingress
	s.server = &http.Server{
		Handler:           p,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		Protocols:         protocols,
		ErrorLog:          errLog,
		BaseContext:       func(net.Listener) context.Context { return s.base },
		// The raw head of each HTTP/1.x request is recorded (rawhead.go).
		ConnContext: headConnContext,
		ConnState:   headConnState,
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(opts.Gatherer, promhttp.HandlerOpts{EnableOpenMetrics: true, ErrorLog: errLog}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.HandleFunc("GET /drain", s.drain)
	s.admin = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ErrorLog: errLog}
	return s, nil
}

// Handler is the inbound proxy handler (for tests and embedding).
func (s *Sidecar) Handler() http.Handler { return s.proxy }

// Start binds the inbound and admin listeners and serves in the background.
func (s *Sidecar) Start(_ context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("--listen %s: %w", s.cfg.Listen, err)
	}
	aln, err := net.Listen("tcp", s.cfg.AdminListen)
	if err != nil {
		ln.Close()
		return fmt.Errorf("--admin-listen %s: %w", s.cfg.AdminListen, err)
	}
	s.ln, s.aln = ln, aln
	if err := s.backends.start(); err != nil {
		ln.Close()
		aln.Close()
		return err
	}
	serve := func(srv *http.Server, l net.Listener, name string) {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.errc <- fmt.Errorf("%s server: %w", name, err)
		}
	}
	// net/http's head limit is MaxHeaderBytes plus 4096 bytes of slack.
	go serve(s.server, headListener{Listener: ln, max: s.cfg.MaxHeaderBytes + 4096}, "inbound")
	go serve(s.admin, aln, "admin")
	s.log.Info("sidecar started", zap.String("listen", ln.Addr().String()), zap.String("admin", aln.Addr().String()),
		zap.String("upstream", s.cfg.Upstream), zap.String("service", s.cfg.Service))
	return nil
}

// Addr is the inbound listener's address once started.
func (s *Sidecar) Addr() net.Addr { return s.ln.Addr() }

// AdminAddr is the admin listener's address once started.
func (s *Sidecar) AdminAddr() net.Addr { return s.aln.Addr() }

// Err reports a server that stopped on its own.
func (s *Sidecar) Err() <-chan error { return s.errc }

// Shutdown drains: /readyz fails at once, the listener keeps accepting for
// ShutdownGrace (endpoints are being removed meanwhile), then closes;
// in-flight requests get up to DrainTimeout; spans and logs are flushed.
// ctx bounds the whole sequence.
//
// Requests still running when DrainTimeout ends (or ctx is done) are cut:
// each is answered, when no response header has left yet, and recorded as
// 503 with the error kind sidecar_shutdown, and a Warn line says how many
// there were. That is the drain's documented end, not an error; nor is a
// telemetry sink that cannot take the last spans or records within its own
// flushTimeout (a Warn, the loss counted): Shutdown returns an error only
// when stopping the admin server fails.
func (s *Sidecar) Shutdown(ctx context.Context) error {
	s.draining.Store(true)
	s.log.Info("draining", zap.Duration("grace", s.cfg.ShutdownGrace), zap.Duration("drain_timeout", s.cfg.DrainTimeout))
	select {
	case <-time.After(s.cfg.ShutdownGrace):
	case <-ctx.Done():
	}
	var errs []error
	dctx, cancel := context.WithTimeout(ctx, s.cfg.DrainTimeout)
	err := s.server.Shutdown(dctx)
	if err == nil {
		// Upgraded connections (WebSocket) are not tracked by
		// http.Server.Shutdown: they get the same time.
		err = s.proxy.waitIdle(dctx)
	}
	cancel()
	if err != nil {
		s.cutInFlight(ctx)
	}
	// Backends after the inbound requests that may still be using them.
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	s.backends.shutdown(bctx)
	cancel()
	s.tr.CloseIdleConnections()
	s.flushTelemetry(ctx)
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), adminStopTimeout)
	defer cancel()
	if err := s.admin.Shutdown(actx); err != nil {
		_ = s.admin.Close()
		errs = append(errs, fmt.Errorf("stopping admin server: %w", err))
	}
	return errors.Join(errs...)
}

// flushTimeout is what each telemetry sink gets to flush at shutdown, and
// adminStopTimeout what a scrape under way gets to finish.
var (
	flushTimeout     = 5 * time.Second
	adminStopTimeout = 2 * time.Second
)

// flushTelemetry flushes spans and access logs side by side, each within
// flushTimeout of its own: an OTLP endpoint that never answers must not eat
// the time the access log needs. A sink that cannot take what is left is
// the sink's outage, not the sidecar's: a Warn (what was lost is in
// hopscope_telemetry_dropped_total), and the exit stays 0.
func (s *Sidecar) flushTelemetry(ctx context.Context) {
	var wg sync.WaitGroup
	flush := func(what string, f func(context.Context) error) {
		defer wg.Done()
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), flushTimeout)
		defer cancel()
		if err := f(fctx); err != nil {
			s.log.Warn(what+" not flushed", zap.Duration("limit", flushTimeout), zap.Error(err))
		}
	}
	wg.Add(1)
	go flush("spans", s.tp.Shutdown)
	if s.access != nil {
		wg.Add(1)
		go flush("access logs", s.access.Shutdown)
	}
	wg.Wait()
}

// cutWait bounds how long cut requests get to write their record, first
// with their connections open (so a client still waiting gets the 503),
// then after the connections are closed.
const cutWait = time.Second

// cutInFlight ends the requests the drain left running: their contexts are
// cancelled with errSidecarShutdown (the proxy answers and records 503
// sidecar_shutdown), then the remaining connections are closed. It waits,
// bounded, for their handlers to return so that their records are flushed.
func (s *Sidecar) cutInFlight(ctx context.Context) {
	n := s.proxy.active.Load()
	s.cut(errSidecarShutdown)
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cutWait)
	err := s.proxy.waitIdle(wctx)
	cancel()
	_ = s.server.Close()
	if err != nil {
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cutWait)
		err = s.proxy.waitIdle(wctx)
		cancel()
	}
	fields := []zap.Field{zap.Int64("requests", n), zap.Duration("drain_timeout", s.cfg.DrainTimeout),
		zap.Int("status", StatusSidecarShutdown), zap.String("error", ErrorSidecarShutdown)}
	if err != nil {
		fields = append(fields, zap.Int64("still_running", s.proxy.active.Load()))
	}
	s.log.Warn("drain timeout: in-flight requests cut", fields...)
}

// Close stops at once: in-flight requests are cut (recorded as at the end
// of the drain, when their handlers still get to run) and every listener
// and connection is closed. Nothing is flushed: for a second signal during
// Shutdown.
func (s *Sidecar) Close() error {
	s.draining.Store(true)
	s.cut(errSidecarShutdown)
	return errors.Join(s.server.Close(), s.admin.Close())
}

// drain starts draining before SIGTERM: /readyz fails and every response
// carries Connection: close, so keep-alive clients (an ingress's upstream
// pool, whose connections kube-proxy's conntrack keeps on this pod) move to
// other pods. It answers after ShutdownGrace, or when the caller gives up.
// The injector makes it the app container's preStop hook: the kubelet then
// holds the app's SIGTERM until the pod is out of rotation, while the app
// still answers (a native sidecar only gets SIGTERM after the app exited,
// too late to move the clients).
func (s *Sidecar) drain(w http.ResponseWriter, r *http.Request) {
	if !s.draining.Swap(true) {
		s.log.Info("draining on request (preStop)", zap.Duration("grace", s.cfg.ShutdownGrace))
	}
	select {
	case <-time.After(s.cfg.ShutdownGrace):
	case <-r.Context().Done():
	}
	_, _ = io.WriteString(w, "draining\n")
}

// readyz is ready when not draining and the app accepts connections.
func (s *Sidecar) readyz(w http.ResponseWriter, r *http.Request) {
	if s.draining.Load() {
		http.Error(w, "draining", http.StatusServiceUnavailable)
		return
	}
	host := s.proxy.target.Host
	if s.proxy.target.Port() == "" {
		port := "80"
		if s.proxy.target.Scheme == "https" {
			port = "443"
		}
		host = net.JoinHostPort(s.proxy.target.Hostname(), port)
	}
	d := net.Dialer{Timeout: time.Second}
	c, err := d.DialContext(r.Context(), "tcp", host)
	if err != nil {
		http.Error(w, "app not reachable: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	c.Close()
	_, _ = io.WriteString(w, "ready\n")
}

// zapWriter adapts net/http's error log to zap.
type zapWriter struct{ l *zap.Logger }

func (z zapWriter) Write(p []byte) (int, error) {
	z.l.Warn(string(trimNL(p)))
	return len(p), nil
}

func trimNL(p []byte) []byte {
	for len(p) > 0 && (p[len(p)-1] == '\n' || p[len(p)-1] == '\r') {
		p = p[:len(p)-1]
	}
	return p
}
