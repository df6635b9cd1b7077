// Package promcheck checks the PromQL that hopscope ships — dashboard
// panels, alerting and recording rules, prometheus-adapter rules — against
// the contract's metrics (internal/contract), which the sidecar, its
// backend proxies and the collector are tested to register exactly, so
// that a renamed metric fails a test instead of leaving a panel empty.
package promcheck

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// External lists the series hopscope's dashboards may read that other
// exporters provide, each with the documentation that defines it.
var External = map[string]string{
	"kube_horizontalpodautoscaler_status_desired_replicas": "kube-state-metrics docs/metrics/workload/horizontalpodautoscaler-metrics.md",
	"kube_horizontalpodautoscaler_status_current_replicas": "kube-state-metrics docs/metrics/workload/horizontalpodautoscaler-metrics.md",
	"kube_horizontalpodautoscaler_spec_max_replicas":       "kube-state-metrics docs/metrics/workload/horizontalpodautoscaler-metrics.md",
	"kube_horizontalpodautoscaler_spec_min_replicas":       "kube-state-metrics docs/metrics/workload/horizontalpodautoscaler-metrics.md",
	"kube_horizontalpodautoscaler_spec_target_metric":      "kube-state-metrics docs/metrics/workload/horizontalpodautoscaler-metrics.md",
	"kube_pod_container_resource_requests":                 "kube-state-metrics docs/metrics/workload/pod-metrics.md",
	"kube_pod_container_resource_limits":                   "kube-state-metrics docs/metrics/workload/pod-metrics.md",
	"container_cpu_usage_seconds_total":                    "cAdvisor docs/storage/prometheus.md",
	"container_cpu_cfs_periods_total":                      "cAdvisor docs/storage/prometheus.md",
	"container_cpu_cfs_throttled_periods_total":            "cAdvisor docs/storage/prometheus.md",
	"container_memory_working_set_bytes":                   "cAdvisor docs/storage/prometheus.md",
}

// grafanaVar matches Grafana's variable forms: $name, ${name},
// ${name:format} and [[name]].
var grafanaVar = regexp.MustCompile(`\$\{([A-Za-z0-9_]+)(?::[a-z]+)?\}|\$([A-Za-z0-9_]+)|\[\[([A-Za-z0-9_]+)\]\]`)

// Expand replaces Grafana's variables in expr the way Grafana would before
// sending it to Prometheus: each name in vars by its value, the interval
// variables ($__rate_interval, $__interval, $__range) by a duration, and
// any other variable by ".*" (a multi-value variable set to All).
func Expand(expr string, vars map[string]string) string {
	return grafanaVar.ReplaceAllStringFunc(expr, func(m string) string {
		sub := grafanaVar.FindStringSubmatch(m)
		name := sub[1] + sub[2] + sub[3]
		if v, ok := vars[name]; ok {
			return v
		}
		switch name {
		case "__rate_interval", "__range", "__range_s":
			return "5m"
		case "__interval":
			return "1m"
		}
		return ".*"
	})
}

// Metrics parses expr (Grafana variables expanded with Expand) and returns
// the metric names its selectors name, sorted and without repeats. A
// selector without a name (only {__name__=~...} or label matchers) is an
// error: a shipped query must say what it reads.
func Metrics(expr string) ([]string, error) {
	e, err := parser.NewParser(parser.Options{}).ParseExpr(Expand(expr, nil))
	if err != nil {
		return nil, fmt.Errorf("parsing %q: %w", expr, err)
	}
	seen := map[string]bool{}
	var walkErr error
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		if name == "" {
			for _, m := range vs.LabelMatchers {
				if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
					name = m.Value
				}
			}
		}
		if name == "" {
			walkErr = fmt.Errorf("%q: selector %s names no metric", expr, vs)
			return walkErr
		}
		seen[name] = true
		return nil
	})
	if walkErr != nil {
		return nil, walkErr
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out, nil
}

// Checker knows every series name a shipped query may read.
type Checker struct {
	known map[string]string // name → where it comes from
}

// NewChecker knows the series the sidecar and the collector expose (from
// Series) and the External ones.
func NewChecker() (*Checker, error) {
	reg, err := Series()
	if err != nil {
		return nil, err
	}
	c := &Checker{known: map[string]string{}}
	for n, from := range reg {
		c.known[n] = from
	}
	for n, from := range External {
		c.known[n] = from
	}
	return c, nil
}

// AddRecorded makes the series a recording rule writes known.
func (c *Checker) AddRecorded(name, from string) { c.known[name] = from }

// Check parses expr and names every series it reads that nobody provides.
func (c *Checker) Check(expr string) error {
	names, err := Metrics(expr)
	if err != nil {
		return err
	}
	var unknown []string
	for _, n := range names {
		if _, ok := c.known[n]; !ok {
			unknown = append(unknown, n)
		}
	}
	if len(unknown) > 0 {
		return fmt.Errorf("%q reads %s, which neither the sidecar, the collector, a recording rule nor a documented exporter provides", expr, strings.Join(unknown, ", "))
	}
	return nil
}
