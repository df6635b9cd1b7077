package dashboards

import (
	"strconv"
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/bargauge"
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"

	"github.com/hopscope/hopscope/internal/contract"
)

// Units, as Grafana names them.
const (
	unitSeconds = "s"
	unitReqps   = "reqps"       // requests per second
	unitOps     = "ops"         // operations (backend calls) per second
	unitCps     = "cps"         // records, spans or events per second
	unitPercent = "percentunit" // a ratio, 0..1
	unitShort   = "short"
	unitBytes   = "bytes"
)

// Ranges of rate(): graphs over time use $__rate_interval (at least four
// scrape intervals, so a rate always has two samples); instant summaries
// cover the dashboard's whole time range.
const (
	overTime   = "$__rate_interval"
	wholeRange = "$__range"
)

// Label matchers, one per dashboard variable.
const (
	mCluster   = `cluster=~"$cluster"`
	mNamespace = `namespace=~"$namespace"`
	mService   = contract.LabelService + `=~"$service"`
	// mAppNamespace and mAppService select the same namespace and service
	// on the collector's series, which name the app they describe
	// k8s_namespace_name and service_name (their namespace label is the
	// collector's own, from its scrape).
	mAppNamespace = contract.LabelK8sNamespace + `=~"$namespace"`
	mAppService   = contract.LabelServiceName + `=~"$service"`
	mRoute        = contract.LabelRoute + `=~"$route"`
	mPod          = `pod=~"$pod"`
	mJob          = `job=~"$job"`
	mBackend      = contract.LabelBackend + `=~"$backend"`
	mProxy        = contract.LabelBackend + `=~"$proxy"`
	mHPA          = `horizontalpodautoscaler=~"$hpa"`
	mInbound      = contract.LabelDirection + `="` + contract.DirectionInbound + `"`
	// mCAdvisor and mKSM are the matchers the textbox variables
	// cadvisor_job and ksm_job hold, inserted raw (the ":raw" format:
	// Grafana's Prometheus data source would otherwise escape their
	// quotes). They come last in a selector, so an empty variable leaves
	// a trailing comma, which PromQL accepts.
	mCAdvisor = "${" + varCAdvisor + ":raw}"
	mKSM      = "${" + varKSM + ":raw}"
)

// Names of the variables that hold the scrape selectors of Options.
const (
	varCAdvisor = "cadvisor_job"
	varKSM      = "ksm_job"
)

// promDS is the Prometheus data source every panel and query uses: the
// dashboard's datasource variable.
func promDS() common.DataSourceRef {
	return common.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr("${datasource}")}
}

// --- PromQL ---

// sel returns the selector metric{matchers}.
func sel(metric string, matchers ...string) string {
	if len(matchers) == 0 {
		return metric
	}
	return metric + "{" + strings.Join(matchers, ", ") + "}"
}

// with returns matchers followed by more, in a new slice.
func with(matchers []string, more ...string) []string {
	return append(append([]string(nil), matchers...), more...)
}

// rate returns rate(series[window]).
func rate(series, window string) string {
	return "rate(" + series + "[" + window + "])"
}

// aggBy returns op by (labels) (expr), or op(expr) without labels.
func aggBy(op string, labels []string, expr string) string {
	if len(labels) == 0 {
		return op + "(" + expr + ")"
	}
	return op + " by (" + strings.Join(labels, ", ") + ") (" + expr + ")"
}

// sumBy returns sum by (labels) (expr), or sum(expr) without labels.
func sumBy(labels []string, expr string) string { return aggBy("sum", labels, expr) }

// by names the labels of an aggregation.
func by(labels ...string) []string { return labels }

// sumRate returns sum by (labels) (rate(series[window])).
func sumRate(labels []string, series, window string) string {
	return sumBy(labels, rate(series, window))
}

// quantile returns the q-quantile of the histogram whose _bucket series is
// buckets, per labels.
func quantile(q float64, labels []string, buckets, window string) string {
	return "histogram_quantile(" + strconv.FormatFloat(q, 'f', -1, 64) + ", " +
		sumRate(append([]string{"le"}, labels...), buckets, window) + ")"
}

// ratio returns num / den.
func ratio(num, den string) string { return num + " / " + den }

// failureRatio is the share, per labels, of the rate of metric's series in
// scope that match any of failed (matchers on different labels, joined
// with "or", which counts a series matching several once), among all its
// series in scope. Where nothing failed it is 0, not empty: the numerator
// falls back on 0 × the rate of all series.
func failureRatio(labels []string, metric string, scope []string, failed []string, window string) string {
	all := rate(sel(metric, scope...), window)
	var bad []string
	for _, f := range failed {
		bad = append(bad, rate(sel(metric, with(scope, f)...), window))
	}
	return ratio(
		sumBy(labels, strings.Join(bad, " or ")+" or 0 * "+all),
		sumBy(labels, all))
}

