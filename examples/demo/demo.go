package main

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/hopscope/hopscope/collector"
	"github.com/hopscope/hopscope/correlate"
	"github.com/hopscope/hopscope/examples/shop/shop"
	"github.com/hopscope/hopscope/internal/cliconfig"
	"github.com/hopscope/hopscope/internal/contract"
	"github.com/hopscope/hopscope/internal/fixture"
	"github.com/hopscope/hopscope/internal/realcomp"
	"github.com/hopscope/hopscope/sidecar"
)

// demoConfig is `hopscope demo`'s configuration.
type demoConfig struct {
	duration  time.Duration
	rps       int
	slowEvery int
	real      bool
	httpAddr  string
}

// runDemo starts the whole path in-process on loopback — an edge proxy
// writing ingress-nginx JSON logs, the hopscope sidecar, the shop example
// app with stand-ins for its backends, and the collector with its UI —
// drives a steady load with a few slow requests and prints, every second,
// the p50 and p95 of every hop the collector reconstructed.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c demoConfig
	fs := flag.NewFlagSet("hopscope demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&c.duration, "duration", 0, "stop after this long (0 = until Ctrl-C)")
	fs.IntVar(&c.rps, "rps", 20, "requests per second")
	fs.IntVar(&c.slowEvery, "slow-every", 10, "every Nth request is slow (alternately in the app, in SQL and in the external API)")
	fs.BoolVar(&c.real, "real", false, "use nginx, PostgreSQL and Redis when installed instead of the stand-ins")
	fs.StringVar(&c.httpAddr, "http-listen", "127.0.0.1:8088", "collector API and UI address (a free port when busy)")
	if err := cliconfig.Load(fs, args, cliconfig.Options{}); err != nil {
		if err == flag.ErrHelp {
			return err
		}
		return usageError{err}
	}
	switch {
	case c.rps < 1 || c.rps > 1000:
		return usageError{errors.New("--rps: must be between 1 and 1000")}
	case c.slowEvery < 1:
		return usageError{errors.New("--slow-every: must be at least 1")}
	case c.duration < 0:
		return usageError{errors.New("--duration: must not be negative")}
	}
	if c.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.duration)
		defer cancel()
	}
	d := &demo{cfg: c, out: stdout}
	defer d.stop()
	if err := d.start(ctx); err != nil {
		return err
	}
	return d.run(ctx)
}

// demo holds the running topology; stops run in reverse order.
type demo struct {
	cfg   demoConfig
	out   io.Writer
	dir   string
	stops []func()
	col   *collector.Collector
	edge  string
	notes []string
}

func (d *demo) onStop(f func()) { d.stops = append(d.stops, f) }

func (d *demo) stop() {
	for i := len(d.stops) - 1; i >= 0; i-- {
		d.stops[i]()
	}
}

