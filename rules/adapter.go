package rules

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"text/template"

	"github.com/hopscope/hopscope/internal/contract"
)

// AdapterRule is one entry of prometheus-adapter's rules: list (its
// config.DiscoveryRule, the fields hopscope uses).
type AdapterRule struct {
	// SeriesQuery selects the series the rule turns into custom metrics.
	SeriesQuery string `yaml:"seriesQuery"`
	// Resources maps Prometheus labels to Kubernetes resources.
	Resources AdapterResources `yaml:"resources"`
	// Name maps the series name to the custom metric's name.
	Name AdapterName `yaml:"name"`
	// MetricsQuery is the query the adapter runs for a metric request, a
	// Go template with << >> delimiters (see FillMetricsQuery).
	MetricsQuery string `yaml:"metricsQuery"`
}

// AdapterResources is the adapter's resources: block.
type AdapterResources struct {
	// Overrides maps a label name to the resource its values name.
	Overrides map[string]AdapterResource `yaml:"overrides"`
}

// AdapterResource is a Kubernetes group-resource; Group is empty for the
// core group.
type AdapterResource struct {
	Group    string `yaml:"group,omitempty"`
	Resource string `yaml:"resource"`
}

// AdapterName is the adapter's name: block. Matches is a regular
// expression on the series name, As the custom metric's name.
type AdapterName struct {
	Matches string `yaml:"matches"`
	As      string `yaml:"as"`
}

// podResources maps the namespace and pod labels the scrape adds to the
// sidecar's series.
var podResources = AdapterResources{Overrides: map[string]AdapterResource{
	"namespace": {Resource: "namespace"},
	"pod":       {Resource: "pod"},
}}

// AdapterRules exposes, per pod, hopscope_requests_per_second (the
// inbound request rate over 2 minutes) and hopscope_inflight_requests (the
// inbound requests in flight), for an HPA's type: Pods metrics.
func AdapterRules() []AdapterRule {
	return []AdapterRule{
		{
			SeriesQuery: contract.MetricRequests + `{namespace!="",pod!="",` + inbound + `}`,
			Resources:   podResources,
			Name:        AdapterName{Matches: "^" + contract.MetricRequests + "$", As: contract.AdapterRequestsPerSecond},
			// A pod that has served no request yet has no series of the
			// counter; its sidecar's in-flight gauge exists from its start,
			// so such a pod reports 0 instead of nothing. The HPA assumes
			// a pod without a value at its target when scaling down, and
			// would keep it (found by test/cluster's HPA subtest).
			MetricsQuery: `sum(rate(<<.Series>>{<<.LabelMatchers>>,` + inbound + `}[2m])) by (<<.GroupBy>>) or sum(` +
				contract.MetricInflight + `{<<.LabelMatchers>>,` + inbound + `}) by (<<.GroupBy>>) * 0`,
		},
		{
			SeriesQuery:  contract.MetricInflight + `{namespace!="",pod!="",` + inbound + `}`,
			Resources:    podResources,
			Name:         AdapterName{Matches: "^" + contract.MetricInflight + "$", As: contract.MetricInflight},
			MetricsQuery: `sum(<<.Series>>{<<.LabelMatchers>>,` + inbound + `}) by (<<.GroupBy>>)`,
		},
	}
}

// AdapterConfig returns prometheus-adapter's configuration file (the
// chart's rules.custom) with AdapterRules under rules:.
func AdapterConfig() ([]byte, error) {
	return marshal(struct {
		Rules []AdapterRule `yaml:"rules"`
	}{AdapterRules()})
}

// metricsQueryArgs are the fields prometheus-adapter gives a metricsQuery
// template (its naming.queryTemplateArgs).
type metricsQueryArgs struct {
	Series            string
	LabelMatchers     string
	LabelValuesByName map[string]string
	GroupBy           string
	GroupBySlice      []string
}

// FillMetricsQuery fills a metricsQuery template the way prometheus-adapter
// does when it answers a custom-metrics request (pkg/naming/metrics_query.go,
// NewMetricsQuery and metricsQuery.Build): the template is parsed by
// text/template with the delimiters << and >>, and executed with Series,
// LabelMatchers (the matchers joined by "," without spaces), GroupBy (the
// group-by labels joined by ","), GroupBySlice (the labels as given) and
// LabelValuesByName (each matcher's label mapped to its unquoted value).
// An empty result is an error, as in the adapter.
//
// matchers are PromQL label matchers as the adapter writes them
// (label="value", label=~"a|b", with Go's %q quoting), e.g.
// namespace="shop" and pod=~"shop-1|shop-2"; groupBy is e.g. ["pod"].
func FillMetricsQuery(tmpl, series string, matchers []string, groupBy []string) (string, error) {
	t, err := template.New("metrics-query").Delims("<<", ">>").Parse(tmpl)
	if err != nil {
		return "", fmt.Errorf("unable to parse metrics query template %q: %w", tmpl, err)
	}
	byName := map[string]string{}
	for _, m := range matchers {
		name, value, err := splitMatcher(m)
		if err != nil {
			return "", err
		}
		byName[name] = value
	}
	args := metricsQueryArgs{
		Series:            series,
		LabelMatchers:     strings.Join(matchers, ","),
		LabelValuesByName: byName,
		GroupBy:           strings.Join(groupBy, ","),
		GroupBySlice:      groupBy,
	}
	var b bytes.Buffer
	if err := t.Execute(&b, args); err != nil {
		return "", err
	}
	if b.Len() == 0 {
		return "", fmt.Errorf("empty query produced by metrics query template %q", tmpl)
	}
	return b.String(), nil
}

// splitMatcher reads label, operator and a quoted value.
func splitMatcher(m string) (name, value string, err error) {
	i := strings.IndexAny(m, "=!")
	if i <= 0 {
		return "", "", fmt.Errorf("label matcher %q: want label=\"value\", label!=\"value\", label=~\"re\" or label!~\"re\"", m)
	}
	name, rest := m[:i], m[i:]
	for _, op := range []string{"=~", "!~", "!=", "="} {
		if v, ok := strings.CutPrefix(rest, op); ok {
			value, err = strconv.Unquote(v)
			if err != nil {
				return "", "", fmt.Errorf("label matcher %q: the value is not a quoted string: %w", m, err)
			}
			return name, value, nil
		}
	}
	return "", "", fmt.Errorf("label matcher %q: unknown operator", m)
}
