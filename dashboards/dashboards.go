package dashboards

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
)

// Dashboard is one generated dashboard, in its two flavours.
type Dashboard struct {
	UID   string // fixed, e.g. "hopscope-breakdown"
	Title string
	File  string // file name, e.g. "hopscope-breakdown.json"
	// JSON is the provisioned flavour: data sources picked by the
	// dashboard's data source variables (datasource, jaeger), for
	// Grafana's file provisioning and the Grafana sidecar, which do not
	// resolve __inputs. Indented, trailing newline, deterministic.
	JSON []byte
	// Export is the flavour of Grafana's "Export for sharing
	// externally": __inputs (DS_PROMETHEUS, DS_JAEGER) that Grafana's
	// import asks for, __requires, and no data source variables.
	Export []byte
	// Queries are every Prometheus query of every panel (and of query
	// variables), with Grafana variables unexpanded.
	Queries []Query
	// Values are the values the dashboard's text box variables start
	// with, by name, to expand Queries as Grafana would.
	Values map[string]string
}

// Flavour is one of the two forms a dashboard's JSON is written in.
type Flavour int

const (
	// Provisioned is Dashboard.JSON.
	Provisioned Flavour = iota
	// Export is Dashboard.Export.
	Export
)

// String names the flavour as the generator's flags do.
func (f Flavour) String() string {
	if f == Export {
		return "export"
	}
	return "provisioned"
}

// bytes returns d's JSON in flavour f.
func (d Dashboard) bytes(f Flavour) []byte {
	if f == Export {
		return d.Export
	}
	return d.JSON
}

// Output is a directory, relative to the module root, that holds the
// generated dashboards in one flavour.
type Output struct {
	Dir     string
	Flavour Flavour
}

// Query is one PromQL expression of a panel, with Grafana variables
// unexpanded.
type Query struct {
	Panel    string // panel title, or "variable <name>"
	RefID    string
	Expr     string // for a variable, its label_values(selector, label)
	Exemplar bool
	Instant  bool
}

// Outputs are the directories the repository commits: the export flavour
// to import by hand in Grafana's UI, the provisioned flavour that the Helm
// chart ships in ConfigMaps for the Grafana sidecar.
var Outputs = []Output{
	{Dir: "dashboards/generated", Flavour: Export},
	{Dir: "charts/hopscope/dashboards", Flavour: Provisioned},
}

// builders make every dashboard, in the order All returns them.
var builders = []func(Options) *dashboard.DashboardBuilder{
	breakdownDashboard,
	sidecarDashboard,
	backendsDashboard,
	scalingDashboard,
	collectorDashboard,
}

// All builds every dashboard with DefaultOptions, as the committed files
// are.
func All() ([]Dashboard, error) { return Build(DefaultOptions()) }

