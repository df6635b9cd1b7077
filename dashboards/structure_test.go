package dashboards

import (
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/hopscope/hopscope/internal/contract"
	"github.com/hopscope/hopscope/internal/promcheck"
)

// wantVariable is a dashboard variable: its name, kind (a data source
// plugin id, "query" or "textbox") and, for a query variable, the
// variables its query is filtered by.
type wantVariable struct {
	name, kind string
	after      []string
}

// scoped says that the selectors of the series whose name starts with
// prefix must carry the matchers.
type scoped struct {
	prefix   string
	matchers []string
}

var wantDashboards = []struct {
	uid, title string
	variables  []wantVariable
	scopes     []scoped // beyond cluster and namespace, which every selector carries
}{
	{
		uid: "hopscope-breakdown", title: "hopscope / Request latency breakdown",
		variables: []wantVariable{
			{"datasource", "prometheus", nil},
			{"jaeger", "jaeger", nil},
			{"cluster", "query", nil},
			{"namespace", "query", []string{"cluster"}},
			{"service", "query", []string{"cluster", "namespace"}},
			{"route", "query", []string{"cluster", "namespace", "service"}},
		},
		scopes: []scoped{{"hopscope_", []string{mService, mRoute}}},
	},
	{
		uid: "hopscope-sidecar", title: "hopscope / Sidecar golden signals",
		variables: []wantVariable{
			{"datasource", "prometheus", nil},
			{"jaeger", "jaeger", nil},
			{"cluster", "query", nil},
			{"namespace", "query", []string{"cluster"}},
			{"service", "query", []string{"cluster", "namespace"}},
			{"route", "query", []string{"cluster", "namespace", "service"}},
			{"pod", "query", []string{"cluster", "namespace", "service"}},
		},
		scopes: []scoped{
			{"hopscope_", []string{mService, mPod}},
			{"hopscope_request", []string{mRoute, mInbound}},
		},
	},
	{
		uid: "hopscope-backends", title: "hopscope / Backends",
		variables: []wantVariable{
			{"datasource", "prometheus", nil},
			{"jaeger", "jaeger", nil},
			{"cluster", "query", nil},
			{"namespace", "query", []string{"cluster"}},
			{"service", "query", []string{"cluster", "namespace"}},
			{"backend", "query", []string{"cluster", "namespace", "service"}},
			{"proxy", "query", []string{"cluster", "namespace", "service"}},
		},
		scopes: []scoped{
			{"hopscope_", []string{mService}},
			{"hopscope_backend_call_", []string{mBackend}},
			{"hopscope_backend_duration_", []string{mProxy}},
			{"hopscope_backend_connections", []string{mProxy}},
			{"hopscope_backend_retries_", []string{mProxy}},
			{"hopscope_backend_rate_limited_", []string{mProxy}},
			{"hopscope_backend_decode_errors_", []string{mProxy}},
			{"hopscope_backend_circuit_", []string{mProxy}},
		},
	},
	{
		uid: "hopscope-scaling", title: "hopscope / Scaling",
		variables: []wantVariable{
			{"datasource", "prometheus", nil},
			{"cluster", "query", nil},
			{"namespace", "query", []string{"cluster"}},
			{"service", "query", []string{"cluster", "namespace"}},
			{varCAdvisor, "textbox", nil},
			{varKSM, "textbox", nil},
			{"hpa", "query", []string{"cluster", "namespace"}},
		},
		scopes: []scoped{
			{"hopscope_", []string{mService}},
			{"kube_horizontalpodautoscaler_", []string{mHPA}},
			// The defaults of cadvisor_job and ksm_job (DefaultOptions).
			{"kube_", []string{`job="kube-state-metrics"`}},
			{"container_", []string{`job="kubelet"`, `metrics_path="/metrics/cadvisor"`}},
		},
	},
	{
		uid: "hopscope-collector", title: "hopscope / Collector",
		variables: []wantVariable{
			{"datasource", "prometheus", nil},
			{"cluster", "query", nil},
			{"namespace", "query", []string{"cluster"}},
			{"job", "query", []string{"cluster", "namespace"}},
			{"pod", "query", []string{"cluster", "namespace", "job"}},
		},
		scopes: []scoped{{"", []string{mJob, mPod}}},
	},
}

