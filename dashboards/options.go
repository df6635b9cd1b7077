package dashboards

import (
	"fmt"
	"strings"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// Options are the generator's settings that differ from one cluster's
// Prometheus to another's. Each becomes the default of a dashboard
// variable, so that users change it in Grafana without regenerating.
type Options struct {
	// CAdvisorSelector holds the label matchers, PromQL without braces,
	// that pick the kubelet's cAdvisor scrape out of the series named
	// container_* (flag -cadvisor-selector; the dashboards' cadvisor_job
	// variable). The kubelet's /metrics/resource endpoint exposes
	// container_cpu_usage_seconds_total too, so without a metrics_path
	// matcher a CPU sum counts twice. Empty: no matcher.
	CAdvisorSelector string
	// KSMSelector holds the label matchers, PromQL without braces, that
	// pick kube-state-metrics' scrape out of the kube_* series (flag
	// -ksm-selector; the dashboards' ksm_job variable). Empty: no
	// matcher.
	KSMSelector string
}

// DefaultOptions are the scrape jobs of kube-prometheus-stack: the
// kubelet ServiceMonitor's cAdvisor endpoint (job "kubelet", its
// metrics_path label /metrics/cadvisor) and the kube-state-metrics
// ServiceMonitor (job "kube-state-metrics").
func DefaultOptions() Options {
	return Options{
		CAdvisorSelector: `job="kubelet", metrics_path="/metrics/cadvisor"`,
		KSMSelector:      `job="kube-state-metrics"`,
	}
}

// Validate checks that each selector is a list of label matchers that
// can stand inside a PromQL selector's braces.
func (o Options) Validate() error {
	for _, s := range []struct{ flag, value string }{
		{"-cadvisor-selector", o.CAdvisorSelector},
		{"-ksm-selector", o.KSMSelector},
	} {
		if err := validSelector(s.value); err != nil {
			return fmt.Errorf("%s %q: %w", s.flag, s.value, err)
		}
	}
	return nil
}

// validSelector checks matchers, the inside of a selector's braces.
func validSelector(matchers string) error {
	if strings.TrimSpace(matchers) == "" {
		return nil
	}
	if strings.ContainsAny(matchers, "{}") {
		return fmt.Errorf("want label matchers without braces, such as job=\"kubelet\"")
	}
	ms, err := parser.NewParser(parser.Options{}).ParseMetricSelector("{" + matchers + "}")
	if err != nil {
		return fmt.Errorf("not PromQL label matchers: %w", err)
	}
	for _, m := range ms {
		if m.Name == labels.MetricName {
			return fmt.Errorf("matches the metric name %s, which the dashboards choose", m)
		}
	}
	return nil
}
