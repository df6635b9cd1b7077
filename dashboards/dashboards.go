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

// Dashboard is one generated dashboard.
type Dashboard struct {
	UID     string // fixed, e.g. "hopscope-breakdown"
	Title   string
	File    string  // file name, e.g. "hopscope-breakdown.json"
	JSON    []byte  // indented JSON, trailing newline, deterministic
	Queries []Query // every Prometheus query of every panel (and of query variables)
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

// OutputDirs are the directories, relative to the module root, that hold
// the generated JSON files: one to import by hand, one the Helm chart
// ships.
var OutputDirs = []string{"dashboards/generated", "charts/hopscope/dashboards"}

// builders make every dashboard, in the order All returns them.
var builders = []func() *dashboard.DashboardBuilder{
	breakdownDashboard,
	sidecarDashboard,
	backendsDashboard,
	scalingDashboard,
	collectorDashboard,
}

// All builds every dashboard.
func All() ([]Dashboard, error) {
	out := make([]Dashboard, 0, len(builders))
	for _, b := range builders {
		d, err := build(b())
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
	return Dashboard{
		UID:     *m.Uid,
		Title:   *m.Title,
		File:    *m.Uid + ".json",
		JSON:    append(js, '\n'),
		Queries: queries,
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

// Write writes every dashboard's JSON file into dir, creating it, and
// removes the hopscope-*.json files there that no dashboard generates
// any more.
func Write(dir string, ds []Dashboard) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, d := range ds {
		path := filepath.Join(dir, d.File)
		if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, d.JSON) {
			continue
		}
		if err := os.WriteFile(path, d.JSON, 0o644); err != nil {
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