func TestDashboardsAndVariables(t *testing.T) {
	ds := built(t)
	if len(ds) != len(wantDashboards) {
		t.Fatalf("%d dashboards, want %d", len(ds), len(wantDashboards))
	}
	for i, want := range wantDashboards {
		d := ds[i]
		t.Run(want.uid, func(t *testing.T) {
			if d.UID != want.uid || d.Title != want.title || d.File != want.uid+".json" {
				t.Fatalf("dashboard %d is %q %q in %s, want %q %q in %s.json", i, d.UID, d.Title, d.File, want.uid, want.title, want.uid)
			}
			m := decode(t, d.JSON)
			if m.UID != d.UID || m.Title != d.Title {
				t.Errorf("JSON says %q %q", m.UID, m.Title)
			}
			vs := m.Templating.List
			if len(vs) != len(want.variables) {
				t.Fatalf("%d variables, want %d", len(vs), len(want.variables))
			}
			for j, wv := range want.variables {
				checkVariable(t, vs[j], wv, d)
			}
		})
	}
}

func checkVariable(t *testing.T, v jsonVariable, want wantVariable, d Dashboard) {
	t.Helper()
	if v.Name != want.name {
		t.Errorf("variable %q, want %q", v.Name, want.name)
		return
	}
	if want.kind == "textbox" {
		if v.Type != "textbox" || v.queryString() != d.Values[v.Name] || d.Values[v.Name] == "" {
			t.Errorf("variable %s: %s of %q (values %v), want a text box holding its default", v.Name, v.Type, v.queryString(), d.Values)
		}
		if !slices.ContainsFunc(d.Queries, func(q Query) bool { return refersTo(q.Expr, v.Name) }) {
			t.Errorf("variable %s: no query uses it", v.Name)
		}
		return
	}
	if want.kind != "query" {
		if v.Type != "datasource" || v.queryString() != want.kind {
			t.Errorf("variable %s: %s of %q, want a data source variable of %q", v.Name, v.Type, v.queryString(), want.kind)
		}
		return
	}
	q := v.queryString()
	if v.Type != "query" || !strings.HasPrefix(q, "label_values(") {
		t.Errorf("variable %s: %s %q, want a label_values() query", v.Name, v.Type, q)
	}
	if v.Datasource == nil || v.Datasource.UID != "${datasource}" {
		t.Errorf("variable %s: data source %v, want ${datasource}", v.Name, v.Datasource)
	}
	if !v.Multi || !v.IncludeAll || v.AllValue != ".*" {
		t.Errorf("variable %s: multi %v, includeAll %v, allValue %q; want multi, All = .*", v.Name, v.Multi, v.IncludeAll, v.AllValue)
	}
	for _, before := range want.after {
		m := before + `=~"$` + before + `"`
		if app, ok := appMatchers[m]; ok && appSeries(strings.TrimPrefix(q, "label_values(")) {
			m = app
		}
		if !strings.Contains(q, m) {
			t.Errorf("variable %s: %q is not filtered by $%s", v.Name, q, before)
		}
	}
	used := false
	for _, pq := range d.Queries {
		if !strings.HasPrefix(pq.Panel, "variable ") && refersTo(pq.Expr, v.Name) {
			used = true
		}
	}
	if !used {
		t.Errorf("variable %s: no panel uses it", v.Name)
	}
}

// refersTo reports whether expr uses the Grafana variable name.
func refersTo(expr, name string) bool {
	return regexp.MustCompile(`\$\{?` + name + `\b`).MatchString(expr)
}

// rangeOf matches a range or subquery of PromQL: [...].
var rangeOf = regexp.MustCompile(`\[[^\]]*\]`)

// counterOrHistogram matches the series that only make sense as a rate.
var counterOrHistogram = regexp.MustCompile(`_(total|bucket|sum|count)$`)

// appMatchers are the matchers of the namespace and service variables on
// the collector's series about apps (appSeries), which name the app's
// namespace and service k8s_namespace_name and service_name.
var appMatchers = map[string]string{mNamespace: mAppNamespace, mService: mAppService}

func appSeries(name string) bool {
	return strings.HasPrefix(name, contract.MetricHopDuration) || strings.HasPrefix(name, contract.MetricBackendCallDuration)
}

