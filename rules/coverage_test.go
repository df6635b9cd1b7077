package rules

import (
	"os"
	"path/filepath"
	"sort"
	"testing"

	"go.yaml.in/yaml/v3"
)

// unitTestFile is the part of promtool's rule unit-test format the
// coverage checks read.
type unitTestFile struct {
	RuleFiles []string `yaml:"rule_files"`
	Tests     []struct {
		Name           string `yaml:"name"`
		AlertRuleTests []struct {
			EvalTime  string `yaml:"eval_time"`
			Alertname string `yaml:"alertname"`
			ExpAlerts []struct {
				ExpLabels      map[string]string `yaml:"exp_labels"`
				ExpAnnotations map[string]string `yaml:"exp_annotations"`
			} `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
		PromQLExprTests []struct {
			Expr string `yaml:"expr"`
		} `yaml:"promql_expr_test"`
	} `yaml:"tests"`
}

// TestEveryAlertIsTestedFiringAndQuiet checks that the promtool unit tests
// make every alert fire (every severity of it, with its labels and both
// annotations spelled out) and hold it quiet at least once.
func TestEveryAlertIsTestedFiringAndQuiet(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	fires := map[string]map[string]bool{} // alert → severities seen firing
	quiet := map[string]bool{}
	exprTests := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var u unitTestFile
		if err := yaml.Unmarshal(data, &u); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if len(u.RuleFiles) != 1 || u.RuleFiles[0] != "../generated/hopscope-rules.yaml" {
			t.Errorf("%s: rule_files = %v, want [../generated/hopscope-rules.yaml]", f, u.RuleFiles)
		}
		for _, rf := range u.RuleFiles {
			if _, err := os.Stat(filepath.Join(filepath.Dir(f), rf)); err != nil {
				t.Errorf("%s: rule file %s: %v", f, rf, err)
			}
		}
		for _, tg := range u.Tests {
			exprTests += len(tg.PromQLExprTests)
			for _, at := range tg.AlertRuleTests {
				if len(at.ExpAlerts) == 0 {
					quiet[at.Alertname] = true
					continue
				}
				for _, a := range at.ExpAlerts {
					if a.ExpAnnotations["summary"] == "" || a.ExpAnnotations["description"] == "" {
						t.Errorf("%s %q: %s at %s expected without its summary and description", f, tg.Name, at.Alertname, at.EvalTime)
					}
					if fires[at.Alertname] == nil {
						fires[at.Alertname] = map[string]bool{}
					}
					fires[at.Alertname][a.ExpLabels["severity"]] = true
				}
			}
		}
	}
	if exprTests == 0 {
		t.Error("no promql_expr_test: the recording rules are untested")
	}
	groups, err := Groups(DefaultSLO())
	if err != nil {
		t.Fatal(err)
	}
	alerts := map[string]bool{}
	for _, g := range groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			alerts[r.Alert] = true
			if !fires[r.Alert][r.Labels["severity"]] {
				t.Errorf("%s (severity %s) fires in no testdata test", r.Alert, r.Labels["severity"])
			}
			if !quiet[r.Alert] {
				t.Errorf("%s has no testdata test where it stays quiet (exp_alerts: [])", r.Alert)
			}
		}
	}
	var unknown []string
	for a := range fires {
		if !alerts[a] {
			unknown = append(unknown, a)
		}
	}
	for a := range quiet {
		if !alerts[a] {
			unknown = append(unknown, a)
		}
	}
	sort.Strings(unknown)
	if len(unknown) > 0 {
		t.Errorf("testdata tests alerts the rules do not define: %v", unknown)
	}
}