// Build builds every dashboard with o.
func Build(o Options) ([]Dashboard, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	out := make([]Dashboard, 0, len(builders))
	for _, b := range builders {
		d, err := build(b(o))
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// build turns a dashboard builder into a Dashboard.
func build(b *dashboard.DashboardBuilder) (Dashboard, error) {
	m, err := b.Build()
	if err != nil {
		return Dashboard{}, fmt.Errorf("building dashboard: %w", err)
	}
	if m.Uid == nil || m.Title == nil {
		return Dashboard{}, fmt.Errorf("dashboard without uid or title")
	}
	numberPanels(&m)
	js, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return Dashboard{}, fmt.Errorf("dashboard %s: %w", *m.Uid, err)
	}
	queries, err := queriesOf(m)
	if err != nil {
		return Dashboard{}, fmt.Errorf("dashboard %s: %w", *m.Uid, err)
	}
	js = append(js, '\n')
	export, err := exportOf(js)
	if err != nil {
		return Dashboard{}, fmt.Errorf("dashboard %s: export flavour: %w", *m.Uid, err)
	}
	return Dashboard{
		UID:     *m.Uid,
		Title:   *m.Title,
		File:    *m.Uid + ".json",
		JSON:    js,
		Export:  export,
		Queries: queries,
		Values:  textBoxValues(m),
	}, nil
}

// panels returns every panel of m, those inside rows included, rows not.
func panels(m dashboard.Dashboard) []*dashboard.Panel {
	var out []*dashboard.Panel
	for _, p := range m.Panels {
		switch {
		case p.Panel != nil:
			out = append(out, p.Panel)
		case p.RowPanel != nil:
			for i := range p.RowPanel.Panels {
				out = append(out, &p.RowPanel.Panels[i])
			}
		}
	}
	return out
}

// numberPanels gives rows and panels the ids 1, 2, ... in their order:
// Grafana wants unique ids, and the JSON stays deterministic.
func numberPanels(m *dashboard.Dashboard) {
	id := uint32(0)
	for _, p := range m.Panels {
		switch {
		case p.Panel != nil:
			id++
			pid := id
			p.Panel.Id = &pid
		case p.RowPanel != nil:
			id++
			p.RowPanel.Id = id
			for i := range p.RowPanel.Panels {
				id++
				pid := id
				p.RowPanel.Panels[i].Id = &pid
			}
		}
	}
}

// queriesOf reads every Prometheus query of m: its panels' targets and its
// query variables.
func queriesOf(m dashboard.Dashboard) ([]Query, error) {
	var out []Query
	for _, v := range m.Templating.List {
		if v.Type != dashboard.VariableTypeQuery {
			continue
		}
		if v.Query == nil || v.Query.String == nil {
			return nil, fmt.Errorf("variable %s: no query", v.Name)
		}
		if _, err := labelValuesSelector(*v.Query.String); err != nil {
			return nil, fmt.Errorf("variable %s: %w", v.Name, err)
		}
		out = append(out, Query{Panel: "variable " + v.Name, Expr: *v.Query.String})
	}
	for _, p := range panels(m) {
		title := ""
		if p.Title != nil {
			title = *p.Title
		}
		for _, t := range p.Targets {
			var q *prometheus.Dataquery
			switch t := t.(type) {
			case prometheus.Dataquery:
				q = &t
			case *prometheus.Dataquery:
				q = t
			default:
				return nil, fmt.Errorf("panel %q: query of type %s, not Prometheus", title, t.DataqueryType())
			}
			out = append(out, Query{
				Panel:    title,
				RefID:    deref(q.RefId),
				Expr:     q.Expr,
				Exemplar: deref(q.Exemplar),
				Instant:  deref(q.Instant),
			})
		}
	}
	return out, nil
}

// textBoxValues returns the value each text box variable of m starts
// with.
func textBoxValues(m dashboard.Dashboard) map[string]string {
	out := map[string]string{}
	for _, v := range m.Templating.List {
		if v.Type == dashboard.VariableTypeTextbox && v.Query != nil && v.Query.String != nil {
			out[v.Name] = *v.Query.String
		}
	}
	return out
}

// labelValuesSelector returns the selector of label_values(selector, label),
// the PromQL a variable's query reads.
func labelValuesSelector(q string) (string, error) {
	inner, ok := strings.CutPrefix(q, "label_values(")
	if !ok || !strings.HasSuffix(inner, ")") {
		return "", fmt.Errorf("%q is not label_values(selector, label)", q)
	}
	inner = strings.TrimSuffix(inner, ")")
	i := strings.LastIndex(inner, ",")
	if i < 0 {
		return "", fmt.Errorf("%q is not label_values(selector, label)", q)
	}
	return strings.TrimSpace(inner[:i]), nil
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// Write writes every dashboard's JSON file in flavour f into dir,
// creating it, and removes the hopscope-*.json files there that no
// dashboard generates any more.
func Write(dir string, ds []Dashboard, f Flavour) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, d := range ds {
		path := filepath.Join(dir, d.File)
		if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, d.bytes(f)) {
			continue
		}
		if err := os.WriteFile(path, d.bytes(f), 0o644); err != nil {
			return err
		}
	}
	stale, err := Stale(dir, ds)
	if err != nil {
		return err
	}
	for _, f := range stale {
		if err := os.Remove(filepath.Join(dir, f)); err != nil {
			return err
		}
	}
	return nil
}

// Stale lists the hopscope-*.json files in dir that no dashboard of ds
// generates.
func Stale(dir string, ds []Dashboard) ([]string, error) {
	keep := map[string]bool{}
	for _, d := range ds {
		keep[d.File] = true
	}
	matches, err := filepath.Glob(filepath.Join(dir, "hopscope-*.json"))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, m := range matches {
		if f := filepath.Base(m); !keep[f] {
			out = append(out, f)
		}
	}
	return out, nil
}