func TestQueryRangesAndMatchers(t *testing.T) {
	for i, d := range built(t) {
		want := wantDashboards[i]
		vars := map[string]string{}
		for _, v := range want.variables {
			vars[v.name] = "$" + v.name
		}
		maps.Copy(vars, d.Values)
		for _, q := range d.Queries {
			if strings.HasPrefix(q.Panel, "variable ") {
				continue
			}
			t.Run(d.UID+"/"+q.Panel+"/"+q.RefID, func(t *testing.T) {
				window := "[" + overTime + "]"
				if q.Instant {
					window = "[" + wholeRange + "]"
				}
				for _, r := range rangeOf.FindAllString(q.Expr, -1) {
					if r != window {
						t.Errorf("range %s in %s, want %s", r, q.Expr, window)
					}
				}
				sels, ranged, err := selectors(q.Expr, vars)
				if err != nil {
					t.Fatal(err)
				}
				for _, s := range sels {
					if counterOrHistogram.MatchString(s.Name) && !ranged[s] {
						t.Errorf("%s is a counter or histogram read without a range in %s", s.Name, q.Expr)
					}
					required := []string{mCluster, mNamespace}
					for _, sc := range want.scopes {
						if strings.HasPrefix(s.Name, sc.prefix) {
							required = append(required, sc.matchers...)
						}
					}
					for _, m := range required {
						if app, ok := appMatchers[m]; ok && appSeries(s.Name) {
							m = app
						}
						if !hasMatcher(s, m) {
							t.Errorf("selector %s lacks %s", s, m)
						}
					}
				}
			})
		}
	}
}

// selectors parses expr, its dashboard variables kept as "$name" and the
// interval variables expanded, and returns its selectors and which of them
// are read over a range.
func selectors(expr string, vars map[string]string) ([]*parser.VectorSelector, map[*parser.VectorSelector]bool, error) {
	e, err := parser.NewParser(parser.Options{}).ParseExpr(promcheck.Expand(expr, vars))
	if err != nil {
		return nil, nil, err
	}
	var sels []*parser.VectorSelector
	ranged := map[*parser.VectorSelector]bool{}
	parser.Inspect(e, func(n parser.Node, path []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		sels = append(sels, vs)
		if len(path) > 0 {
			if _, ok := path[len(path)-1].(*parser.MatrixSelector); ok {
				ranged[vs] = true
			}
		}
		return nil
	})
	return sels, ranged, nil
}

// hasMatcher reports whether vs carries the matcher m, written as PromQL.
func hasMatcher(vs *parser.VectorSelector, m string) bool {
	for _, lm := range vs.LabelMatchers {
		if lm.Name != labels.MetricName && lm.String() == m {
			return true
		}
	}
	return false
}

func TestPanels(t *testing.T) {
	for _, d := range built(t) {
		t.Run(d.UID, func(t *testing.T) {
			m := decode(t, d.JSON)
			titles := map[string]bool{}
			ids := map[int]bool{}
			var boxes []jsonPanel
			for _, p := range m.Panels {
				for _, q := range append([]jsonPanel{p}, p.Panels...) {
					if titles[q.Title] {
						t.Errorf("two panels titled %q", q.Title)
					}
					titles[q.Title] = true
					if ids[q.ID] || q.ID == 0 {
						t.Errorf("panel %q: id %d missing or taken", q.Title, q.ID)
					}
					ids[q.ID] = true
					boxes = append(boxes, q)
				}
			}
			checkLayout(t, boxes)
			hasJaeger := slices.ContainsFunc(m.Templating.List, func(v jsonVariable) bool { return v.Name == "jaeger" })
			for _, p := range m.panels() {
				checkPanel(t, p, hasJaeger)
			}
		})
	}
}

func checkPanel(t *testing.T, p jsonPanel, hasJaeger bool) {
	t.Helper()
	if p.Title == "" || p.Description == "" {
		t.Errorf("panel %d: title %q, description %q; want both", p.ID, p.Title, p.Description)
	}
	if p.Datasource == nil || p.Datasource.Type != "prometheus" || p.Datasource.UID != "${datasource}" {
		t.Errorf("panel %q: data source %+v, want prometheus ${datasource}", p.Title, p.Datasource)
	}
	switch p.Type {
	case "text":
		return
	case "timeseries", "stat", "bargauge":
		if p.FieldConfig.Defaults.Unit == "" {
			t.Errorf("panel %q: no unit", p.Title)
		}
	}
	if len(p.Targets) == 0 {
		t.Errorf("panel %q: no query", p.Title)
	}
	refIDs := map[string]bool{}
	exemplars := false
	for _, tg := range p.Targets {
		if refIDs[tg.RefID] || tg.RefID == "" {
			t.Errorf("panel %q: refId %q missing or repeated", p.Title, tg.RefID)
		}
		refIDs[tg.RefID] = true
		if tg.Datasource == nil || tg.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q query %s: data source %+v, want ${datasource}", p.Title, tg.RefID, tg.Datasource)
		}
		if p.Type == "timeseries" && tg.Instant {
			t.Errorf("panel %q query %s: an instant query in a graph", p.Title, tg.RefID)
		}
		exemplars = exemplars || tg.Exemplar
	}
	if exemplars {
		if !hasJaeger {
			t.Errorf("panel %q shows exemplars but the dashboard has no jaeger variable", p.Title)
		}
		if link := traceLink(p); !strings.Contains(link, "${jaeger}") || !strings.Contains(link, "${__value.raw}") {
			t.Errorf("panel %q shows exemplars without a trace_id link to ${jaeger}: %q", p.Title, link)
		}
	}
}