// percentiles are the quantiles latency panels show, with their names.
var percentiles = []struct {
	q    float64
	name string
}{{0.5, "p50"}, {0.95, "p95"}, {0.99, "p99"}}

// --- queries ---

// query is a range query for a graph.
func query(expr, legend string) *prometheus.DataqueryBuilder {
	return withLegend(prometheus.NewDataqueryBuilder().
		Datasource(promDS()).
		Expr(expr).
		Range(), legend)
}

// instant is an instant query, for a bar gauge: one value per series.
func instant(expr, legend string) *prometheus.DataqueryBuilder {
	return withLegend(prometheus.NewDataqueryBuilder().
		Datasource(promDS()).
		Expr(expr).
		Instant(), legend)
}

// tableQuery is an instant query whose result is a table: one row per
// series, a column per label and one for the value.
func tableQuery(expr string) *prometheus.DataqueryBuilder {
	return instant(expr, "").Format(prometheus.PromQueryFormatTable)
}

// withLegend sets a query's legend format, unless it is empty (a table
// column needs none).
func withLegend(q *prometheus.DataqueryBuilder, legend string) *prometheus.DataqueryBuilder {
	if legend == "" {
		return q
	}
	return q.LegendFormat(legend)
}

// percentileQueries returns one query per percentile of the histogram
// whose _bucket series is buckets, summed over every other label; the
// legend is the percentile's name.
func percentileQueries(buckets string) []*prometheus.DataqueryBuilder {
	qs := make([]*prometheus.DataqueryBuilder, 0, len(percentiles))
	for _, p := range percentiles {
		qs = append(qs, query(quantile(p.q, nil, buckets, overTime), p.name))
	}
	return qs
}

// --- panels ---

// panel is what every panel kind has in common.
type panel struct {
	title string
	desc  string // what the panel shows and which metric it reads
	unit  string
	w, h  uint32 // grid width (of 24) and height; 12×8 when zero
	// queries run in order, with refIds A, B, C, ...
	queries []*prometheus.DataqueryBuilder
}

// panelBuilder is the part of the SDK's panel builders that panel sets.
type panelBuilder[B any] interface {
	Title(string) B
	Description(string) B
	Datasource(common.DataSourceRef) B
	Span(uint32) B
	Height(uint32) B
	Unit(string) B
	WithTarget(cog.Builder[variants.Dataquery]) B
}

// setup applies p to b: title, description, data source, size, unit and
// the queries with their refIds.
func setup[B panelBuilder[B]](b B, p panel) B {
	w, h := p.w, p.h
	if w == 0 {
		w = 12
	}
	if h == 0 {
		h = 8
	}
	b = b.Title(p.title).Description(p.desc).Datasource(promDS()).Span(w).Height(h)
	if p.unit != "" {
		b = b.Unit(p.unit)
	}
	for i, q := range p.queries {
		b = b.WithTarget(q.RefId(refID(i)))
	}
	return b
}

// refID returns the i-th query's refId: A..Z.
func refID(i int) string { return string(rune('A' + i)) }

// qs lists queries.
func qs(q ...*prometheus.DataqueryBuilder) []*prometheus.DataqueryBuilder { return q }

// graph is a line graph.
func graph(p panel) *timeseries.PanelBuilder {
	return setup(timeseries.NewPanelBuilder(), p).
		LineWidth(1).
		FillOpacity(10).
		ShowPoints(common.VisibilityModeNever).
		Min(0).
		Legend(common.NewVizLegendOptionsBuilder().
			DisplayMode(common.LegendDisplayModeList).
			Placement(common.LegendPlacementBottom).
			ShowLegend(true)).
		Tooltip(common.NewVizTooltipOptionsBuilder().
			Mode(common.TooltipDisplayModeMulti).
			Sort(common.SortOrderDescending))
}

// stacked is a graph whose series stack, each on top of the previous.
func stacked(p panel) *timeseries.PanelBuilder {
	return graph(p).
		FillOpacity(60).
		Stacking(common.NewStackingConfigBuilder().Mode(common.StackingModeNormal))
}

// stacked100 is a graph whose series stack to 100%: each one's share.
func stacked100(p panel) *timeseries.PanelBuilder {
	return graph(p).
		FillOpacity(60).
		Stacking(common.NewStackingConfigBuilder().Mode(common.StackingModePercent))
}