func (d *demo) start(ctx context.Context) error {
	dir, err := os.MkdirTemp("", "hopscope-demo-")
	if err != nil {
		return err
	}
	d.dir = dir
	d.onStop(func() { os.RemoveAll(dir) })
	edgeLog := filepath.Join(dir, "ingress-access.log")

	// The collector: spans over OTLP, the edge's log by --tail.
	ccfg := collector.DefaultConfig()
	ccfg.OTLPGRPCListen, ccfg.ForwardListen, ccfg.RUMListen = "", "", ""
	ccfg.OTLPHTTPListen, ccfg.HTTPListen = "127.0.0.1:0", d.cfg.httpAddr
	if ln, err := net.Listen("tcp", d.cfg.httpAddr); err != nil {
		ccfg.HTTPListen = "127.0.0.1:0"
	} else {
		ln.Close()
	}
	ccfg.Tail = []string{collector.FormatIngressNginxJSON + ":" + edgeLog}
	ccfg.ExportDelay = time.Second
	reg := prometheus.NewRegistry()
	col, err := collector.New(ccfg, collector.Options{Registerer: reg, Gatherer: reg, TailPollInterval: 100 * time.Millisecond})
	if err != nil {
		return err
	}
	if err := col.Start(ctx); err != nil {
		return err
	}
	d.onStop(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = col.Shutdown(sctx)
	})
	d.col = col
	otlpURL := "http://" + col.OTLPHTTPAddr().String()

	// The shop app, instrumented with the OpenTelemetry SDK.
	// Spans leave every 200 ms, not the SDK's 5 s, so that the live table
	// sees the backend calls of the requests it shows.
	tp, err := shop.NewTracerProvider(ctx, otlpURL, "shop-app", sdktrace.WithBatchTimeout(200*time.Millisecond))
	if err != nil {
		return err
	}
	d.onStop(func() { _ = tp.Shutdown(context.Background()) })
	deps, err := d.backends(ctx, tp)
	if err != nil {
		return err
	}
	app, err := shop.New(shop.Config{ServiceName: "shop-app"}, deps)
	if err != nil {
		return err
	}
	d.onStop(app.Close)
	appURL, err := serve(d, app.Handler())
	if err != nil {
		return err
	}

	// The sidecar in front of it.
	scfg := sidecar.DefaultConfig()
	scfg.Listen, scfg.AdminListen = "127.0.0.1:0", "127.0.0.1:0"
	scfg.Upstream, scfg.Service, scfg.OTLPEndpoint = appURL, "shop", otlpURL
	scfg.AccessLog, scfg.ShutdownGrace, scfg.Routes = "off", 0, []string{"/api/orders/{id}"}
	sreg := prometheus.NewRegistry()
	sc, err := sidecar.New(scfg, sidecar.Options{Registerer: sreg, Gatherer: sreg, Logger: zap.NewNop()})
	if err != nil {
		return err
	}
	if err := sc.Start(ctx); err != nil {
		return err
	}
	d.onStop(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = sc.Shutdown(sctx)
	})

	// The edge: real nginx configured as ingress-nginx, or a stand-in that
	// logs the same JSON line.
	if d.cfg.real {
		if addr, accessLog, stop, err := realcomp.NginxIngress(filepath.Join(dir, "nginx"), sc.Addr().String()); err == nil {
			d.onStop(stop)
			d.edge = "http://" + addr
			if err := os.Symlink(accessLog, edgeLog); err != nil {
				return err
			}
			d.notes = append(d.notes, "edge: nginx (real), ingress-nginx log format")
		} else {
			d.notes = append(d.notes, "edge: stand-in (nginx did not start: "+firstLine(err)+")")
		}
	}
	if d.edge == "" {
		u, err := startEdge(d, "http://"+sc.Addr().String(), edgeLog)
		if err != nil {
			return err
		}
		d.edge = u
		if !d.cfg.real {
			d.notes = append(d.notes, "edge: stand-in Go proxy writing ingress-nginx JSON log lines")
		}
	}
	return nil
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

// backends returns the shop's backends: real PostgreSQL and Redis with
// --real when installed, else in-process stand-ins that trace like the
// real clients (and say so on their spans). The payments API is always a
// local HTTP stand-in called through the real instrumented client.
func (d *demo) backends(ctx context.Context, tp trace.TracerProvider) (shop.Deps, error) {
	deps := shop.Deps{TracerProvider: tp}
	payURL, err := serve(d, shop.PaymentsStub{})
	if err != nil {
		return deps, err
	}
	if deps.Payments, err = shop.NewHTTPPayments(payURL, false, shop.WithTracerProvider(tp)); err != nil {
		return deps, err
	}
	d.notes = append(d.notes, "payments API: stand-in on loopback (real HTTP client)")
	if d.cfg.real {
		if pg, stop, err := realcomp.Postgres(filepath.Join(d.dir, "pg")); err == nil {
			d.onStop(stop)
			orders, err := shop.NewPostgresOrders(ctx, pg, shop.WithTracerProvider(tp))
			if err != nil {
				return deps, err
			}
			d.onStop(orders.Close)
			if err := shop.Migrate(ctx, orders.Pool()); err != nil {
				return deps, err
			}
			deps.Orders = orders
			d.notes = append(d.notes, "orders: PostgreSQL (real)")
		} else {
			d.notes = append(d.notes, "orders: stand-in (PostgreSQL did not start: "+firstLine(err)+")")
		}
		if addr, stop, err := realcomp.Redis(); err == nil {
			d.onStop(stop)
			cache, err := shop.NewRedisCache(addr, shop.WithTracerProvider(tp))
			if err != nil {
				return deps, err
			}
			deps.Cache = cache
			d.notes = append(d.notes, "cache: Redis (real)")
		} else {
			d.notes = append(d.notes, "cache: stand-in (Redis did not start: "+firstLine(err)+")")
		}
	}
	tracer := tp.Tracer("github.com/hopscope/hopscope/examples/demo")
	if deps.Orders == nil {
		deps.Orders = &standInOrders{tracer: tracer}
		if !d.cfg.real {
			d.notes = append(d.notes, "orders: stand-in for PostgreSQL (in-process, traced as postgresql)")
		}
	}
	if deps.Cache == nil {
		deps.Cache = &standInCache{tracer: tracer, m: map[string][]byte{}}
		if !d.cfg.real {
			d.notes = append(d.notes, "cache: stand-in for Redis (in-process, traced as redis)")
		}
	}
	return deps, nil
}

