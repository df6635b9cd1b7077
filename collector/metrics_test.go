package collector

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
		pg    = `hopscope_backend_call_duration_seconds_count{attribution="exact",backend="postgres",operation="SELECT",outcome="ok",service="shop",target="db:5432"} 2`
		redis = `hopscope_backend_call_duration_seconds_count{attribution="exact",backend="redis",operation="GET",outcome="ok",service="shop",target="cache:6379"} 1`
		ing   = `hopscope_hop_duration_seconds_count{hop="ingress",route="/api/orders/{id}",service="shop"} 1`
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
	waitFor(t, "the backend calls in /metrics", func() bool {
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
	waitFor(t, "the late ingress hop in /metrics", func() bool { return strings.Contains(metrics(), ing) })
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

func TestBackendGuard(t *testing.T) {
	g := newBackendGuard(2)
	for _, tc := range []struct{ kind, target, op, wantTarget, wantOp string }{
		{"postgres", "db:5432", "SELECT", "db:5432", "SELECT"},
		{"redis", "", "", "unknown", "unknown"},
		{"postgres", "db:5432", "INSERT", "other", "other"},
		{"postgres", "db:5432", "SELECT", "db:5432", "SELECT"}, // known before the cap
	} {
		target, op := g.labels("shop", tc.kind, tc.target, tc.op)
		if target != tc.wantTarget || op != tc.wantOp {
			t.Errorf("labels(%s, %q, %q) = %q, %q; want %q, %q", tc.kind, tc.target, tc.op, target, op, tc.wantTarget, tc.wantOp)
		}
	}
}
