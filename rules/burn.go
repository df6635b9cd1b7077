package rules

import (
	"fmt"
	"strings"
)

// burnPair is one multi-window burn-rate condition: the error ratio over
// both the long and the short window is above Factor times the error
// budget. The long window makes the alert significant, the short one makes
// it stop soon after the burn stops.
type burnPair struct {
	Long, Short string
	Factor      float64
}

// burnSeverity is one alerting rule per objective: it fires when any of
// its pairs holds, for For.
type burnSeverity struct {
	Severity string // the severity label
	Action   string // what it asks of people, for the description
	For      string
	Pairs    []burnPair
}

// Alert severities. Every hopscope alert carries one of the two, as the
// kube-prometheus-stack and kubernetes-mixin alerts do, so that one
// Alertmanager route per value suffices: critical pages someone now,
// warning opens a ticket for working hours.
const (
	severityCritical = "critical"
	severityWarning  = "warning"
)

// burnPolicy is the multi-window, multi-burn-rate table of the Google SRE
// workbook ("Alerting on SLOs", ch. 5) for a 30-day budget: page (critical)
// when 2% of the budget burns in an hour (14.4×) or 5% in six hours (6×),
// ticket (warning) when 10% burns in a day (3×) or 10% in three days (1×).
//
// For: a page waits 2 minutes, so that one bad scrape does not wake anyone
// and a real burn pages within minutes; a ticket waits 15 minutes, its
// windows being hours long.
var burnPolicy = []burnSeverity{
	{Severity: severityCritical, Action: "page", For: "2m", Pairs: []burnPair{{"1h", "5m", 14.4}, {"6h", "30m", 6}}},
	{Severity: severityWarning, Action: "ticket", For: "15m", Pairs: []burnPair{{"1d", "2h", 3}, {"3d", "6h", 1}}},
}

// burnObjective is what one burn alert watches.
type burnObjective struct {
	alert     string
	budget    string  // the budget's name in the summary
	ratio     string  // recorded series prefix, the window appended
	objective float64 // the budget is 1 − objective
	what      string  // the objective in words, for the annotations
	bad       string  // what a bad request is, for the annotations
}

// burnAlerts returns HopscopeErrorBudgetBurn and HopscopeLatencyBudgetBurn,
// one rule per severity of burnPolicy each.
//
// The expression compares burn rates (ratio ÷ budget), not ratios, so the
// alert's value is the burn rate over the long window of the first pair
// that holds.
func burnAlerts(slo SLO) []Rule {
	objs := []burnObjective{
		{
			alert:     "HopscopeErrorBudgetBurn",
			budget:    "error",
			ratio:     recErrorRatio,
			objective: slo.AvailabilityObjective,
			what:      fmt.Sprintf("availability objective (%s%% of requests without a 5xx or a gRPC server error)", percent(slo.AvailabilityObjective)),
			bad:       "5xx responses and gRPC server errors",
		},
		{
			alert:     "HopscopeLatencyBudgetBurn",
			budget:    "latency",
			ratio:     recSlowRatio,
			objective: slo.LatencyObjective,
			what:      fmt.Sprintf("latency objective (%s%% of requests faster than %ss)", percent(slo.LatencyObjective), formatFloat(slo.LatencyThresholdSeconds)),
			bad:       fmt.Sprintf("requests slower than %ss", formatFloat(slo.LatencyThresholdSeconds)),
		},
	}
	var out []Rule
	for _, o := range objs {
		budget := fmt.Sprintf("(1 - %s)", formatFloat(o.objective))
		for _, sev := range burnPolicy {
			var alts, words []string
			for _, p := range sev.Pairs {
				f := formatFloat(p.Factor)
				alts = append(alts, fmt.Sprintf("(\n  %s%s / %s > %s\nand\n  %s%s / %s > %s\n)",
					o.ratio, p.Long, budget, f, o.ratio, p.Short, budget, f))
				words = append(words, fmt.Sprintf("above %s× over both %s and %s", f, p.Long, p.Short))
			}
			out = append(out, Rule{
				Alert:  o.alert,
				Expr:   strings.Join(alts, "\nor\n"),
				For:    sev.For,
				Labels: map[string]string{"severity": sev.Severity},
				Annotations: map[string]string{
					"summary": fmt.Sprintf(`{{ $labels.service }} in {{ $labels.namespace }} burns its %s budget at {{ printf "%%.1f" $value }}× the sustainable rate`, o.budget),
					"description": fmt.Sprintf(`{{ $labels.namespace }}/{{ $labels.service }}: %s use up the error budget of its %s {{ printf "%%.1f" $value }} times faster than a 30-day budget allows (%s when %s).`,
						o.bad, o.what, sev.Action, strings.Join(words, ", or ")),
				},
			})
		}
	}
	return out
}