// traceLink returns the links of the panel's trace_id field, as JSON.
func traceLink(p jsonPanel) string {
	for _, o := range p.FieldConfig.Overrides {
		if o.Matcher.ID != "byName" || o.Matcher.Options != traceLinkField {
			continue
		}
		for _, prop := range o.Properties {
			if prop.ID == "links" {
				return string(prop.Value)
			}
		}
	}
	return ""
}

// checkLayout checks that panels fit the 24-column grid and do not
// overlap.
func checkLayout(t *testing.T, ps []jsonPanel) {
	t.Helper()
	for i, p := range ps {
		g := p.GridPos
		if g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
			t.Errorf("panel %q: grid position %+v off the grid", p.Title, g)
		}
		for _, q := range ps[:i] {
			h := q.GridPos
			if g.X < h.X+h.W && h.X < g.X+g.W && g.Y < h.Y+h.H && h.Y < g.Y+g.H {
				t.Errorf("panels %q %+v and %q %+v overlap", q.Title, h, p.Title, g)
			}
		}
	}
}

func TestHelpers(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{sel("m"), "m"},
		{sel("m", mCluster, mNamespace), `m{cluster=~"$cluster", namespace=~"$namespace"}`},
		{sumRate(nil, "m", overTime), "sum(rate(m[$__rate_interval]))"},
		{sumRate(by("a", "b"), "m", wholeRange), "sum by (a, b) (rate(m[$__range]))"},
		{quantile(0.95, by("hop"), "m_bucket", overTime), "histogram_quantile(0.95, sum by (le, hop) (rate(m_bucket[$__rate_interval])))"},
		{failureRatio(by("a"), "m", []string{mCluster}, []string{`x="y"`}, overTime),
			`sum by (a) (rate(m{cluster=~"$cluster", x="y"}[$__rate_interval]) or 0 * rate(m{cluster=~"$cluster"}[$__rate_interval])) / sum by (a) (rate(m{cluster=~"$cluster"}[$__rate_interval]))`},
		{failureRatio(nil, "m", []string{mCluster}, []string{`x="y"`, `z="w"`}, overTime),
			`sum(rate(m{cluster=~"$cluster", x="y"}[$__rate_interval]) or rate(m{cluster=~"$cluster", z="w"}[$__rate_interval]) or 0 * rate(m{cluster=~"$cluster"}[$__rate_interval])) / sum(rate(m{cluster=~"$cluster"}[$__rate_interval]))`},
		{refID(0) + " " + refID(25), "A Z"},
	} {
		if tc.got != tc.want {
			t.Errorf("got  %s\nwant %s", tc.got, tc.want)
		}
	}
}

// TestErrorRatiosCountGRPC: every error ratio of the sidecar dashboard
// counts the 5xx responses and the gRPC calls failed by the server, which
// answer HTTP 200 (hopscope_requests_total{grpc_code}), as the SLO rules
// do; the client's gRPC errors (NotFound, ...) are not among them.
func TestErrorRatiosCountGRPC(t *testing.T) {
	wantMatchers := []string{
		`code=~"5.."`,
		`grpc_code=~"Unknown|DeadlineExceeded|Unimplemented|Internal|Unavailable|DataLoss"`,
	}
	var ratios int
	for _, d := range built(t) {
		if d.UID != "hopscope-sidecar" {
			continue
		}
		for _, q := range d.Queries {
			if !strings.HasPrefix(q.Panel, "Error ratio") {
				continue
			}
			ratios++
			sels, _, err := selectors(q.Expr, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range wantMatchers {
				if !slices.ContainsFunc(sels, func(s *parser.VectorSelector) bool { return hasMatcher(s, m) }) {
					t.Errorf("%s: %s does not count %s", q.Panel, q.Expr, m)
				}
			}
		}
	}
	if ratios != 3 {
		t.Errorf("%d error ratio queries, want 3 (the stat, by route, by pod)", ratios)
	}
}