// serve runs h on a loopback port until the demo stops.
func serve(d *demo, h http.Handler) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	d.onStop(func() { srv.Close() })
	return "http://" + ln.Addr().String(), nil
}

// standInOrders answers like the orders table, spending the request's SQL
// delay, and traces itself as a PostgreSQL client span.
type standInOrders struct{ tracer trace.Tracer }

func (o *standInOrders) Get(ctx context.Context, id int) (shop.Order, error) {
	_, span := o.tracer.Start(ctx, "SELECT orders", trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attribute.String(contract.AttrDBSystemName, contract.DBSystemPostgreSQL), attribute.String(contract.AttrDBOperationName, "SELECT"),
		attribute.String(contract.AttrServerAddress, "stand-in"), attribute.Bool("hopscope.stand_in", true)))
	defer span.End()
	time.Sleep(time.Millisecond + rand.N(2*time.Millisecond) + shop.DelaysFrom(ctx).SQL)
	if id < 1 || id > 10000 {
		return shop.Order{}, shop.ErrNotFound
	}
	return shop.Order{ID: id, Item: "demo item " + strconv.Itoa(id%10), AmountCents: 1000 + id%500}, nil
}

// standInCache is a map that traces itself as a Redis client.
type standInCache struct {
	tracer trace.Tracer
	mu     sync.Mutex
	m      map[string][]byte
}

func (c *standInCache) span(ctx context.Context, op string) trace.Span {
	_, span := c.tracer.Start(ctx, op, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attribute.String(contract.AttrDBSystemName, contract.DBSystemRedis), attribute.String(contract.AttrDBOperationName, op),
		attribute.String(contract.AttrServerAddress, "stand-in"), attribute.Bool("hopscope.stand_in", true)))
	time.Sleep(200*time.Microsecond + rand.N(300*time.Microsecond))
	return span
}

func (c *standInCache) Get(ctx context.Context, key string) ([]byte, bool, error) {
	defer c.span(ctx, "GET").End()
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[key]
	return v, ok, nil
}

func (c *standInCache) Set(ctx context.Context, key string, value []byte, _ time.Duration) error {
	defer c.span(ctx, "SET").End()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) > 10000 {
		clear(c.m)
	}
	c.m[key] = value
	return nil
}

// startEdge runs the stand-in ingress: a reverse proxy to upstream that
// sets X-Request-ID and X-Request-Start as ingress-nginx does and writes one
// ingress-nginx JSON log line per request (times in milliseconds, as nginx
// logs them).
func startEdge(d *demo, upstream, logPath string) (string, error) {
	target, _ := url.Parse(upstream)
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return "", err
	}
	d.onStop(func() { f.Close() })
	var mu sync.Mutex
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host
			pr.SetXForwarded()
		},
		Transport: &http.Transport{MaxIdleConnsPerHost: 64},
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		var id [16]byte
		_, _ = crand.Read(id[:])
		reqID := hex.EncodeToString(id[:])
		r.Header.Set("X-Request-Id", reqID)
		r.Header.Set("X-Request-Start", fmt.Sprintf("t=%d.%03d", start.Unix(), start.Nanosecond()/1e6))
		rec := &statusRecorder{ResponseWriter: w, status: 200}
		up := time.Now()
		rp.ServeHTTP(rec, r)
		upstreamTime := time.Since(up)
		end := time.Now()
		line := fixture.Ingress{End: end, RequestTime: end.Sub(start).Round(time.Millisecond), Method: r.Method, URI: r.URL.RequestURI(),
			Status: rec.status, RequestID: reqID, Tries: []fixture.Try{{Addr: target.Host, Status: rec.status, Response: upstreamTime.Round(time.Millisecond)}}}.Line()
		mu.Lock()
		_, _ = f.WriteString(line + "\n")
		mu.Unlock()
	})
	return serve(d, h)
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) { s.status = code; s.ResponseWriter.WriteHeader(code) }

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// run drives the load and prints the live table until ctx ends.
func (d *demo) run(ctx context.Context) error {
	fmt.Fprintf(d.out, "hopscope demo — every request: edge → sidecar → shop app → orders, cache, payments\n")
	for _, n := range d.notes {
		fmt.Fprintf(d.out, "  %s\n", n)
	}
	fmt.Fprintf(d.out, "  UI:        http://%s/ui/\n", d.col.HTTPAddr())
	fmt.Fprintf(d.out, "  API:       http://%s/api/v1/breakdowns?limit=5\n", d.col.HTTPAddr())
	fmt.Fprintf(d.out, "  try:       curl -s '%s/api/orders/7?app_ms=50' -D - -o /dev/null | grep -i server-timing\n", d.edge)
	fmt.Fprintf(d.out, "  a request: hopscope breakdown --collector http://%s <trace id>\n", d.col.HTTPAddr())
	fmt.Fprintf(d.out, "  (every %dth request is slow; Ctrl-C stops)\n", d.cfg.slowEvery)
	fmt.Fprintf(d.out, "  other = time no source attributes; below 0 when the ingress log's 1 ms resolution puts the total under the sidecar's exact time\n\n")

	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); d.load(ctx) }()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			d.table()
			fmt.Fprintln(d.out, "stopped")
			return nil
		case <-tick.C:
			d.table()
		}
	}
}

