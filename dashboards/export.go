package dashboards

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// The export flavour is the form of Grafana's "Export for sharing
// externally" (public/app/features/dashboard/components/DashExportModal):
// each data source the dashboard uses is an entry of __inputs, named
// DS_<PLUGIN>, which every reference spells ${DS_<PLUGIN>}; Grafana's
// import (Dashboards → New → Import) asks the user for one data source
// per input and replaces the references in every string of the JSON.
// __requires lists Grafana, the data source plugins and the panel plugins
// the dashboard needs.

// grafanaVersion is the Grafana that __requires asks for: the one whose
// dashboard schema (schemaVersion 42) the Foundation SDK writes.
const grafanaVersion = "12.2.0"

// dataSourcePlugins names the data source plugins a dashboard may pick
// by a data source variable, by plugin id.
var dataSourcePlugins = map[string]string{
	"prometheus": "Prometheus",
	"jaeger":     "Jaeger",
}

// panelPlugins names the panel plugins the dashboards may use, by id. A
// panel of another type fails the export, so that __requires stays
// exact.
var panelPlugins = map[string]string{
	"bargauge":   "Bar gauge",
	"heatmap":    "Heatmap",
	"stat":       "Stat",
	"table":      "Table",
	"text":       "Text",
	"timeseries": "Time series",
}

// Input is an entry of __inputs.
type Input struct {
	Name        string `json:"name"`
	Label       string `json:"label"`
	Description string `json:"description"`
	Type        string `json:"type"`
	PluginID    string `json:"pluginId"`
	PluginName  string `json:"pluginName"`
}

// Require is an entry of __requires.
type Require struct {
	Type    string `json:"type"`
	ID      string `json:"id"`
	Name    string `json:"name"`
	Version string `json:"version"`
}

// inputName is the __inputs name of a data source plugin: DS_PROMETHEUS.
func inputName(pluginID string) string { return "DS_" + strings.ToUpper(pluginID) }

// exportOf turns the provisioned flavour's JSON into the export flavour:
// the data source variables become __inputs, the references to them
// ${DS_<PLUGIN>}, and __requires lists what the dashboard needs.
func exportOf(provisioned []byte) ([]byte, error) {
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(provisioned))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	templating, _ := m["templating"].(map[string]any)
	list, _ := templating["list"].([]any)
	kept := []any{}
	refs := map[string]string{} // "${datasource}" -> "${DS_PROMETHEUS}"
	plugins := map[string]string{}
	for _, v := range list {
		v, _ := v.(map[string]any)
		if v["type"] != "datasource" {
			kept = append(kept, v)
			continue
		}
		name, _ := v["name"].(string)
		pluginID, _ := v["query"].(string)
		if _, ok := dataSourcePlugins[pluginID]; !ok {
			return nil, fmt.Errorf("data source variable %s of plugin %q, which the export does not name", name, pluginID)
		}
		refs["${"+name+"}"] = "${" + inputName(pluginID) + "}"
		plugins["${"+name+"}"] = pluginID
	}
	if templating != nil {
		templating["list"] = kept
	}

	used := map[string]bool{} // plugin ids referenced
	var walk func(any) (any, error)
	walk = func(x any) (any, error) {
		switch x := x.(type) {
		case string:
			for ref, input := range refs {
				if strings.Contains(x, ref) {
					used[plugins[ref]] = true
					x = strings.ReplaceAll(x, ref, input)
				}
			}
			for ref := range refs {
				name := strings.TrimSuffix(strings.TrimPrefix(ref, "${"), "}")
				if strings.Contains(x, "$"+name) || strings.Contains(x, "[["+name+"]]") {
					return nil, fmt.Errorf("%q refers to the data source variable %s in a form other than %s", x, name, ref)
				}
			}
			return x, nil
		case map[string]any:
			for k, v := range x {
				w, err := walk(v)
				if err != nil {
					return nil, err
				}
				x[k] = w
			}
		case []any:
			for i, v := range x {
				w, err := walk(v)
				if err != nil {
					return nil, err
				}
				x[i] = w
			}
		}
		return x, nil
	}
	if _, err := walk(m); err != nil {
		return nil, err
	}

	panelTypes := map[string]bool{}
	var collect func(ps []any) error
	collect = func(ps []any) error {
		for _, p := range ps {
			p, _ := p.(map[string]any)
			t, _ := p["type"].(string)
			if t == "row" {
				inner, _ := p["panels"].([]any)
				if err := collect(inner); err != nil {
					return err
				}
				continue
			}
			if _, ok := panelPlugins[t]; !ok {
				return fmt.Errorf("panel of type %q, which the export does not name", t)
			}
			panelTypes[t] = true
		}
		return nil
	}
	top, _ := m["panels"].([]any)
	if err := collect(top); err != nil {
		return nil, err
	}

	inputs := []Input{}
	requires := []Require{{Type: "grafana", ID: "grafana", Name: "Grafana", Version: grafanaVersion}}
	var ids []string
	for id := range used {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	// Prometheus first: Grafana's import lists the inputs in this order.
	sort.SliceStable(ids, func(i, j int) bool { return ids[i] == "prometheus" && ids[j] != "prometheus" })
	for _, id := range ids {
		inputs = append(inputs, Input{
			Name: inputName(id), Label: dataSourcePlugins[id],
			Description: dataSourcePlugins[id] + " data source",
			Type:        "datasource", PluginID: id, PluginName: dataSourcePlugins[id],
		})
		requires = append(requires, Require{Type: "datasource", ID: id, Name: dataSourcePlugins[id], Version: "1.0.0"})
	}
	var types []string
	for t := range panelTypes {
		types = append(types, t)
	}
	sort.Strings(types)
	for _, t := range types {
		requires = append(requires, Require{Type: "panel", ID: t, Name: panelPlugins[t], Version: ""})
	}
	m["__inputs"] = inputs
	m["__requires"] = requires
	m["__elements"] = map[string]any{}
	m["id"] = nil

	js, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(js, '\n'), nil
}
