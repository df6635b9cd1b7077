package collector

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hopscope/hopscope/correlate"
	"github.com/hopscope/hopscope/internal/route"
	"github.com/hopscope/hopscope/internal/testkit"
)

// TestBackendHistogram: each backend call of a joined trace is observed
// once in hopscope_backend_call_duration_seconds, with its attribution and an
// exemplar; a late record that rebuilds the breakdown (the ingress line
// after the spans) adds its hop but does not count the calls again.
func TestBackendHistogram(t *testing.T) {
	dir := t.TempDir()
	ingressLog := filepath.Join(dir, "ingress.log")
	os.WriteFile(ingressLog, nil, 0o644)
	c := startCollector(t, func(cfg *Config) {
		cfg.Tail = []string{FormatIngressNginxJSON + ":" + ingressLog}
		cfg.StateDir = filepath.Join(dir, "state")
	})
	rec := filepath.Join("testdata", "recorded", "parallel_backends")
	spans, err := os.ReadFile(filepath.Join(rec, "spans.json"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.Post("http://"+c.OTLPHTTPAddr().String()+"/v1/traces", "application/json", bytes.NewReader(spans))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("OTLP/HTTP: %s", res.Status)
	}
	const (
		pg    = `hopscope_backend_call_duration_seconds_count{attribution="exact",backend="postgres",k8s_namespace_name="",operation="SELECT",outcome="ok",service_name="shop",target="db:5432"} 2`
		redis = `hopscope_backend_call_duration_seconds_count{attribution="exact",backend="redis",k8s_namespace_name="",operation="GET",outcome="ok",service_name="shop",target="cache:6379"} 1`
		ing   = `hopscope_hop_duration_seconds_count{hop="ingress",k8s_namespace_name="",route="/api/orders/{id}",service_name="shop"} 1`
	)
	metrics := func() string {
		res, err := http.Get("http://" + c.HTTPAddr().String() + "/metrics")
		if err != nil {
			return ""
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return string(b)
	}
	testkit.Eventually(t, "the backend calls in /metrics", waitLimit, func() bool {
		m := metrics()
		return strings.Contains(m, pg) && strings.Contains(m, redis)
	})
	if m := metrics(); strings.Contains(m, ing) {
		t.Fatalf("ingress hop observed before its line arrived")
	}

	line, err := os.ReadFile(filepath.Join(rec, "ingress.log"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(ingressLog, line, 0o644)
	testkit.Eventually(t, "the late ingress hop in /metrics", waitLimit, func() bool { return strings.Contains(metrics(), ing) })
	m := metrics()
	for _, want := range []string{pg, redis} {
		if !strings.Contains(m, want) {
			t.Errorf("after the late ingress line, /metrics lacks %s", want)
		}
	}
	// OpenMetrics carries the exemplar.
	req, _ := http.NewRequest("GET", "http://"+c.HTTPAddr().String()+"/metrics", nil)
	req.Header.Set("Accept", "application/openmetrics-text; version=1.0.0")
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(b), `hopscope_backend_call_duration_seconds_bucket{attribution="exact",backend="postgres"`) ||
		!strings.Contains(string(b), `# {trace_id="67891233abcdef012345678912345678"}`) {
		t.Errorf("no backend bucket with a trace_id exemplar in the OpenMetrics output")
	}
}

// TestLabelLimits: each label past its limit is "other", values admitted
// before stay, and a histogram's label sets past their own limit keep only
// the hop (or backend kind).
func TestLabelLimits(t *testing.T) {
	l := &labelLimits{
		namespaces: route.NewLimit[string](2),
		services:   route.NewLimit[[2]string](3), kinds: route.NewLimit[string](1),
		routes: route.NewLimit[[3]string](3), targetOps: route.NewLimit[[5]string](2),
		hopSeries: route.NewLimit[[4]string](4), backendSeries: route.NewLimit[[5]string](3),
	}
	for _, tc := range []struct {
		ns, in string
		want   app
	}{
		{"shop", "shop", app{"shop", "shop"}},
		{"shop", "", app{"shop", "unknown"}},
		{"", "cart", app{"", "cart"}}, // outside Kubernetes: no namespace
		{"shop", "cart", app{"shop", "other"}},
		{"billing", "cart", app{"billing", "other"}},
		{"payments", "shop", app{"other", "other"}}, // 3rd namespace
		{"shop", "shop", app{"shop", "shop"}},
	} {
		if got := l.app(tc.ns, tc.in); got != tc.want {
			t.Errorf("app(%q, %q) = %v, want %v", tc.ns, tc.in, got, tc.want)
		}
	}
	shop := app{"shop", "shop"}
	for _, tc := range []struct{ in, want string }{{"postgres", "postgres"}, {"x-random", "other"}, {"postgres", "postgres"}} {
		if got := l.kind(tc.in); got != tc.want {
			t.Errorf("kind(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	for _, tc := range []struct{ service, route, hop, wantService, wantRoute string }{
		{"shop", "/a", "app", "shop", "/a"},
		{"shop", "", "app", "shop", "unknown"},
		{"shop", "/b", "app", "shop", "/b"},
		{"shop", "/c", "app", "shop", "other"},      // 4th pair: route other
		{"shop", "/a", "sidecar", "other", "other"}, // 5th series
		{"shop", "/a", "app", "shop", "/a"},         // known series
	} {
		s, r := l.hop(app{"shop", tc.service}, tc.route, tc.hop)
		if s.service != tc.wantService || s.namespace != tc.wantService || r != tc.wantRoute {
			t.Errorf("hop(%q, %q, %q) = %q, %q; want %q, %q", tc.service, tc.route, tc.hop, s, r, tc.wantService, tc.wantRoute)
		}
	}
	for _, tc := range []struct{ kind, target, op, wantService, wantTarget, wantOp string }{
		{"postgres", "db:5432", "SELECT", "shop", "db:5432", "SELECT"},
		{"redis", "", "", "shop", "unknown", "unknown"},
		{"postgres", "db:5432", "INSERT", "shop", "other", "other"},
		{"redis", "cache:6379", "GET", "other", "other", "other"}, // (shop, redis, other, other): 4th set
		{"postgres", "db:5432", "SELECT", "shop", "db:5432", "SELECT"},
	} {
		s, target, op := l.backend(shop, tc.kind, tc.target, tc.op)
		if s.service != tc.wantService || s.namespace != tc.wantService || target != tc.wantTarget || op != tc.wantOp {
			t.Errorf("backend(%s, %q, %q) = %q, %q, %q; want %q, %q, %q", tc.kind, tc.target, tc.op, s, target, op, tc.wantService, tc.wantTarget, tc.wantOp)
		}
	}
	reg := prometheus.NewRegistry()
	for _, c := range l.collectors() {
		reg.MustRegister(c)
	}
	want := `
# HELP hopscope_collector_label_overflow_total Observations whose label value became "other" because the label's limit of distinct values was reached: label = namespace, service, backend (kind), route, target_operation, hop_series or backend_series (label sets of a histogram).
# TYPE hopscope_collector_label_overflow_total counter
hopscope_collector_label_overflow_total{label="backend"} 1
hopscope_collector_label_overflow_total{label="backend_series"} 1
hopscope_collector_label_overflow_total{label="hop_series"} 1
hopscope_collector_label_overflow_total{label="namespace"} 1
hopscope_collector_label_overflow_total{label="route"} 1
hopscope_collector_label_overflow_total{label="service"} 3
hopscope_collector_label_overflow_total{label="target_operation"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "hopscope_collector_label_overflow_total"); err != nil {
		t.Error(err)
	}
}

// TestStoreCountersExported: what the store drops without a breakdown is
// visible on /metrics, read from its counters at each scrape.
func TestStoreCountersExported(t *testing.T) {
	st := correlate.StoreStats{Traces: 5, Evicted: 1, PendingDropped: 3, SpansDropped: 2}
	reg := prometheus.NewRegistry()
	if _, err := newMetrics(reg, func() correlate.StoreStats { return st }); err != nil {
		t.Fatal(err)
	}
	want := `
# HELP hopscope_collector_dropped_records_total Records accepted and later dropped by the store, by reason: pending_unclaimed (a record keyed only by X-Request-ID that no trace claimed within the window, or pushed out by newer ones), spans_over_limit (spans past the per-trace limit).
# TYPE hopscope_collector_dropped_records_total counter
hopscope_collector_dropped_records_total{reason="pending_unclaimed"} 3
hopscope_collector_dropped_records_total{reason="spans_over_limit"} 2
# HELP hopscope_collector_evicted_total Traces dropped before their window ended because --max-traces was reached.
# TYPE hopscope_collector_evicted_total counter
hopscope_collector_evicted_total 1
# HELP hopscope_collector_traces_active Traces held in memory.
# TYPE hopscope_collector_traces_active gauge
hopscope_collector_traces_active 5
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "hopscope_collector_dropped_records_total",
		"hopscope_collector_evicted_total", "hopscope_collector_traces_active"); err != nil {
		t.Error(err)
	}
	st.SpansDropped = 7 // read again at the next scrape
	if err := testutil.GatherAndCompare(reg, strings.NewReader(strings.Replace(want, `"spans_over_limit"} 2`, `"spans_over_limit"} 7`, 1)),
		"hopscope_collector_dropped_records_total", "hopscope_collector_evicted_total", "hopscope_collector_traces_active"); err != nil {
		t.Error(err)
	}
}

// TestOTLPJSONAmplificationCounted: an OTLP/JSON body of more empty
// elements than the receiver decodes is refused with 413 and counted in
// hopscope_collector_rejected_total{source="otlp",reason="too_many_elements"}.
func TestOTLPJSONAmplificationCounted(t *testing.T) {
	c := startCollector(t, nil)
	body := `{"resourceSpans":[` + strings.Repeat("{},", 200_000) + `{}]}`
	res, err := http.Post("http://"+c.OTLPHTTPAddr().String()+"/v1/traces", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("%s %s, want 413", res.Status, msg)
	}
	if n := testutil.ToFloat64(c.m.rejected.WithLabelValues(SrcOTLP, "too_many_elements")); n != 1 {
		t.Fatalf("rejected_total{otlp,too_many_elements} = %v, want 1", n)
	}
}