// ratioGraph is a graph of a ratio, 0 to 100%.
func ratioGraph(p panel) *timeseries.PanelBuilder {
	p.unit = unitPercent
	return graph(p).Max(1)
}

// singleStat is a big number with a sparkline: the last value of its one
// query.
func singleStat(p panel) *stat.PanelBuilder {
	if p.w == 0 {
		p.w = 6
	}
	if p.h == 0 {
		p.h = 4
	}
	return setup(stat.NewPanelBuilder(), p).
		GraphMode(common.BigValueGraphModeArea).
		ColorMode(common.BigValueColorModeNone).
		ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"}))
}

// bars is a horizontal bar gauge of instant values, one bar per series.
func bars(p panel) *bargauge.PanelBuilder {
	return setup(bargauge.NewPanelBuilder(), p).
		Orientation(common.VizOrientationHorizontal).
		DisplayMode(common.BarGaugeDisplayModeGradient).
		ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"})).
		Min(0)
}

// column names one column of a table: the instant query with that refId
// becomes the column title, in the unit.
type column struct {
	refID, title, unit string
}

// tableOf is a table whose rows are joined on the labels of its instant
// queries, one column per query.
func tableOf(p panel, cols []column, sortBy string) *table.PanelBuilder {
	rename := map[string]any{}
	b := setup(table.NewPanelBuilder(), p)
	for _, c := range cols {
		rename["Value #"+c.refID] = c.title
		b = b.OverrideByName(c.title, []dashboard.DynamicConfigValue{{Id: "unit", Value: c.unit}})
	}
	return b.
		WithTransformation(dashboard.DataTransformerConfig{Id: "merge", Options: map[string]any{}}).
		WithTransformation(dashboard.DataTransformerConfig{Id: "organize", Options: map[string]any{
			"excludeByName": map[string]any{"Time": true},
			"renameByName":  rename,
		}}).
		Footer(common.NewTableFooterOptionsBuilder().Show(false).Reducer([]string{})).
		SortBy([]cog.Builder[common.TableSortByFieldState]{
			common.NewTableSortByFieldStateBuilder().DisplayName(sortBy).Desc(true),
		})
}

// errorThresholds colour a ratio of failures: green, orange from 1%, red
// from 5%.
func errorThresholds() *dashboard.ThresholdsConfigBuilder {
	return dashboard.NewThresholdsConfigBuilder().
		Mode(dashboard.ThresholdsModeAbsolute).
		Steps([]dashboard.Threshold{
			{Color: "green"},
			{Value: cog.ToPtr(0.01), Color: "orange"},
			{Value: cog.ToPtr(0.05), Color: "red"},
		})
}

// row starts a section; the panels that follow belong to it until the
// next row.
func row(title string) *dashboard.RowBuilder {
	return dashboard.NewRowBuilder(title)
}

// anyPanel is a panel of any kind, ready to build.
type anyPanel = cog.Builder[dashboard.Panel]

// --- variables ---

// variable is a dashboard variable of any kind, ready to build.
type variable = cog.Builder[dashboard.VariableModel]

