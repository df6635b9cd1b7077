//go:build cluster

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/hopscope/hopscope/dashboards"
	"github.com/hopscope/hopscope/internal/promcheck"
	"github.com/hopscope/hopscope/internal/realcomp"
	"github.com/hopscope/hopscope/internal/testkit"
)

// checkOperatorScrapes scrapes hopscope as kube-prometheus-stack does
// (issue 12 item 1): the Prometheus Operator's CRDs in the cluster, the
// chart's ServiceMonitor, PodMonitor and PrometheusRule read back from the
// API server, and the configuration the Operator's own generator (v0.85.0,
// tools/promoperator) makes of them run by Prometheus with Kubernetes
// service discovery. Every dashboard query over hopscope's series then
// returns series for the shop's namespace and service, the collector's
// series name the app (k8s_namespace_name, service_name) besides the
// target labels the Operator adds, every rule loads, and an error burst
// takes HopscopeErrorBudgetBurn from pending to firing.
func checkOperatorScrapes(t *testing.T, ctx context.Context, k *cluster, cs kubernetes.Interface, res *Result) {
	crds := operatorCRDs(t, ctx, k.root)
	if out, err := k.kubectl(ctx, "", "apply", "--server-side", "-f", crds); err != nil {
		t.Fatalf("applying the Operator's CRDs: %v\n%s", err, out)
	}
	// kubectl wait fails at once on a CRD whose status is not written yet.
	var waitOut string
	testkit.Eventually(t, "the Operator's CRDs to be established", 60*time.Second, func() bool {
		out, err := k.kubectl(ctx, "", "wait", "--for=condition=established", "--timeout=10s",
			"crd/servicemonitors.monitoring.coreos.com", "crd/podmonitors.monitoring.coreos.com", "crd/prometheusrules.monitoring.coreos.com")
		waitOut = out
		return err == nil
	}, func() string { return waitOut })
	// monitoringCRDs: auto renders the objects now that the API serves them.
	if out, err := k.helm(ctx, "upgrade", "hopscope", filepath.Join(k.root, "charts", "hopscope"), "-n", nsHopscope, "--reuse-values",
		"--set", "serviceMonitor.enabled=true", "--set", "serviceMonitor.interval=5s",
		"--set", "podMonitor.enabled=true", "--set", "podMonitor.interval=5s",
		"--set", "prometheusRule.enabled=true", "--wait", "--timeout", "3m"); err != nil {
		t.Fatalf("helm upgrade: %v\n%s", err, out)
	}

	gen := t.TempDir()
	bin := k.bins["promoperator"]
	pki := func(name string) string { return k.cfg.path("pki", name) }
	cmd := exec.CommandContext(ctx, bin, "--kubeconfig", k.kubeconfig(), "--api-server", k.apiURL(),
		"--ca", pki("ca.crt"), "--cert", pki("admin.crt"), "--key", pki("admin.key"),
		"--out", gen, "--scrape-interval", "5s")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promoperator: %v\n%s", err, out)
	}
	t.Logf("%s", strings.TrimSpace(string(out)))
	conf, err := os.ReadFile(filepath.Join(gen, "prometheus.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// The Operator's defaults, which the label design has to hold under.
	for _, want := range []string{"job_name: serviceMonitor/hopscope/hopscope-collector/0", "job_name: podMonitor/hopscope/hopscope-sidecars/0", "honor_labels: false"} {
		if !strings.Contains(string(conf), want) {
			t.Errorf("the generated configuration lacks %q:\n%s", want, conf)
		}
	}
	prom := startGeneratedPrometheus(t, k, gen)

	// Rules: every group of the chart's PrometheusRule loads and evaluates.
	testkit.Eventually(t, "the PrometheusRule's groups to load and evaluate", 60*time.Second, func() bool {
		groups, bad := promRules(prom)
		return groups >= 5 && bad == ""
	}, func() string { g, bad := promRules(prom); return fmt.Sprintf("%d groups; %s", g, bad) })

	// Load: orders through the edge (ingress → Service → sidecar → app →
	// PostgreSQL and Redis).
	stop := make(chan struct{})
	sent, _, _, wait := load(res.Edge+"/api/orders/6", stop)
	defer wait()
	defer close(stop)

	// The scrapes as the Operator makes them: the sidecar's series carry
	// the pod's namespace and pod from the PodMonitor's target labels, the
	// collector's the app's namespace and service in its own labels.
	for _, c := range []struct{ what, expr string }{
		{"sidecar series of the shop's pods", `hopscope_requests_total{namespace="shop",service="shop",pod=~"shop-.+",direction="inbound"}`},
		{"collector hop series of the shop", `hopscope_hop_duration_seconds_count{k8s_namespace_name="shop",service_name="shop",namespace="hopscope",service="hopscope-collector"}`},
		{"recorded hop quantiles under the shop's labels", `hopscope:hop_duration_seconds:p95_5m{namespace="shop",service="shop",hop="app"}`},
		{"recorded SLO series", `hopscope:sidecar_requests:rate5m{namespace="shop",service="shop"}`},
	} {
		testkit.Eventually(t, c.what+": "+c.expr, 90*time.Second, func() bool {
			n, err := promCountOf(prom, c.expr)
			return err == nil && n > 0
		})
	}
	for _, bad := range []string{`{__name__=~"hopscope_.+", exported_service!=""}`, `{__name__=~"hopscope_.+", exported_namespace!=""}`} {
		if n, err := promCountOf(prom, bad); err != nil || n > 0 {
			t.Errorf("%s: %d series (%v): a hopscope label clashed with a target label", bad, n, err)
		}
	}

	// Every dashboard query over hopscope's series, with the variables on
	// the shop (the Collector dashboard on the collector's namespace).
	all, err := dashboards.All()
	if err != nil {
		t.Fatal(err)
	}
	type check struct{ where, expr string }
	var checks []check
	for _, d := range all {
		vars := map[string]string{"namespace": "shop", "service": "shop"}
		if d.UID == "hopscope-collector" {
			vars["namespace"] = nsHopscope
		}
		for k, v := range d.Values {
			vars[k] = v
		}
		for _, q := range d.Queries {
			expr := q.Expr
			// A variable's label_values(selector, label): its selector
			// has series when the variable has values.
			if m := labelValues.FindStringSubmatch(expr); m != nil {
				expr = m[1]
			}
			expr = promcheck.Expand(expr, vars)
			names, err := promcheck.Metrics(expr)
			if err != nil {
				t.Fatalf("%s: %v", q.Expr, err)
			}
			// cAdvisor and kube-state-metrics are not in this cluster; the
			// Backends dashboard's retry, limit and breaker panels need an
			// http backend proxy with those policies, which the shop has
			// not; nothing is rejected or fails to decode here; the
			// kubelet probes the shop's own port, not through the sidecar.
			if slices.ContainsFunc(names, func(n string) bool {
				return !strings.HasPrefix(n, "hopscope") || strings.HasPrefix(n, "hopscope_backend_retries") ||
					strings.HasPrefix(n, "hopscope_backend_rate_limited") || strings.HasPrefix(n, "hopscope_backend_circuit") ||
					strings.HasPrefix(n, "hopscope_collector_rejected") || strings.HasPrefix(n, "hopscope_backend_decode_errors") ||
					strings.HasPrefix(n, "hopscope_healthcheck")
			}) {
				continue
			}
			checks = append(checks, check{d.UID + " / " + q.Panel + " / " + q.RefID, expr})
		}
	}
	empty := map[string]string{}
	testkit.Eventually(t, "every dashboard query over hopscope's series to return series for the shop", 120*time.Second, func() bool {
		clear(empty)
		for _, c := range checks {
			if n, err := promCountOf(prom, c.expr); err != nil || n == 0 {
				empty[c.where] = fmt.Sprintf("%s (%d series, %v)", c.expr, n, err)
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
	t.Logf("%d dashboard queries returned the shop's series (%d requests sent)", len(checks), sent.Load())

	// An error burst: the orders table renamed away, as a bad migration
	// would, so that every uncached order answers 500.
	psql := func(sql string) {
		t.Helper()
		out, err := exec.CommandContext(ctx, "psql", "-h", k.cfg.NodeIP().String(), "-p", "5432", "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-c", sql).CombinedOutput()
		if err != nil {
			t.Fatalf("psql %s: %v\n%s", sql, err, out)
		}
	}
	psql("ALTER TABLE orders RENAME TO orders_away")
	defer psql("ALTER TABLE orders_away RENAME TO orders")
	burst := make(chan struct{})
	failed, waitBurst := loadIDs(res.Edge, 100000, burst)
	defer func() { close(burst); waitBurst() }()
	var states []string
	testkit.Eventually(t, "HopscopeErrorBudgetBurn for the shop to go pending then firing", 4*time.Minute, func() bool {
		s := alertState(prom, "HopscopeErrorBudgetBurn", `namespace="shop"`)
		if len(states) == 0 || states[len(states)-1] != s {
			states = append(states, s)
		}
		return s == "firing"
	}, func() string { return fmt.Sprintf("states %v", states) })
	if !slices.Contains(states, "pending") {
		t.Errorf("the alert went %v: never pending before firing", states)
	}
	t.Logf("HopscopeErrorBudgetBurn went %v; %d requests of the burst failed", states, failed.Load())
}

// labelValues matches a Grafana variable's label_values(selector, label).
var labelValues = regexp.MustCompile(`^\s*label_values\((.*),\s*[A-Za-z_][A-Za-z0-9_]*\s*\)\s*$`)

// operatorCRDs is the directory of the Prometheus Operator's CRDs in its
// module, the version tools/promoperator pins.
func operatorCRDs(t *testing.T, ctx context.Context, root string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", "github.com/prometheus-operator/prometheus-operator")
	cmd.Dir = filepath.Join(root, "tools", "promoperator")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go mod download: %v", err)
	}
	var m struct{ Dir string }
	if err := json.Unmarshal(out, &m); err != nil || m.Dir == "" {
		t.Fatalf("go mod download: %v %s", err, out)
	}
	return filepath.Join(m.Dir, "example", "prometheus-operator-crd")
}

// startGeneratedPrometheus runs Prometheus on a free loopback port with
// the generated configuration, until the test ends.
func startGeneratedPrometheus(t *testing.T, k *cluster, dir string) string {
	t.Helper()
	port, err := realcomp.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	p, err := realcomp.Start("prometheus", exec.Command(k.bins["prometheus"], "--config.file="+filepath.Join(dir, "prometheus.yaml"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port), "--storage.tsdb.path="+filepath.Join(dir, "data"), "--log.level=warn"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	testkit.Eventually(t, "the generated configuration's Prometheus to be ready", 60*time.Second, func() bool {
		r, err := http.Get(base + "/-/ready")
		if err != nil {
			return false
		}
		r.Body.Close()
		return r.StatusCode == 200
	}, p.Output)
	return base
}

// promCountOf is the number of series expr returns.
func promCountOf(prom, expr string) (int, error) {
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := promGet(prom+"/api/v1/query?query="+url.QueryEscape(expr), &body); err != nil {
		return 0, err
	}
	if body.Status != "success" {
		return 0, fmt.Errorf("%s", body.Error)
	}
	return len(body.Data.Result), nil
}

// promRules is the number of rule groups loaded and what is wrong with
// any rule ("" when each evaluated without error).
func promRules(prom string) (int, string) {
	var body struct {
		Data struct {
			Groups []struct {
				Name  string `json:"name"`
				Rules []struct {
					Name      string `json:"name"`
					Health    string `json:"health"`
					LastError string `json:"lastError"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	if err := promGet(prom+"/api/v1/rules", &body); err != nil {
		return 0, err.Error()
	}
	var bad []string
	for _, g := range body.Data.Groups {
		for _, r := range g.Rules {
			if r.Health != "ok" {
				bad = append(bad, fmt.Sprintf("%s/%s: %s %s", g.Name, r.Name, r.Health, r.LastError))
			}
		}
	}
	return len(body.Data.Groups), strings.Join(bad, "; ")
}

// alertState is the state of alert for a series matching the matcher
// (firing over pending over ""), from /api/v1/alerts.
func alertState(prom, alert, matcher string) string {
	var body struct {
		Data struct {
			Alerts []struct {
				Labels map[string]string `json:"labels"`
				State  string            `json:"state"`
			} `json:"alerts"`
		} `json:"data"`
	}
	if promGet(prom+"/api/v1/alerts", &body) != nil {
		return ""
	}
	name, value, _ := strings.Cut(matcher, "=")
	value = strings.Trim(value, `"`)
	state := ""
	for _, a := range body.Data.Alerts {
		if a.Labels["alertname"] != alert || a.Labels[name] != value {
			continue
		}
		if a.State == "firing" || state == "" {
			state = a.State
		}
	}
	return state
}

func promGet(u string, v any) error {
	r, err := http.Get(u)
	if err != nil {
		return err
	}
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// loadIDs sends GET /api/orders/<id> through the edge with a new id each
// time from first on (never cached), until stop closes; failed counts the
// answers that were not 2xx-4xx.
func loadIDs(edge string, first int, stop <-chan struct{}) (failed *atomic.Int64, wait func()) {
	failed = new(atomic.Int64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		client := &http.Client{Timeout: 10 * time.Second}
		for id := first; ; id++ {
			select {
			case <-stop:
				return
			default:
			}
			r, err := client.Get(fmt.Sprintf("%s/api/orders/%d", edge, id))
			if err == nil {
				io.Copy(io.Discard, r.Body)
				r.Body.Close()
			}
			if err != nil || r.StatusCode >= 500 {
				failed.Add(1)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	return failed, func() { <-done }
}
