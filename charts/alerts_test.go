package charts

import (
	"bytes"
	"reflect"
	"slices"
	"sort"
	"testing"

	"github.com/hopscope/hopscope/rules"
	"go.yaml.in/yaml/v3"
)

// renderRuleGroups renders the PrometheusRule with args (and
// prometheusRule.enabled, the monitoring API) and returns its spec.groups.
func renderRuleGroups(t *testing.T, args ...string) []rules.Group {
	t.Helper()
	args = append(append([]string{"--set", "prometheusRule.enabled=true", "--show-only", "templates/prometheusrule.yaml"},
		withMonitoringAPI...), args...)
	objs := decodeAll(t, mustTemplate(t, args...))
	if len(objs) != 1 || objs[0].Kind != "PrometheusRule" {
		t.Fatalf("rendered %s, want one PrometheusRule", names(objs))
	}
	var pr struct {
		Spec struct {
			Groups []rules.Group `yaml:"groups"`
		} `yaml:"spec"`
	}
	if err := yaml.NewDecoder(bytes.NewReader(objs[0].Raw)).Decode(&pr); err != nil {
		t.Fatal(err)
	}
	return pr.Spec.Groups
}

// defaultGroups is rules.Groups for the chart's default SLO.
func defaultGroups(t *testing.T) []rules.Group {
	t.Helper()
	g, err := rules.Groups(rules.DefaultSLO())
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// alertNames are the alerts of rules.Groups, each once, sorted.
func alertNames(t *testing.T) []string {
	var out []string
	for _, g := range defaultGroups(t) {
		for _, r := range g.Rules {
			if r.Alert != "" && !slices.Contains(out, r.Alert) {
				out = append(out, r.Alert)
			}
		}
	}
	sort.Strings(out)
	return out
}

// withoutAlerts is groups without the rules of the alerts off, and
// without the groups left empty.
func withoutAlerts(groups []rules.Group, off ...string) []rules.Group {
	var out []rules.Group
	for _, g := range groups {
		var kept []rules.Rule
		for _, r := range g.Rules {
			if !slices.Contains(off, r.Alert) {
				kept = append(kept, r)
			}
		}
		if len(kept) > 0 {
			g.Rules = kept
			out = append(out, g)
		}
	}
	return out
}

// TestPrometheusRuleDisabledAlerts: prometheusRule.disabled.<alert>: true
// removes exactly that alert's rules (and its group when nothing else is
// in it); disabling every alert leaves the recording rules.
func TestPrometheusRuleDisabledAlerts(t *testing.T) {
	all := alertNames(t)
	if len(all) < 2 {
		t.Fatalf("alerts %v", all)
	}
	cases := map[string][]string{"all": all}
	for _, a := range all {
		cases[a] = []string{a}
	}
	for name, off := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var args []string
			for _, a := range off {
				args = append(args, "--set", "prometheusRule.disabled."+a+"=true")
			}
			got := renderRuleGroups(t, args...)
			want := withoutAlerts(defaultGroups(t), off...)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("with %v disabled, spec.groups differ from rules.Groups without them\n%s", off, firstDiff(got, want))
			}
		})
	}
	// false is not disabled.
	if got, want := renderRuleGroups(t, "--set", "prometheusRule.disabled.HopscopeErrorBudgetBurn=false"), defaultGroups(t); !reflect.DeepEqual(got, want) {
		t.Errorf("disabled: false removed rules\n%s", firstDiff(got, want))
	}
}

// TestPrometheusRuleAdditionalLabels: additionalRuleLabels go on every
// alert, additionalAlertLabels.<alert> on that alert only, the latter
// winning over the former and over the alert's severity; recording rules
// get none.
func TestPrometheusRuleAdditionalLabels(t *testing.T) {
	for _, tc := range []struct {
		name  string
		args  []string
		every map[string]string            // on every alert
		per   map[string]map[string]string // alert → labels on it
	}{
		{"one alert", []string{"--set", "prometheusRule.additionalAlertLabels.HopscopeCollectorEvicting.team=tracing"},
			nil, map[string]map[string]string{"HopscopeCollectorEvicting": {"team": "tracing"}}},
		{"every alert", []string{"--set", "prometheusRule.additionalRuleLabels.tier=prod", "--set", "prometheusRule.additionalRuleLabels.team=platform"},
			map[string]string{"tier": "prod", "team": "platform"}, nil},
		{"per alert wins", []string{"--set", "prometheusRule.additionalRuleLabels.team=platform",
			"--set", "prometheusRule.additionalAlertLabels.HopscopeCollectorExportFailing.team=tracing",
			"--set", "prometheusRule.additionalAlertLabels.HopscopeErrorBudgetBurn.severity=warning"},
			map[string]string{"team": "platform"},
			map[string]map[string]string{"HopscopeCollectorExportFailing": {"team": "tracing"}, "HopscopeErrorBudgetBurn": {"severity": "warning"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := renderRuleGroups(t, tc.args...)
			want := defaultGroups(t)
			for _, g := range want {
				for i, r := range g.Rules {
					if r.Alert == "" {
						continue
					}
					labels := map[string]string{}
					for _, add := range []map[string]string{r.Labels, tc.every, tc.per[r.Alert]} {
						for k, v := range add {
							labels[k] = v
						}
					}
					g.Rules[i].Labels = labels
				}
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("spec.groups differ from rules.Groups with the labels added\n%s", firstDiff(got, want))
			}
		})
	}
}

// TestSchemaNamesTheAlerts: prometheusRule.disabled and
// .additionalAlertLabels list exactly the alerts of package rules, so a
// misspelt or a removed alert name is refused and a new alert can be
// turned off.
func TestSchemaNamesTheAlerts(t *testing.T) {
	root := loadSchema(t)
	pr := resolve(root, root.Properties["prometheusRule"])
	want := alertNames(t)
	for _, key := range []string{"disabled", "additionalAlertLabels"} {
		n := resolve(root, pr.Properties[key])
		if n == nil {
			t.Errorf("prometheusRule.%s is not in the schema", key)
			continue
		}
		var got []string
		for k := range n.Properties {
			got = append(got, k)
		}
		sort.Strings(got)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("prometheusRule.%s lists %v, want the alerts %v", key, got, want)
		}
		if n.AdditionalProperties != false {
			t.Errorf("prometheusRule.%s allows other names", key)
		}
	}
}