// variables concatenates lists of variables.
func variables(groups ...[]variable) []variable {
	var out []variable
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

// datasourceVar lets the user pick a data source of a plugin type.
func datasourceVar(name, label, pluginID string) *dashboard.DatasourceVariableBuilder {
	return dashboard.NewDatasourceVariableBuilder(name).Label(label).Type(pluginID)
}

// labelVar is a multi-value variable listing the values of a label of
// metric's series that match matchers; "All" matches any value (and a
// missing label).
func labelVar(name, label, metric string, matchers []string, labelName string) *dashboard.QueryVariableBuilder {
	q := "label_values(" + sel(metric, matchers...) + ", " + labelName + ")"
	all := dashboard.StringOrArrayOfString{ArrayOfString: []string{"All"}}
	allValue := dashboard.StringOrArrayOfString{ArrayOfString: []string{"$__all"}}
	return dashboard.NewQueryVariableBuilder(name).
		Label(label).
		Datasource(promDS()).
		Query(dashboard.StringOrMap{String: &q}).
		Definition(q).
		Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
		Sort(dashboard.VariableSortAlphabeticalAsc).
		Multi(true).
		IncludeAll(true).
		AllValue(".*").
		Current(dashboard.VariableOption{Selected: cog.ToPtr(true), Text: all, Value: allValue})
}

// scopeVars are the chained variables cluster → namespace → service, each
// listing the values of metric's series that the ones before it select,
// and route, from routeMetric's series, when routeMetric is not empty.
// metric is a sidecar series: namespace from the scrape, service from the
// sidecar.
func scopeVars(metric, routeMetric string) []variable {
	return scopeVarsOf(metric, routeMetric, "namespace", contract.LabelService, mNamespace, mService)
}

// appScopeVars are scopeVars over a collector series, whose app is
// k8s_namespace_name and service_name.
func appScopeVars(metric, routeMetric string) []variable {
	return scopeVarsOf(metric, routeMetric, contract.LabelK8sNamespace, contract.LabelServiceName, mAppNamespace, mAppService)
}

func scopeVarsOf(metric, routeMetric, nsLabel, serviceLabel, nsMatcher, serviceMatcher string) []variable {
	vs := []variable{
		labelVar("cluster", "Cluster", metric, nil, "cluster"),
		labelVar("namespace", "Namespace", metric, []string{mCluster}, nsLabel),
		labelVar("service", "Service", metric, []string{mCluster, nsMatcher}, serviceLabel),
	}
	if routeMetric != "" {
		vs = append(vs, labelVar("route", "Route", routeMetric, []string{mCluster, nsMatcher, serviceMatcher}, contract.LabelRoute))
	}
	return vs
}

// prometheusVar picks the Prometheus data source.
func prometheusVar() *dashboard.DatasourceVariableBuilder {
	return datasourceVar("datasource", "Prometheus", "prometheus")
}

// jaegerVar picks the Jaeger data source that trace links open.
func jaegerVar() *dashboard.DatasourceVariableBuilder {
	return datasourceVar("jaeger", "Jaeger", "jaeger")
}

// selectorVar is a text box holding label matchers (PromQL without
// braces), value at first, that panels insert into their selectors.
func selectorVar(name, label, description, value string) *dashboard.TextBoxVariableBuilder {
	v := dashboard.StringOrArrayOfString{String: &value}
	return dashboard.NewTextBoxVariableBuilder(name).
		Label(label).
		Description(description).
		DefaultValue(dashboard.StringOrMap{String: &value}).
		Current(dashboard.VariableOption{Selected: cog.ToPtr(true), Text: v, Value: v}).
		Options([]dashboard.VariableOption{{Selected: cog.ToPtr(true), Text: v, Value: v}})
}

// cadvisorVar holds o.CAdvisorSelector.
func cadvisorVar(o Options) *dashboard.TextBoxVariableBuilder {
	return selectorVar(varCAdvisor, "cAdvisor job", "Label matchers (PromQL, without braces) that select the kubelet's cAdvisor scrape (container_* series); empty for none.", o.CAdvisorSelector)
}

// ksmVar holds o.KSMSelector.
func ksmVar(o Options) *dashboard.TextBoxVariableBuilder {
	return selectorVar(varKSM, "kube-state-metrics job", "Label matchers (PromQL, without braces) that select kube-state-metrics' scrape (kube_* series); empty for none.", o.KSMSelector)
}

// --- trace links ---

// traceLinkField is the exemplar label that holds the trace id.
const traceLinkField = contract.ExemplarTraceID

// jaegerExploreURL opens the trace whose id is the clicked value in
// Explore, on the Jaeger data source the jaeger variable picks.
const jaegerExploreURL = `/explore?left={"datasource":"${jaeger}","queries":[{"refId":"A","datasource":{"type":"jaeger","uid":"${jaeger}"},"query":"${__value.raw}"}],"range":{"from":"${__from}","to":"${__to}"}}`

// withTraceLinks makes the trace_id field of a graph's exemplars a link to
// the trace in Jaeger.
func withTraceLinks(b *timeseries.PanelBuilder) *timeseries.PanelBuilder {
	return b.OverrideByName(traceLinkField, []dashboard.DynamicConfigValue{{
		Id: "links",
		Value: []map[string]any{{
			"title":       "Open trace ${__value.raw} in Jaeger",
			"url":         jaegerExploreURL,
			"targetBlank": true,
		}},
	}})
}

// --- dashboards ---

// newDashboard starts a dashboard with hopscope's common settings: tag,
// time range, refresh, shared crosshair and a menu of the other hopscope
// dashboards that keeps the time range and the variables.
func newDashboard(uid, title, description string) *dashboard.DashboardBuilder {
	return dashboard.NewDashboardBuilder(title).
		Uid(uid).
		Description(description).
		Tags([]string{"hopscope"}).
		Time("now-1h", "now").
		Refresh("30s").
		Timezone(common.TimeZoneBrowser).
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		Link(dashboard.NewDashboardLinkBuilder("hopscope").
			Type(dashboard.DashboardLinkTypeDashboards).
			Tags([]string{"hopscope"}).
			AsDropdown(true).
			IncludeVars(true).
			KeepTime(true))
}
