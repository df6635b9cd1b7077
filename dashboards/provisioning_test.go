package dashboards

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/hopscope/hopscope/internal/contract"
)

// provisioningFile is the example data source provisioning file.
const provisioningFile = "provisioning/datasources.yaml"

// datasourcesFile is a Grafana data source provisioning file, as far as
// the example uses it (Grafana's pkg/services/provisioning/datasources
// configs).
type datasourcesFile struct {
	APIVersion  int          `yaml:"apiVersion"`
	Datasources []datasource `yaml:"datasources"`
}

type datasource struct {
	Name      string `yaml:"name"`
	UID       string `yaml:"uid"`
	Type      string `yaml:"type"`
	Access    string `yaml:"access"`
	URL       string `yaml:"url"`
	IsDefault bool   `yaml:"isDefault"`
	JSONData  struct {
		HTTPMethod                  string `yaml:"httpMethod"`
		ExemplarTraceIDDestinations []struct {
			Name            string `yaml:"name"`
			DatasourceUID   string `yaml:"datasourceUid"`
			URLDisplayLabel string `yaml:"urlDisplayLabel"`
		} `yaml:"exemplarTraceIdDestinations"`
	} `yaml:"jsonData"`
}

// readDatasources parses a provisioning file strictly: an unknown key (a
// misspelt exemplarTraceIdDestinations) fails.
func readDatasources(data []byte) (datasourcesFile, error) {
	var f datasourcesFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	err := dec.Decode(&f)
	return f, err
}

// byType returns the data sources of a plugin type.
func (f datasourcesFile) byType(pluginID string) []datasource {
	var out []datasource
	for _, d := range f.Datasources {
		if d.Type == pluginID {
			out = append(out, d)
		}
	}
	return out
}

// checkDatasources checks a provisioning file against what the dashboards
// and the collector expect, and returns the problems it finds.
func checkDatasources(f datasourcesFile, ds []Dashboard) []string {
	var problems []string
	if f.APIVersion != 1 {
		problems = append(problems, "apiVersion is not 1")
	}
	proms, jaegers := f.byType("prometheus"), f.byType("jaeger")
	if len(proms) != 1 || len(jaegers) != 1 {
		return append(problems, "want one prometheus and one jaeger data source")
	}
	prom, jaeger := proms[0], jaegers[0]
	for _, d := range []datasource{prom, jaeger} {
		if d.UID == "" || d.Name == "" || !strings.HasPrefix(d.URL, "http") {
			problems = append(problems, d.Type+": no uid, name or http(s) url")
		}
	}
	links := 0
	for _, dst := range prom.JSONData.ExemplarTraceIDDestinations {
		switch {
		case dst.Name != contract.ExemplarTraceID:
			problems = append(problems, "exemplar destination "+dst.Name+" is not the label the collector's exemplars carry ("+contract.ExemplarTraceID+")")
		case dst.DatasourceUID != jaeger.UID:
			problems = append(problems, "exemplar destination "+dst.Name+" opens data source "+dst.DatasourceUID+", not the Jaeger one ("+jaeger.UID+")")
		default:
			links++
		}
	}
	if links != 1 {
		problems = append(problems, "want one exemplar destination from trace_id to the Jaeger data source")
	}
	// The dashboards ask for exactly these data source types, and their
	// trace links, imported with this file's data sources, open the
	// Jaeger data source the exemplars link to.
	answers := map[string]string{}
	for _, d := range f.Datasources {
		answers[inputName(d.Type)] = d.UID
	}
	for _, d := range ds {
		var e exported
		if err := json.Unmarshal(d.Export, &e); err != nil {
			return append(problems, err.Error())
		}
		for _, in := range e.Inputs {
			if len(f.byType(in.PluginID)) != 1 {
				problems = append(problems, d.UID+" asks for a "+in.PluginID+" data source the file does not define")
			}
		}
		imported, err := importDashboard(d.Export, answers)
		if err != nil {
			problems = append(problems, d.UID+": "+err.Error())
			continue
		}
		js, _ := json.Marshal(imported)
		if bytes.Contains(d.JSON, []byte("${jaeger}")) && !bytes.Contains(js, []byte(`\"type\":\"jaeger\",\"uid\":\"`+jaeger.UID+`\"`)) {
			problems = append(problems, d.UID+": its trace links do not open the Jaeger data source "+jaeger.UID)
		}
	}
	return problems
}

func TestProvisioningExample(t *testing.T) {
	data, err := os.ReadFile(filepath.FromSlash(provisioningFile))
	if err != nil {
		t.Fatal(err)
	}
	f, err := readDatasources(data)
	if err != nil {
		t.Fatalf("%s: %v", provisioningFile, err)
	}
	ds := built(t)
	if problems := checkDatasources(f, ds); len(problems) > 0 {
		t.Errorf("%s:\n%s", provisioningFile, strings.Join(problems, "\n"))
	}

	// The checks catch what they are for: each edit breaks the file.
	for _, tc := range []struct{ name, old, new, want string }{
		{"exemplar label", "- name: trace_id", "- name: traceID", "is not the label"},
		{"exemplar destination", "datasourceUid: jaeger", "datasourceUid: tempo", "not the Jaeger one"},
		{"Jaeger uid", "uid: jaeger\n", "uid: jaeger-2\n", "not the Jaeger one"},
		{"misspelt key", "exemplarTraceIdDestinations", "exemplarTraceIDDestinations", "not found"},
		{"no Jaeger", "type: jaeger", "type: zipkin", "one jaeger"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			edited := strings.Replace(string(data), tc.old, tc.new, 1)
			if edited == string(data) {
				t.Fatalf("%q is not in %s", tc.old, provisioningFile)
			}
			f, err := readDatasources([]byte(edited))
			var problems []string
			if err != nil {
				problems = []string{err.Error()}
			} else {
				problems = checkDatasources(f, ds)
			}
			if !strings.Contains(strings.Join(problems, "\n"), tc.want) {
				t.Errorf("problems %q, want one with %q", problems, tc.want)
			}
		})
	}
}