func (d *demo) load(ctx context.Context) {
	client := &http.Client{Timeout: 10 * time.Second}
	tick := time.NewTicker(time.Second / time.Duration(d.cfg.rps))
	defer tick.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for i := 1; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		q := url.Values{}
		if i%d.cfg.slowEvery == 0 {
			q.Set([]string{"app_ms", "sql_ms", "ext_ms"}[(i/d.cfg.slowEvery)%3], "120")
		}
		u := fmt.Sprintf("%s/api/orders/%d?%s", d.edge, 1+rand.N(10), q.Encode())
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequestWithContext(context.WithoutCancel(ctx), http.MethodGet, u, nil)
			if res, err := client.Do(req); err == nil {
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
			}
		}()
	}
}

// table prints p50 and p95 of every hop over ten seconds of breakdowns:
// those of requests that ended at least settle ago, whose spans and log
// lines have all arrived.
func (d *demo) table() {
	recent := d.col.Store().Recent(correlate.Filter{}, 2000)
	const settle = time.Second
	newest := time.Now().Add(-settle)
	oldest := newest.Add(-10 * time.Second)
	per := map[string][]float64{}
	n := 0
	for _, b := range recent {
		end := b.Start.Add(time.Duration(b.TotalMS * float64(time.Millisecond)))
		if b.Start.Before(oldest) || end.After(newest) || b.TotalSource == correlate.SourceNone ||
			!hasHop(b, correlate.HopIngress) || !hasHop(b, correlate.HopApp) {
			continue
		}
		n++
		per["total"] = append(per["total"], b.TotalMS)
		for _, h := range b.Hops {
			per[h.Hop] = append(per[h.Hop], h.MS)
		}
	}
	fmt.Fprintf(d.out, "%s  %d requests joined in 10 s (those that ended 1 s ago or earlier)\n", time.Now().Format("15:04:05"), n)
	if n == 0 {
		fmt.Fprintln(d.out, "  (waiting for the first breakdowns…)")
		return
	}
	var order []string
	for _, h := range correlate.HopNames() {
		if h == correlate.HopDownload {
			order = append(order, contract.HopPostgres, contract.HopRedis, contract.HopHTTPEgress)
		}
		order = append(order, h)
	}
	order = append(order, "total")
	fmt.Fprintf(d.out, "  %-16s %9s %9s\n", "hop", "p50 ms", "p95 ms")
	for _, hop := range order {
		v := per[hop]
		if len(v) == 0 {
			continue
		}
		slices.Sort(v)
		fmt.Fprintf(d.out, "  %-16s %9.3f %9.3f\n", hop, v[int(0.5*float64(len(v)-1))], v[int(0.95*float64(len(v)-1))])
	}
}

func hasHop(b correlate.Breakdown, hop string) bool {
	for _, h := range b.Hops {
		if h.Hop == hop {
			return true
		}
	}
	return false
}
