//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/hopscope/hopscope/collector"
	"github.com/hopscope/hopscope/dashboards"
	"github.com/hopscope/hopscope/examples/shop/shop"
	"github.com/hopscope/hopscope/internal/promcheck"
	"github.com/hopscope/hopscope/internal/realcomp"
	"github.com/hopscope/hopscope/internal/realcomp/realcomptest"
	"github.com/hopscope/hopscope/internal/testkit"
	"github.com/hopscope/hopscope/rules"
	"github.com/hopscope/hopscope/sidecar"
	"github.com/hopscope/hopscope/sidecar/backend"
)

// The pods the two sidecars stand for, as Prometheus's Kubernetes service
// discovery would label them (and as the recorded kube-state-metrics and
// cAdvisor data names them).
var shopPods = []string{"shop-7d9f8c6b5-a1b2c", "shop-7d9f8c6b5-d3e4f"}

const collectorPod = "hopscope-collector-6c9d7b8f4-x7k2p"

// TestMonitoringOnRealPrometheus is the proof of the dashboards and the
// HPA metrics: a real Prometheus scrapes two sidecars and a collector under
// load (the shop app on real PostgreSQL and Redis behind them), plus the
// recorded output of kube-state-metrics and cAdvisor, which cannot run
// without a cluster. Every query of every generated dashboard must return
// at least one series; the exemplars of the hop histogram carry trace ids;
// and each prometheus-adapter rule's metricsQuery, filled the way the
// adapter fills it for a pods request, returns one value per pod.
func TestMonitoringOnRealPrometheus(t *testing.T) {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	pgURL := realcomptest.Postgres(t)
	redisAddr := realcomptest.Redis(t)

	ccfg := loopbackCollectorConfig()
	ccfg.ExportDelay = 500 * time.Millisecond
	// As `hopscope collector` serves it: with the Go and process collectors.
	creg := prometheus.NewRegistry()
	creg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	col := runCollector(t, ccfg, collector.Options{Registerer: creg, Gatherer: creg})
	otlpURL := "http://" + col.OTLPHTTPAddr().String()

	// The app fails one route on purpose, so error ratios have errors.
	appAddr := startShop(t, pgURL, redisAddr, otlpURL, "", func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/api/fail" {
				http.Error(w, "failing on purpose", http.StatusServiceUnavailable)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	// An external API the sidecars proxy as an http backend with every
	// policy on, so the Backends dashboard's proxy panels have series.
	payments := httptest.NewServer(shop.PaymentsStub{})
	t.Cleanup(payments.Close)
	var sidecars []*sidecar.Sidecar
	for i := range shopPods {
		// As the injector sets it from the downward API: the collector's
		// series name the app's namespace from it (k8s_namespace_name).
		t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "k8s.namespace.name=shop,k8s.pod.name="+shopPods[i])
		cfg := sidecar.DefaultConfig()
		cfg.Listen, cfg.AdminListen = "127.0.0.1:0", "127.0.0.1:0"
		cfg.Upstream, cfg.Service, cfg.OTLPEndpoint = "http://"+appAddr, "shop", otlpURL
		cfg.AccessLog, cfg.ShutdownGrace = "off", 0
		cfg.Routes = []string{"/api/orders/{id}"}
		cfg.Backends = []backend.Config{{Name: "payments", Kind: backend.KindHTTP, Listen: "127.0.0.1:0", Target: payments.URL,
			Retries:        &backend.RetryPolicy{Attempts: 2, Budget: 0.5, Backoff: 10 * time.Millisecond},
			CircuitBreaker: &backend.BreakerPolicy{Failures: 5, OpenFor: time.Second},
			RateLimit:      &backend.RateLimitPolicy{PerSecond: 1000, Burst: 100}}}
		sc, _ := runSidecar(t, cfg)
		sidecars = append(sidecars, sc)
	}
	exporters := serveKubeExporters(t)

	var sc strings.Builder
	sc.WriteString("scrape_configs:\n  - job_name: hopscope-sidecar\n    static_configs:\n")
	for i, s := range sidecars {
		fmt.Fprintf(&sc, "      - targets: [%q]\n        labels: {cluster: e2e, namespace: shop, pod: %s}\n", s.AdminAddr().String(), shopPods[i])
	}
	fmt.Fprintf(&sc, "  - job_name: hopscope-collector\n    static_configs:\n      - targets: [%q]\n        labels: {cluster: e2e, namespace: observability, pod: %s}\n", col.HTTPAddr().String(), collectorPod)
	sc.WriteString(kubeScrapeConfigs(exporters))
	prom, stopProm, err := realcomp.PrometheusConfig(t.TempDir(), sc.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stopProm)

	// Load: both pods, orders (PostgreSQL, Redis, the payments API), a
	// failing route, health checks, and X-Request-Start as an ingress sets
	// it; one malformed OTLP body for the collector's rejections.
	var sent atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		client := &http.Client{Timeout: 5 * time.Second}
		for i := 0; ctx.Err() == nil; i++ {
			s := sidecars[i%len(sidecars)]
			path := fmt.Sprintf("/api/orders/%d", 1+i%10)
			switch {
			case i%10 == 3:
				path = "/api/fail"
			case i%10 == 7:
				path = "/healthz"
			case i%10 == 5:
				// The app's call to the external API, through the sidecar.
				if res, err := client.Get("http://" + s.BackendAddrs()["payments"].String() + "/quote?order=1"); err == nil {
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
				}
			}
			req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+s.Addr().String()+path, nil)
			req.Header.Set("X-Request-Start", fmt.Sprintf("t=%.3f", float64(time.Now().Add(-2*time.Millisecond).UnixMicro())/1e6))
			if path == "/healthz" {
				req.Header.Set("User-Agent", "kube-probe/1.34")
			}
			if res, err := client.Do(req); err == nil {
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				sent.Add(1)
			}
			select {
			case <-ctx.Done():
			case <-time.After(40 * time.Millisecond):
			}
		}
	}()
	defer wg.Wait()
	defer stop()
	if res, err := http.Post(otlpURL+"/v1/traces", "application/x-protobuf", strings.NewReader("not a protobuf")); err == nil {
		res.Body.Close()
	}

	all, err := dashboards.All()
	if err != nil {
		t.Fatal(err)
	}
	type check struct{ where, expr string }
	var checks []check
	for _, d := range all {
		for _, q := range d.Queries {
			// The text box variables (cadvisor_job, ksm_job) as the
			// dashboard starts with them.
			checks = append(checks, check{d.UID + " / " + q.Panel + " / " + q.RefID, promcheck.Expand(q.Expr, d.Values)})
		}
	}
	if len(checks) < 20 {
		t.Fatalf("only %d dashboard queries", len(checks))
	}
	empty := map[string]string{}
	testkit.Eventually(t, "every dashboard query to return a series", 120*time.Second, func() bool {
		clear(empty)
		for _, c := range checks {
			if n, err := promCount(prom, c.expr); err != nil || n == 0 {
				empty[c.where] = fmt.Sprintf("%s (%v series, %v)", c.expr, n, err)
			}
		}
		return len(empty) == 0
	}, func() string {
		var lines []string
		for w, e := range empty {
			lines = append(lines, w+": "+e)
		}
		sort.Strings(lines)
		return strings.Join(lines, "\n")
	})
	t.Logf("%d dashboard queries over %d dashboards each returned series (%d requests sent)", len(checks), len(all), sent.Load())

	// The hop histogram's exemplars reach Prometheus with trace ids, which
	// the breakdown dashboard links to Jaeger.
	testkit.Eventually(t, "hop exemplars with trace ids", 60*time.Second, func() bool {
		code, body, err := getBody(prom + "/api/v1/query_exemplars?query=" + url.QueryEscape(`hopscope_hop_duration_seconds_bucket`) +
			fmt.Sprintf("&start=%d&end=%d", time.Now().Add(-10*time.Minute).Unix(), time.Now().Add(time.Minute).Unix()))
		return err == nil && code == 200 && regexp.MustCompile(`"trace_id":"[0-9a-f]{32}"`).Match(body)
	})

	// prometheus-adapter: each rule's metricsQuery as the adapter fills it
	// for GET .../namespaces/shop/pods/*/<metric>.
	podMatcher := fmt.Sprintf(`pod=~"%s"`, strings.Join(shopPods, "|"))
	for _, r := range rules.AdapterRules() {
		names, err := promcheck.Metrics(r.SeriesQuery)
		if err != nil || len(names) != 1 {
			t.Fatalf("adapter seriesQuery %q: %v %v", r.SeriesQuery, names, err)
		}
		q, err := rules.FillMetricsQuery(r.MetricsQuery, names[0], []string{`namespace="shop"`, podMatcher}, []string{"pod"})
		if err != nil {
			t.Fatal(err)
		}
		var values map[string]float64
		testkit.Eventually(t, "adapter query "+q+" to return a value per pod", 60*time.Second, func() bool {
			values, err = promVector(prom, q)
			return err == nil && len(values) == len(shopPods)
		})
		for _, pod := range shopPods {
			v, ok := values[pod]
			if !ok {
				t.Errorf("%s: no value for pod %s: %v", q, pod, values)
			}
			if strings.Contains(r.MetricsQuery, "rate(") && v <= 0 {
				t.Errorf("%s: pod %s has rate %v under load", q, pod, v)
			}
		}
		t.Logf("adapter %s → %v", q, values)
	}
}

