package dashboards

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
)

// exported is the export flavour as Grafana's import reads it.
type exported struct {
	Inputs     []Input   `json:"__inputs"`
	Requires   []Require `json:"__requires"`
	Elements   *struct{} `json:"__elements"`
	Templating struct {
		List []jsonVariable `json:"list"`
	} `json:"templating"`
}

// inputRef matches a reference to an input: ${DS_...}.
var inputRef = regexp.MustCompile(`\$\{(DS_[A-Z0-9_]+)\}`)

// TestExportInputsAndRequires: each export-flavour dashboard declares one
// input per data source it refers to (DS_PROMETHEUS always, DS_JAEGER
// where a trace link opens Jaeger), refers to no data source variable,
// and requires Grafana, those data source plugins and exactly the panel
// plugins its panels use.
func TestExportInputsAndRequires(t *testing.T) {
	for _, d := range built(t) {
		t.Run(d.UID, func(t *testing.T) {
			var e exported
			if err := json.Unmarshal(d.Export, &e); err != nil {
				t.Fatal(err)
			}
			if e.Elements == nil {
				t.Error("no __elements")
			}
			wantInputs := []string{"DS_PROMETHEUS"}
			if bytes.Contains(d.JSON, []byte("${jaeger}")) {
				wantInputs = append(wantInputs, "DS_JAEGER")
			}
			var inputs []string
			for _, in := range e.Inputs {
				inputs = append(inputs, in.Name)
				if in.Type != "datasource" || inputName(in.PluginID) != in.Name || in.PluginName == "" || in.Label == "" {
					t.Errorf("input %+v: want a datasource input named after its plugin", in)
				}
			}
			if !slices.Equal(inputs, wantInputs) {
				t.Errorf("inputs %v, want %v", inputs, wantInputs)
			}
			refs := map[string]bool{}
			for _, m := range inputRef.FindAllSubmatch(d.Export, -1) {
				refs[string(m[1])] = true
			}
			for _, in := range wantInputs {
				if !refs[in] {
					t.Errorf("input %s declared but never referred to", in)
				}
				delete(refs, in)
			}
			if len(refs) > 0 {
				t.Errorf("refers to undeclared inputs %v", refs)
			}
			for _, v := range []string{"${datasource}", "$datasource", "${jaeger}", "$jaeger"} {
				if bytes.Contains(d.Export, []byte(v)) {
					t.Errorf("refers to the data source variable %s, which the export flavour has not", v)
				}
			}
			for _, v := range e.Templating.List {
				if v.Type == "datasource" {
					t.Errorf("data source variable %s left in the export flavour", v.Name)
				}
				if v.Type == "query" && (v.Datasource == nil || v.Datasource.UID != "${DS_PROMETHEUS}") {
					t.Errorf("variable %s: data source %+v, want ${DS_PROMETHEUS}", v.Name, v.Datasource)
				}
			}

			want := []string{"grafana/grafana"}
			for _, in := range e.Inputs {
				want = append(want, "datasource/"+in.PluginID)
			}
			var panelTypes []string
			for _, p := range decode(t, d.JSON).panels() {
				if !slices.Contains(panelTypes, p.Type) {
					panelTypes = append(panelTypes, p.Type)
				}
			}
			sort.Strings(panelTypes)
			for _, pt := range panelTypes {
				want = append(want, "panel/"+pt)
			}
			var got []string
			for _, r := range e.Requires {
				got = append(got, r.Type+"/"+r.ID)
				if r.Name == "" || (r.Type != "panel" && r.Version == "") {
					t.Errorf("require %+v: no name or version", r)
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("requires %v, want %v", got, want)
			}
		})
	}
}

// importDashboard does to an export-flavour dashboard what Grafana's
// import does (pkg/services/dashboardimport/utils DashTemplateEvaluator):
// each of its __inputs must be answered, by a data source uid, and every
// ${NAME} of an input in any string is replaced by the answer; __inputs,
// __requires and __elements go.
func importDashboard(export []byte, answers map[string]string) (map[string]any, error) {
	var m map[string]any
	if err := json.Unmarshal(export, &m); err != nil {
		return nil, err
	}
	var e exported
	if err := json.Unmarshal(export, &e); err != nil {
		return nil, err
	}
	repl := map[string]string{}
	for _, in := range e.Inputs {
		uid, ok := answers[in.Name]
		if !ok {
			return nil, fmt.Errorf("import asks for input %s (%s) and got no answer", in.Name, in.Label)
		}
		repl["${"+in.Name+"}"] = uid
	}
	delete(m, "__inputs")
	delete(m, "__requires")
	delete(m, "__elements")
	return substitute(m, repl).(map[string]any), nil
}

// substitute replaces, in every string of x, each key of repl by its
// value.
func substitute(x any, repl map[string]string) any {
	switch x := x.(type) {
	case string:
		for k, v := range repl {
			x = strings.ReplaceAll(x, k, v)
		}
		return x
	case map[string]any:
		for k, v := range x {
			x[k] = substitute(v, repl)
		}
	case []any:
		for i, v := range x {
			x[i] = substitute(v, repl)
		}
	}
	return x
}

// TestExportImportsAsProvisioned: the export flavour imported with a
// Prometheus and a Jaeger data source is the provisioned flavour with its
// data source variables set to them: the same panels, queries, links and
// other variables.
func TestExportImportsAsProvisioned(t *testing.T) {
	answers := map[string]string{"DS_PROMETHEUS": "prom-uid", "DS_JAEGER": "jaeger-uid"}
	for _, d := range built(t) {
		t.Run(d.UID, func(t *testing.T) {
			imported, err := importDashboard(d.Export, answers)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := importDashboard(d.Export, map[string]string{"DS_JAEGER": "jaeger-uid"}); err == nil {
				t.Error("imported without a Prometheus data source")
			}
			if s, _ := json.Marshal(imported); inputRef.Match(s) {
				t.Errorf("a reference to an input is left after the import: %s", inputRef.Find(s))
			}
			var prov map[string]any
			if err := json.Unmarshal(d.JSON, &prov); err != nil {
				t.Fatal(err)
			}
			prov = substitute(prov, map[string]string{"${datasource}": "prom-uid", "${jaeger}": "jaeger-uid"}).(map[string]any)
			tmpl := prov["templating"].(map[string]any)
			var kept []any
			for _, v := range tmpl["list"].([]any) {
				if v.(map[string]any)["type"] != "datasource" {
					kept = append(kept, v)
				}
			}
			tmpl["list"] = kept
			if imported["id"] != nil {
				t.Errorf("id %v, want null (Grafana assigns it)", imported["id"])
			}
			delete(imported, "id")
			if !reflect.DeepEqual(imported, prov) {
				a, _ := json.MarshalIndent(imported, "", " ")
				b, _ := json.MarshalIndent(prov, "", " ")
				t.Errorf("imported export flavour differs from the provisioned flavour:\n%s", firstDiff(string(a), string(b)))
			}
			if d.UID == "hopscope-breakdown" {
				if s, _ := json.Marshal(imported); !bytes.Contains(s, []byte(`\"uid\":\"jaeger-uid\"`)) {
					t.Error("the imported breakdown's trace links do not open the chosen Jaeger data source")
				}
			}
		})
	}
}

// firstDiff shows where two texts start to differ.
func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(al) && i < len(bl); i++ {
		if al[i] != bl[i] {
			return fmt.Sprintf("line %d:\n  %s\n  %s", i+1, al[i], bl[i])
		}
	}
	return fmt.Sprintf("lengths %d and %d lines", len(al), len(bl))
}

func TestExportOfRefuses(t *testing.T) {
	for _, tc := range []struct{ name, in, err string }{
		{"unknown data source plugin", `{"templating":{"list":[{"type":"datasource","name":"ds","query":"loki"}]},"panels":[]}`, `plugin "loki"`},
		{"unknown panel type", `{"templating":{"list":[]},"panels":[{"type":"piechart"}]}`, `type "piechart"`},
		{"variable in another form", `{"templating":{"list":[{"type":"datasource","name":"datasource","query":"prometheus"}]},"panels":[{"type":"stat","datasource":{"uid":"$datasource"}}]}`, "other than ${datasource}"},
		{"panel in a row", `{"templating":{"list":[]},"panels":[{"type":"row","panels":[{"type":"piechart"}]}]}`, `type "piechart"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := exportOf([]byte(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("error %v, want one with %q", err, tc.err)
			}
		})
	}
}
