package rules

import "strings"

// DefaultRunbookBaseURL is the page every alert's runbook_url points into
// in the generated rule files: docs/runbooks.md on GitHub. The chart's
// PrometheusRule takes its base from .Values.prometheusRule.runbookBaseURL
// instead (default: this), so that a copy of the page elsewhere (a wiki)
// can be linked.
const DefaultRunbookBaseURL = "https://github.com/hopscope/hopscope/blob/main/docs/runbooks.md"

// RunbookAnchor is the anchor of alert's section in docs/runbooks.md: the
// alert name in lower case, which is how GitHub (and most Markdown
// renderers) make an anchor of a heading "## HopscopeErrorBudgetBurn".
// Stable as long as the alert keeps its name.
func RunbookAnchor(alert string) string {
	return strings.ToLower(alert)
}

// RunbookURL is the runbook_url annotation of alert for a runbook page at
// base.
func RunbookURL(base, alert string) string {
	return base + "#" + RunbookAnchor(alert)
}

// withRunbooks sets the runbook_url annotation of every alerting rule of
// groups to its section of the page at base.
func withRunbooks(groups []Group, base string) {
	for _, g := range groups {
		for i, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			ann := make(map[string]string, len(r.Annotations)+1)
			for k, v := range r.Annotations {
				ann[k] = v
			}
			ann["runbook_url"] = RunbookURL(base, r.Alert)
			g.Rules[i].Annotations = ann
		}
	}
}