// serveKubeExporters serves, on a loopback port, the recorded output of
// the exporters the dashboards read beside hopscope, on the paths the
// real ones use: cAdvisor's container_* families of kube-exporters.prom
// on /metrics/cadvisor, kube-state-metrics' kube_* families on /metrics,
// and the kubelet's resource metrics (kubelet-resource.prom) on
// /metrics/resource. Counters written "+N" grow by N at each scrape of
// their path.
func serveKubeExporters(t *testing.T) string {
	t.Helper()
	read := func(file string) string {
		data, err := os.ReadFile(filepath.Join("testdata", file))
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	exporters, resource := read("kube-exporters.prom"), read("kubelet-resource.prom")
	paths := map[string]struct {
		data, prefix string
		scrapes      *atomic.Int64
	}{
		"/metrics/cadvisor": {exporters, "container_", new(atomic.Int64)},
		"/metrics":          {exporters, "kube_", new(atomic.Int64)},
		"/metrics/resource": {resource, "container_", new(atomic.Int64)},
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := paths[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		n := float64(p.scrapes.Add(1))
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		sc := bufio.NewScanner(strings.NewReader(p.data))
		for sc.Scan() {
			line := sc.Text()
			name := line
			if f := strings.Fields(line); len(f) > 2 && (f[1] == "HELP" || f[1] == "TYPE") {
				name = f[2]
			} else if strings.HasPrefix(line, "#") {
				continue
			}
			if !strings.HasPrefix(name, p.prefix) {
				continue
			}
			if i := strings.LastIndex(line, " +"); i > 0 && !strings.HasPrefix(line, "#") {
				step, err := strconv.ParseFloat(line[i+2:], 64)
				if err == nil {
					line = line[:i] + " " + strconv.FormatFloat(step*n, 'f', -1, 64)
				}
			}
			fmt.Fprintln(w, line)
		}
	}), ReadHeaderTimeout: 5 * time.Second}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// kubeScrapeConfigs are the scrape configurations of the exporters that
// serveKubeExporters serves at addr, as kube-prometheus-stack's
// ServiceMonitors make them: the kubelet's cAdvisor and resource
// endpoints under job "kubelet", told apart by the metrics_path label the
// ServiceMonitor's relabeling adds, and kube-state-metrics under its own
// job; honor_labels, as those ServiceMonitors set, keeps the exporters'
// namespace and pod.
func kubeScrapeConfigs(addr string) string {
	var sc strings.Builder
	for _, path := range []string{"/metrics/cadvisor", "/metrics/resource"} {
		fmt.Fprintf(&sc, "  - job_name: kubelet%s\n    metrics_path: %s\n    honor_labels: true\n    static_configs:\n      - targets: [%q]\n        labels: {cluster: e2e, job: kubelet, metrics_path: %s}\n",
			strings.ReplaceAll(path, "/", "-"), path, addr, path)
	}
	fmt.Fprintf(&sc, "  - job_name: kube-state-metrics\n    honor_labels: true\n    static_configs:\n      - targets: [%q]\n        labels: {cluster: e2e}\n", addr)
	return sc.String()
}

var labelValuesRE = regexp.MustCompile(`^\s*label_values\((.*),\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*$`)

// promCount runs a dashboard query (Grafana variables expanded as for
// "All") and returns how many series it gave. A variable's
// label_values(selector, label) asks the series API, as Grafana does.
func promCount(prom, expr string) (int, error) {
	expr = promcheck.Expand(expr, nil)
	if m := labelValuesRE.FindStringSubmatch(expr); m != nil {
		code, body, err := getBody(prom + "/api/v1/series?match[]=" + url.QueryEscape(m[1]) +
			fmt.Sprintf("&start=%d", time.Now().Add(-time.Hour).Unix()))
		if err != nil || code != 200 {
			return 0, fmt.Errorf("series API: %d %v %s", code, err, body)
		}
		var r struct {
			Data []map[string]string `json:"data"`
		}
		if err := json.Unmarshal(body, &r); err != nil {
			return 0, err
		}
		n := 0
		for _, s := range r.Data {
			if s[m[2]] != "" {
				n++
			}
		}
		return n, nil
	}
	v, err := promQuery(prom, expr)
	return len(v), err
}

type promSample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

func promQuery(prom, expr string) ([]promSample, error) {
	code, body, err := getBody(prom + "/api/v1/query?query=" + url.QueryEscape(expr))
	if err != nil {
		return nil, err
	}
	if code != 200 {
		return nil, fmt.Errorf("query %s: %d %s", expr, code, body)
	}
	var r struct {
		Data struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, err
	}
	if r.Data.ResultType != "vector" {
		// A scalar (e.g. a constant threshold line) is one value.
		return []promSample{{}}, nil
	}
	var v []promSample
	err = json.Unmarshal(r.Data.Result, &v)
	return v, err
}

// promVector runs expr and returns its values by pod.
func promVector(prom, expr string) (map[string]float64, error) {
	v, err := promQuery(prom, expr)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, s := range v {
		f, _ := strconv.ParseFloat(fmt.Sprint(s.Value[1]), 64)
		out[s.Metric["pod"]] = f
	}
	return out, nil
}
