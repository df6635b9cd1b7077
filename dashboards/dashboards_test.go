package dashboards

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hopscope/hopscope/internal/promcheck"
	"github.com/hopscope/hopscope/internal/testkit"
)

// moduleRoot is the module's root seen from this package's directory,
// where tests run.
const moduleRoot = ".."

func built(t *testing.T) []Dashboard {
	t.Helper()
	ds, err := All()
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func TestCommittedFilesAreCurrent(t *testing.T) {
	ds := built(t)
	if len(Outputs) != 2 || Outputs[0].Flavour == Outputs[1].Flavour {
		t.Fatalf("outputs %+v: want one directory per flavour", Outputs)
	}
	for _, out := range Outputs {
		dir := out.Dir
		path := filepath.Join(moduleRoot, filepath.FromSlash(dir))
		if testkit.Update() {
			if err := Write(path, ds, out.Flavour); err != nil {
				t.Fatal(err)
			}
		}
		for _, d := range ds {
			t.Run(dir+"/"+d.File, func(t *testing.T) {
				got, err := os.ReadFile(filepath.Join(path, d.File))
				if err != nil {
					t.Fatalf("%v: run go generate ./dashboards", err)
				}
				if !bytes.Equal(got, d.bytes(out.Flavour)) {
					t.Errorf("%s/%s differs from the %s flavour the code generates: run go generate ./dashboards", dir, d.File, out.Flavour)
				}
			})
		}
		stale, err := Stale(path, ds)
		if err != nil {
			t.Fatal(err)
		}
		if len(stale) > 0 {
			t.Errorf("%s holds %s, which no dashboard generates: run go generate ./dashboards", dir, strings.Join(stale, ", "))
		}
	}
}

func TestQueriesReadKnownMetrics(t *testing.T) {
	c, err := promcheck.NewChecker()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range built(t) {
		if len(d.Queries) == 0 {
			t.Errorf("%s: no queries", d.UID)
		}
		for _, q := range d.Queries {
			t.Run(d.UID+"/"+q.Panel+"/"+q.RefID, func(t *testing.T) {
				expr := q.Expr
				if strings.HasPrefix(q.Panel, "variable ") {
					sel, err := labelValuesSelector(expr)
					if err != nil {
						t.Fatal(err)
					}
					expr = sel
				}
				if err := c.Check(promcheck.Expand(expr, d.Values)); err != nil {
					t.Error(err)
				}
			})
		}
	}
}

func TestDeterministicJSON(t *testing.T) {
	a, b := built(t), built(t)
	if len(a) != len(b) {
		t.Fatalf("%d dashboards, then %d", len(a), len(b))
	}
	for i := range a {
		for _, f := range []Flavour{Provisioned, Export} {
			if !bytes.Equal(a[i].bytes(f), b[i].bytes(f)) {
				t.Errorf("%s: two builds give different JSON (%s)", a[i].UID, f)
			}
			if !json.Valid(a[i].bytes(f)) {
				t.Errorf("%s: invalid JSON (%s)", a[i].UID, f)
			}
			if !bytes.HasSuffix(a[i].bytes(f), []byte("}\n")) {
				t.Errorf("%s: JSON does not end with a newline (%s)", a[i].UID, f)
			}
		}
	}
}

// TestQueriesMatchJSON checks Queries against the queries the JSON holds:
// every target of every panel, then nothing else but the variables.
func TestQueriesMatchJSON(t *testing.T) {
	for _, d := range built(t) {
		t.Run(d.UID, func(t *testing.T) {
			m := decode(t, d.JSON)
			var want []Query
			for _, v := range m.Templating.List {
				if v.Type == "query" {
					want = append(want, Query{Panel: "variable " + v.Name, Expr: v.queryString()})
				}
			}
			for _, p := range m.panels() {
				for _, tg := range p.Targets {
					want = append(want, Query{Panel: p.Title, RefID: tg.RefID, Expr: tg.Expr, Exemplar: tg.Exemplar, Instant: tg.Instant})
				}
			}
			if len(want) != len(d.Queries) {
				t.Fatalf("JSON holds %d queries, Queries lists %d", len(want), len(d.Queries))
			}
			for i := range want {
				if want[i] != d.Queries[i] {
					t.Errorf("query %d: JSON has %+v, Queries %+v", i, want[i], d.Queries[i])
				}
			}
		})
	}
}

func TestLabelValuesSelector(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{`label_values(up, cluster)`, `up`, ""},
		{`label_values(x{a=~"$a", b=~"$b"}, c)`, `x{a=~"$a", b=~"$b"}`, ""},
		{`label_values(cluster)`, "", "not label_values"},
		{`up`, "", "not label_values"},
	} {
		got, err := labelValuesSelector(tc.in)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: error %v, want one with %q", tc.in, err, tc.err)
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("%s: %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

// The JSON as Grafana reads it, as far as the tests look.

type jsonDashboard struct {
	UID        string      `json:"uid"`
	Title      string      `json:"title"`
	Panels     []jsonPanel `json:"panels"`
	Templating struct {
		List []jsonVariable `json:"list"`
	} `json:"templating"`
}

type jsonDatasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type jsonPanel struct {
	ID          int             `json:"id"`
	Type        string          `json:"type"`
	Title       string          `json:"title"`
	Description string          `json:"description"`
	Datasource  *jsonDatasource `json:"datasource"`
	GridPos     struct {
		X, Y, W, H int
	} `json:"gridPos"`
	Targets     []jsonTarget `json:"targets"`
	Panels      []jsonPanel  `json:"panels"` // of a row
	FieldConfig struct {
		Defaults struct {
			Unit string `json:"unit"`
		} `json:"defaults"`
		Overrides []struct {
			Matcher struct {
				ID      string `json:"id"`
				Options any    `json:"options"`
			} `json:"matcher"`
			Properties []struct {
				ID    string          `json:"id"`
				Value json.RawMessage `json:"value"`
			} `json:"properties"`
		} `json:"overrides"`
	} `json:"fieldConfig"`
}

type jsonTarget struct {
	RefID      string          `json:"refId"`
	Expr       string          `json:"expr"`
	Exemplar   bool            `json:"exemplar"`
	Instant    bool            `json:"instant"`
	Datasource *jsonDatasource `json:"datasource"`
}

type jsonVariable struct {
	Type       string          `json:"type"`
	Name       string          `json:"name"`
	Query      any             `json:"query"`
	Datasource *jsonDatasource `json:"datasource"`
	Multi      bool            `json:"multi"`
	IncludeAll bool            `json:"includeAll"`
	AllValue   string          `json:"allValue"`
}

func (v jsonVariable) queryString() string {
	s, _ := v.Query.(string)
	return s
}

func decode(t *testing.T, js []byte) jsonDashboard {
	t.Helper()
	var m jsonDashboard
	if err := json.Unmarshal(js, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// panels returns every panel but rows, those inside rows included.
func (m jsonDashboard) panels() []jsonPanel {
	var out []jsonPanel
	for _, p := range m.Panels {
		if p.Type == "row" {
			out = append(out, p.Panels...)
			continue
		}
		out = append(out, p)
	}
	return out
}
