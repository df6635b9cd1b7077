//go:build e2e

package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hopscope/hopscope/dashboards"
	"github.com/hopscope/hopscope/internal/promcheck"
	"github.com/hopscope/hopscope/internal/realcomp"
	"github.com/hopscope/hopscope/internal/testkit"
	"github.com/hopscope/hopscope/sidecar"
)

// TestDashboardScrapeSelectors runs the Scaling dashboard's cAdvisor and
// kube-state-metrics queries on a real Prometheus that scrapes them as
// kube-prometheus-stack does (kubeScrapeConfigs: the kubelet's cAdvisor
// and resource endpoints under job "kubelet", kube-state-metrics under its
// own job) beside two real sidecars: with the cadvisor_job and ksm_job
// variables at their defaults every such query returns a series, and the
// CPU usage per request counts each pod's CPU once; with the variables
// emptied (no selector, as the dashboards were before) it counts the
// kubelet's resource endpoint too and doubles.
func TestDashboardScrapeSelectors(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	t.Cleanup(app.Close)
	var sidecars []*sidecar.Sidecar
	for range shopPods {
		cfg := sidecar.DefaultConfig()
		cfg.Listen, cfg.AdminListen = "127.0.0.1:0", "127.0.0.1:0"
		cfg.Upstream, cfg.Service = app.URL, "shop"
		cfg.AccessLog, cfg.ShutdownGrace = "off", 0
		sc, _ := runSidecar(t, cfg)
		sidecars = append(sidecars, sc)
	}
	var sc strings.Builder
	sc.WriteString("scrape_configs:\n  - job_name: hopscope-sidecar\n    static_configs:\n")
	for i, s := range sidecars {
		fmt.Fprintf(&sc, "      - targets: [%q]\n        labels: {cluster: e2e, namespace: shop, pod: %s}\n", s.AdminAddr().String(), shopPods[i])
	}
	sc.WriteString(kubeScrapeConfigs(serveKubeExporters(t)))
	prom, stopProm, err := realcomp.PrometheusConfig(t.TempDir(), sc.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stopProm)
	client := &http.Client{Timeout: 5 * time.Second}
	for _, s := range sidecars {
		for range 3 {
			res, err := client.Get("http://" + s.Addr().String() + "/")
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
	}

	scaling := func(o dashboards.Options) dashboards.Dashboard {
		t.Helper()
		ds, err := dashboards.Build(o)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			if d.UID == "hopscope-scaling" {
				return d
			}
		}
		t.Fatal("no hopscope-scaling dashboard")
		return dashboards.Dashboard{}
	}
	def := scaling(dashboards.DefaultOptions())
	var checks []string
	for _, q := range def.Queries {
		if strings.Contains(q.Expr, "_job:raw}") {
			checks = append(checks, promcheck.Expand(q.Expr, def.Values))
		}
	}
	if len(checks) < 6 {
		t.Fatalf("only %d queries of the Scaling dashboard use cadvisor_job or ksm_job", len(checks))
	}
	empty := map[string]string{}
	testkit.Eventually(t, "every cAdvisor and kube-state-metrics query to return a series", 60*time.Second, func() bool {
		clear(empty)
		for _, c := range checks {
			if n, err := promCount(prom, c); err != nil || n == 0 {
				empty[c] = fmt.Sprintf("%d series, %v", n, err)
			}
		}
		return len(empty) == 0
	}, func() string {
		var lines []string
		for q, e := range empty {
			lines = append(lines, q+": "+e)
		}
		sort.Strings(lines)
		return strings.Join(lines, "\n")
	})

	// CPU usage / request, with the defaults and with no selectors.
	cpuQuery := func(d dashboards.Dashboard) string {
		for _, q := range d.Queries {
			if q.Panel == "CPU usage / request by pod" {
				return promcheck.Expand(q.Expr, d.Values)
			}
		}
		t.Fatal("no CPU usage / request panel")
		return ""
	}
	selected, unselected := cpuQuery(def), cpuQuery(scaling(dashboards.Options{}))
	var once, twice map[string]float64
	testkit.Eventually(t, "CPU usage per request for both pods, with and without selectors", 60*time.Second, func() bool {
		once, err = promVector(prom, selected)
		if err != nil || len(once) != len(shopPods) {
			return false
		}
		twice, err = promVector(prom, unselected)
		if err != nil || len(twice) != len(shopPods) {
			return false
		}
		// Until /metrics/resource has been scraped twice it adds no
		// rate: wait for it. A selector that does not work counts both
		// in both queries, and this never comes.
		for _, pod := range shopPods {
			if twice[pod] < 1.5*once[pod] {
				return false
			}
		}
		return true
	}, func() string { return fmt.Sprintf("%v / %v (%v)", once, twice, err) })
	for _, pod := range shopPods {
		if once[pod] <= 0 {
			t.Errorf("%s: CPU usage / request %v with the default selectors, want > 0", pod, once[pod])
			continue
		}
		r := twice[pod] / once[pod]
		t.Logf("%s: CPU usage / request %.4f with cadvisor_job at its default, %.4f without (×%.2f)", pod, once[pod], twice[pod], r)
		// ×2 by construction; the two targets are scraped at different
		// moments, so rate()'s extrapolation over the few samples of a
		// short run moves it (×2.07 to ×2.40 seen). A selector that does
		// not work counts twice in both queries: ×1.
		if r < 1.5 || r > 3 {
			t.Errorf("%s: without selectors the CPU usage is ×%.2f the cAdvisor one, want ×2 (cAdvisor and /metrics/resource)", pod, r)
		}
	}
}
