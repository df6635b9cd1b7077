package collector

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"google.golang.org/protobuf/proto"

	"github.com/hopscope/hopscope/collector/consumer"
	"github.com/hopscope/hopscope/collector/otlp"
	"github.com/hopscope/hopscope/correlate"
	"github.com/hopscope/hopscope/internal/fixture"
	"github.com/hopscope/hopscope/internal/testkit"
	"github.com/hopscope/hopscope/sidecar"
)

// spanCapture is an OTLP receiver standing in for Jaeger in unit tests
// (the e2e suite uses a real Jaeger).
type spanCapture struct {
	mu    sync.Mutex
	spans []*tracepb.Span
	names map[string]string // span id → service.name
	url   string
}

func newSpanCapture(t *testing.T) *spanCapture {
	c := &spanCapture{names: map[string]string{}}
	cfg := otlp.DefaultConfig()
	cfg.GRPCListen, cfg.HTTPListen = "", "127.0.0.1:0"
	r, err := otlp.New(cfg, consumer.Func(func(_ context.Context, in consumer.Input) error {
		body := in.OTLP
		var req coltracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(body, &req); err != nil {
			return err
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, rs := range req.ResourceSpans {
			svc := ""
			for _, kv := range rs.Resource.GetAttributes() {
				if kv.Key == "service.name" {
					svc = kv.Value.GetStringValue()
				}
			}
			for _, ss := range rs.ScopeSpans {
				for _, sp := range ss.Spans {
					c.spans = append(c.spans, sp)
					c.names[hex.EncodeToString(sp.SpanId)] = svc
				}
			}
		}
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Shutdown(context.Background()) })
	c.url = "http://" + r.HTTPAddr().String()
	return c
}

func (c *spanCapture) byName() map[string]*tracepb.Span {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := map[string]*tracepb.Span{}
	for _, s := range c.spans {
		m[s.Name] = s
	}
	return m
}

// waitLimit bounds the waits of the collector's tests (a hang guard).
const waitLimit = 15 * time.Second

func startCollector(t *testing.T, mutate func(*Config)) *Collector {
	t.Helper()
	cfg := DefaultConfig()
	cfg.OTLPGRPCListen, cfg.OTLPHTTPListen, cfg.ForwardListen = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.HTTPListen, cfg.RUMListen = "127.0.0.1:0", "127.0.0.1:0"
	cfg.ExportDelay = 300 * time.Millisecond
	cfg.RUMAllowedOrigins = []string{"*"}
	if mutate != nil {
		mutate(&cfg)
	}
	reg := prometheus.NewRegistry()
	c, err := New(cfg, Options{Registerer: reg, Gatherer: reg, FlushTick: 20 * time.Millisecond,
		ALBScanInterval: 50 * time.Millisecond, ALBSettleTime: time.Nanosecond, TailPollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c.Shutdown(ctx)
	})
	return c
}

func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if v != nil {
		_ = json.Unmarshal(b, v)
	}
	return res.StatusCode
}

// TestSidecarIngressALBJoin is the "done when": a span from a real
// sidecar, the matching ingress-nginx JSON line in a tailed file and the
// matching ALB line in the ALB directory give one breakdown whose
// loadbalancer, ingress, service, sidecar and app hops sum to the ALB
// total, and the exported trace has a span for each of those hops.
func TestSidecarIngressALBJoin(t *testing.T) {
	dir := t.TempDir()
	ingressLog := filepath.Join(dir, "ingress.log")
	albDir := filepath.Join(dir, "alb")
	os.MkdirAll(albDir, 0o755)
	os.WriteFile(ingressLog, nil, 0o644)
	capture := newSpanCapture(t)
	c := startCollector(t, func(cfg *Config) {
		cfg.Tail = []string{FormatIngressNginxJSON + ":" + ingressLog}
		cfg.ALBLogs = albDir
		cfg.StateDir = filepath.Join(dir, "state")
		cfg.ExportOTLPEndpoint = capture.url
		cfg.JaegerUIURL = "http://jaeger.example:16686"
	})

	// The app behind a real sidecar that exports to the collector.
	app := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(20 * time.Millisecond) // the app's own time
		io.WriteString(w, "order 7")
	})}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go app.Serve(ln)
	defer app.Close()
	scfg := sidecar.DefaultConfig()
	scfg.Listen, scfg.AdminListen, scfg.Upstream, scfg.Service = "127.0.0.1:0", "127.0.0.1:0", "http://"+ln.Addr().String(), "shop"
	scfg.OTLPEndpoint = "http://" + c.OTLPHTTPAddr().String()
	scfg.AccessLog, scfg.ShutdownGrace = "off", 0
	scfg.Routes = []string{"/api/orders/{id}"}
	sc, err := sidecar.New(scfg, sidecar.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sc.Start(context.Background())

	const root = "1-67891233-abcdef012345678912345678"
	const tid = "67891233abcdef012345678912345678"
	req, _ := http.NewRequest("GET", "http://"+sc.Addr().String()+"/api/orders/7", nil)
	req.Header.Set("X-Amzn-Trace-Id", "Root="+root)
	req.Header.Set("X-Request-Id", "req-join-1")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	sc.Shutdown(ctx) // flushes the span
	cancel()

	var span correlate.SidecarSpan
	testkit.Eventually(t, "the sidecar span in the store", waitLimit, func() bool {
		g, ok := c.Store().Group(mustTraceID(t, tid))
		if ok && len(g.Sidecars) == 1 {
			span = g.Sidecars[0]
		}
		return ok && len(g.Sidecars) == 1
	})
	// nginx and the ALB log in milliseconds.
	sidecarMS := math.Ceil(float64(span.Duration.Microseconds()) / 1000)
	upstream := sidecarMS + 1 // the ingress waited a bit longer than the pod worked
	requestTime := upstream + 2
	albReq, albResp := 1.0, 2.0
	albTarget := requestTime + 3
	msd := func(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }
	end := span.Start.Add(msd(requestTime))
	f, _ := os.OpenFile(ingressLog, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(fixture.Ingress{End: end, RequestTime: msd(requestTime), URI: "/api/orders/7", RequestID: "req-join-1",
		XRay: "Root=" + root, Tries: []fixture.Try{{Addr: "10.0.0.7:15080", Status: 200, Response: msd(upstream)}}}.Line() + "\n")
	f.Close()
	alb := fixture.ALB{Root: root, Created: span.Start.Add(-5 * time.Millisecond), End: end, URL: "https://shop.example:443/api/orders/7",
		Request: msd(albReq), Target: msd(albTarget), Response: msd(albResp)}.Line()
	os.WriteFile(filepath.Join(albDir, "123456789012_elasticloadbalancing_us-east-2_app.my-loadbalancer.50dc6c495c0c9188_20261126T1000Z_10.0.0.1_abc.log"), []byte(alb+"\n"), 0o644)

	var b BreakdownResponse
	url := "http://" + c.HTTPAddr().String() + "/api/v1/traces/" + tid + "/breakdown"
	testkit.Eventually(t, "a breakdown with the ALB and ingress hops", waitLimit, func() bool {
		return getJSON(t, url, &b) == 200 && hopsOf(b)["loadbalancer"] > 0 && hopsOf(b)["ingress"] > 0
	})
	h := hopsOf(b)
	albTotal := albReq + albTarget + albResp
	if b.TotalMS != albTotal || b.TotalSource != "alb" {
		t.Fatalf("total %v from %s, want the ALB's %v", b.TotalMS, b.TotalSource, albTotal)
	}
	var sum float64
	for _, hop := range b.Hops {
		sum += hop.MS
	}
	if math.Abs(sum-b.TotalMS) > 0.1 {
		t.Fatalf("hops sum %v, total %v: %+v", sum, b.TotalMS, b.Hops)
	}
	if h["loadbalancer"] != albTotal-requestTime || h["ingress"] != requestTime-upstream {
		t.Errorf("loadbalancer %v (want %v), ingress %v (want %v)", h["loadbalancer"], albTotal-requestTime, h["ingress"], requestTime-upstream)
	}
	for _, hop := range []string{"service", "sidecar", "app"} {
		if _, ok := h[hop]; !ok {
			t.Errorf("hop %s missing: %+v", hop, b.Hops)
		}
	}
	if b.Service != "shop" || b.Route != "/api/orders/{id}" || b.JaegerURL != "http://jaeger.example:16686/trace/"+tid {
		t.Errorf("labels %s %s %s", b.Service, b.Route, b.JaegerURL)
	}

	// The exported trace: real sidecar span under synthesized hops.
	testkit.Eventually(t, "the synthesized spans", waitLimit, func() bool {
		m := capture.byName()
		return m["loadbalancer"] != nil && m["ingress"] != nil && m["service"] != nil && m["app"] != nil && m["GET /api/orders/{id}"] != nil
	})
	m := capture.byName()
	side := m["GET /api/orders/{id}"]
	if hex.EncodeToString(side.ParentSpanId) != hex.EncodeToString(m["service"].SpanId) {
		t.Errorf("sidecar span not hung under the service hop")
	}
	if hex.EncodeToString(m["ingress"].ParentSpanId) != hex.EncodeToString(m["loadbalancer"].SpanId) {
		t.Errorf("ingress not under loadbalancer")
	}
	if hex.EncodeToString(m["app"].ParentSpanId) != hex.EncodeToString(side.SpanId) {
		t.Errorf("app not under the sidecar span")
	}
	for name, sp := range m {
		if hex.EncodeToString(sp.TraceId) != tid {
			t.Errorf("span %s in trace %x", name, sp.TraceId)
		}
	}
	if svc := capture.names[hex.EncodeToString(m["loadbalancer"].SpanId)]; svc != "alb" {
		t.Errorf("loadbalancer span's service %q", svc)
	}

	// Listing and metrics.
	var list ListResponse
	if getJSON(t, "http://"+c.HTTPAddr().String()+"/api/v1/breakdowns?service=shop&limit=5", &list); len(list.Breakdowns) != 1 {
		t.Errorf("list: %+v", list)
	}
	res, _ = http.Get("http://" + c.HTTPAddr().String() + "/metrics")
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, want := range []string{`hopscope_hop_duration_seconds_count{hop="loadbalancer",k8s_namespace_name="",route="/api/orders/{id}",service_name="shop"} 1`,
		`hopscope_collector_received_total{source="alb"} 1`, `hopscope_collector_received_total{source="ingress"} 1`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func hopsOf(b BreakdownResponse) map[string]float64 {
	m := map[string]float64{}
	for _, h := range b.Hops {
		m[h.Hop] = h.MS
	}
	return m
}

func TestAPIErrors(t *testing.T) {
	c := startCollector(t, nil)
	base := "http://" + c.HTTPAddr().String()
	for path, want := range map[string]int{
		"/api/v1/traces/xyz/breakdown":                              400,
		"/api/v1/traces/4bf92f3577b34da6a3ce929d0e0e4736/breakdown": 404,
		"/api/v1/breakdowns?limit=0":                                400,
		"/api/v1/breakdowns":                                        200,
		"/healthz":                                                  200,
	} {
		if got := getJSON(t, base+path, nil); got != want {
			t.Errorf("%s: %d, want %d", path, got, want)
		}
	}
}

func testutilCounter(c interface{ Write(*dto.Metric) error }) float64 {
	var m dto.Metric
	_ = c.Write(&m)
	return m.GetCounter().GetValue()
}

// TestAPIReadsDoNotMakeRecordsLate: hopscope_collector_late_records_total
// counts records that arrive after the exporter emitted the trace, not
// after someone looked at its breakdown in the API or UI.
func TestAPIReadsDoNotMakeRecordsLate(t *testing.T) {
	c := startCollector(t, func(cfg *Config) { cfg.ExportDelay = time.Hour; cfg.Window = 2 * time.Hour })
	const root = "1-67891233-abcdef012345678912345678"
	const tid = "67891233abcdef012345678912345678"
	end := time.Now()
	ingress := fixture.Ingress{End: end, RequestTime: 5 * time.Millisecond, URI: "/api/orders/7", XRay: "Root=" + root,
		Tries: []fixture.Try{{Addr: "10.0.0.7:15080", Status: 200, Response: 4 * time.Millisecond}}}.Line()
	alb := fixture.ALB{Root: root, Created: end.Add(-8 * time.Millisecond), End: end, URL: "https://shop.example:443/api/orders/7",
		Request: time.Millisecond, Target: 6 * time.Millisecond, Response: time.Millisecond}.Line()
	consumeLine(c, FormatIngressNginxJSON, SrcIngress, "ingress.log", 1, ingress)

	base := "http://" + c.HTTPAddr().String()
	for _, path := range []string{"/api/v1/traces/" + tid + "/breakdown", "/api/v1/breakdowns", "/api/v1/traces/" + tid + "/breakdown"} {
		if code := getJSON(t, base+path, nil); code != 200 {
			t.Fatalf("%s: %d", path, code)
		}
	}
	consumeLine(c, FormatALB, SrcALB, "alb.log", 1, alb)
	if n := testutilCounter(c.m.late); n != 0 {
		t.Fatalf("late records %v after API reads only, want 0", n)
	}
	// Once the exporter emitted the trace, the next record is late.
	c.em.flushAll(t.Context(), time.Now())
	consumeLine(c, FormatALB, SrcALB, "alb.log", 2, alb)
	if n := testutilCounter(c.m.late); n != 1 {
		t.Fatalf("late records %v after the emission, want 1", n)
	}
}

// TestHTTPServerErrorsLogged: net/http's own lines of the collector's HTTP
// servers (the API, RUM; OTLP/HTTP: TestHTTPErrorLog in collector/otlp) —
// "http: Accept error: … too many open files" under a connection flood —
// are Warn entries of the JSON log, not plain text on stderr (issue 19,
// item 15).
func TestHTTPServerErrorsLogged(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	cfg := DefaultConfig()
	cfg.OTLPGRPCListen, cfg.OTLPHTTPListen, cfg.ForwardListen = "", "127.0.0.1:0", ""
	cfg.HTTPListen, cfg.RUMListen, cfg.RUMAllowedOrigins = "127.0.0.1:0", "127.0.0.1:0", []string{"*"}
	reg := prometheus.NewRegistry()
	c, err := New(cfg, Options{Registerer: reg, Gatherer: reg, Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	for name, el := range map[string]*log.Logger{"api": c.api.ErrorLog, "rum": c.rum.srv.ErrorLog} {
		if el == nil {
			t.Errorf("%s: no ErrorLog: net/http writes plain text to stderr", name)
			continue
		}
		el.Printf("http: Accept error: accept tcp [::]:4318: accept4: too many open files; retrying in 5ms")
	}
	if n := logs.FilterLevelExact(zapcore.WarnLevel).FilterMessageSnippet("http: Accept error").Len(); n != 2 {
		t.Errorf("%d Warn entries for 2 servers: %v", n, logs.All())
	}
}
