package rules

import (
	"fmt"

	"github.com/hopscope/hopscope/internal/contract"
)

// Per-hop latency quantiles recorded from the collector's
// hopscope_hop_duration_seconds, by (namespace, service, route, hop): the
// namespace and service of the app the hop belongs to, which the collector
// labels k8s_namespace_name and service_name (contract.LabelK8sNamespace)
// so that no scrape renames them, mapped here to the names the sidecar's
// series have (namespace from the scrape, service from the sidecar).
const (
	recHopP95Baseline = "hopscope:hop_duration_seconds:p95_1d"
	recHopP95         = "hopscope:hop_duration_seconds:p95_5m"
)

// hopQuantiles are the quantiles recorded over 5 minutes, by rule suffix.
var hopQuantiles = []struct {
	Name string
	Q    float64
}{{"p50", 0.5}, {"p95", 0.95}, {"p99", 0.99}}

// Hop-latency regression: the 5-minute p95 of a hop is more than
// regressionFactor times its 1-day p95 and above regressionFloorSeconds
// (so that a 0.1 ms → 0.3 ms sidecar hop does not alert), for
// regressionFor.
const (
	regressionFactor       = 2.0
	regressionFloorSeconds = 0.005
	regressionFor          = "30m"
)

func hopQuantile(q float64, window string) string {
	return fmt.Sprintf("histogram_quantile(%s, sum by (namespace, %s, %s, %s, le) (%s))",
		formatFloat(q), contract.LabelService, contract.LabelRoute, contract.LabelHop,
		appLabels(fmt.Sprintf("rate(%s_bucket[%s])", contract.MetricHopDuration, window)))
}

// appLabels wraps a vector expression over a collector series so that it
// carries the app's labels under the sidecar's names: namespace from
// k8s_namespace_name (replacing the collector's own namespace, which the
// scrape set; empty when the span named none) and service from
// service_name.
func appLabels(expr string) string {
	return fmt.Sprintf(`label_replace(label_replace(%s, "namespace", "$1", %q, "(.*)"), %q, "$1", %q, "(.*)")`,
		expr, contract.LabelK8sNamespace, contract.LabelService, contract.LabelServiceName)
}

// hopRecordingRules records p50, p95 and p99 over 5 minutes and the p95
// over one day, the baseline HopscopeHopLatencyRegression compares with.
func hopRecordingRules() []Rule {
	var out []Rule
	for _, q := range hopQuantiles {
		out = append(out, Rule{Record: "hopscope:hop_duration_seconds:" + q.Name + "_5m", Expr: hopQuantile(q.Q, "5m")})
	}
	return append(out, Rule{Record: recHopP95Baseline, Expr: hopQuantile(0.95, "1d")})
}

// hopAlerts returns HopscopeHopLatencyRegression.
//
// Its severity is warning: a hop twice as slow as yesterday is worth
// looking into in working hours, but it is not an SLO breach (the latency
// budget burn alert pages when users are hurt) and it is relative, so it
// also fires on a fast hop that became merely normal.
func hopAlerts() []Rule {
	return []Rule{{
		Alert: "HopscopeHopLatencyRegression",
		Expr: fmt.Sprintf("%s > %s * %s\nand\n%s > %s",
			recHopP95, formatFloat(regressionFactor), recHopP95Baseline, recHopP95, formatFloat(regressionFloorSeconds)),
		For:    regressionFor,
		Labels: map[string]string{"severity": severityWarning},
		Annotations: map[string]string{
			"summary": "The {{ $labels.hop }} hop of {{ $labels.service }} {{ $labels.route }} is slower than usual",
			"description": fmt.Sprintf("The 5-minute p95 of the {{ $labels.hop }} hop of {{ $labels.service }} {{ $labels.route }} in {{ $labels.namespace }} is {{ $value | humanizeDuration }}: more than %s× its 1-day p95 and above %s for %s.",
				formatFloat(regressionFactor), formatSeconds(regressionFloorSeconds), regressionFor),
		},
	}}
}

// formatSeconds writes a duration in seconds the way humanizeDuration
// writes short ones: 0.005 → "5ms".
func formatSeconds(s float64) string {
	if s < 1 {
		return formatFloat(s*1000) + "ms"
	}
	return formatFloat(s) + "s"
}
