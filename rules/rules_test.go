package rules

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/hopscope/hopscope/internal/testkit"
	"go.yaml.in/yaml/v3"
)

func TestGeneratedFilesAreCurrent(t *testing.T) {
	outs, err := Outputs()
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range outs {
		path := filepath.FromSlash(o.Path)
		if testkit.Update() {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, o.Data, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("%s: %v; run go generate ./rules", o.Path, err)
			continue
		}
		if !bytes.Equal(got, o.Data) {
			t.Errorf("%s differs from what the code generates; run go generate ./rules (or go test ./rules -update)", o.Path)
		}
	}
}

func TestOutputIsDeterministic(t *testing.T) {
	a, err := Outputs()
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		b, err := Outputs()
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Fatal("two runs of Outputs differ")
		}
	}
}

func TestPrometheusRuleCarriesFilesGroups(t *testing.T) {
	for _, tc := range []struct {
		name, namespace string
		labels          map[string]string
	}{
		{"hopscope", "observability", nil},
		{"hopscope-rules", "", map[string]string{"release": "kube-prometheus-stack", "app.kubernetes.io/part-of": "hopscope"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pr, err := PrometheusRule(DefaultSLO(), tc.name, tc.namespace, tc.labels)
			if err != nil {
				t.Fatal(err)
			}
			var m manifest[ruleFile]
			if err := strictUnmarshal(pr, &m); err != nil {
				t.Fatal(err)
			}
			if m.APIVersion != "monitoring.coreos.com/v1" || m.Kind != "PrometheusRule" {
				t.Errorf("apiVersion/kind = %s/%s", m.APIVersion, m.Kind)
			}
			if want := (objectMeta{Name: tc.name, Namespace: tc.namespace, Labels: tc.labels}); !reflect.DeepEqual(m.Metadata, want) {
				t.Errorf("metadata = %+v, want %+v", m.Metadata, want)
			}
			file, err := File(DefaultSLO())
			if err != nil {
				t.Fatal(err)
			}
			var f ruleFile
			if err := strictUnmarshal(file, &f); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(m.Spec.Groups, f.Groups) {
				t.Error("spec.groups of the PrometheusRule differ from the rule file's groups")
			}
			groups, _ := Groups(DefaultSLO())
			if !reflect.DeepEqual(f.Groups, groups) {
				t.Error("the rule file does not decode to Groups")
			}
		})
	}
	if _, err := PrometheusRule(DefaultSLO(), "", "observability", nil); err == nil {
		t.Error("PrometheusRule without a name: no error")
	}
}

func TestInvalidSLOMakesNoRules(t *testing.T) {
	bad := SLO{LatencyThresholdSeconds: 0.3, LatencyObjective: 0.99, AvailabilityObjective: 0.999}
	if _, err := Groups(bad); err == nil {
		t.Error("Groups: no error")
	}
	if _, err := File(bad); err == nil {
		t.Error("File: no error")
	}
	if _, err := PrometheusRule(bad, "hopscope", "observability", nil); err == nil {
		t.Error("PrometheusRule: no error")
	}
}

func TestRuleShapes(t *testing.T) {
	groups, err := Groups(DefaultSLO())
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	records := map[string]bool{}
	alerts := map[string][]string{} // alert → severities
	for _, g := range groups {
		if names[g.Name] {
			t.Errorf("group %s twice", g.Name)
		}
		names[g.Name] = true
		for _, r := range g.Rules {
			switch {
			case r.Record != "" && r.Alert == "":
				if records[r.Record] {
					t.Errorf("%s recorded twice", r.Record)
				}
				records[r.Record] = true
				if r.For != "" || r.Annotations != nil {
					t.Errorf("recording rule %s has for or annotations", r.Record)
				}
			case r.Alert != "" && r.Record == "":
				sev := r.Labels["severity"]
				switch sev {
				case "critical", "warning":
				default:
					t.Errorf("%s: severity %q", r.Alert, sev)
				}
				if r.For == "" || r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
					t.Errorf("%s (%s): for, summary and description must be set", r.Alert, sev)
				}
				alerts[r.Alert] = append(alerts[r.Alert], sev)
			default:
				t.Errorf("rule %+v is neither a recording nor an alerting rule", r)
			}
		}
	}
	var want []string
	for _, kind := range []string{"requests", "error_ratio", "slow_ratio"} {
		for _, w := range []string{"5m", "30m", "1h", "2h", "6h", "1d", "3d"} {
			want = append(want, "hopscope:sidecar_"+kind+":rate"+w)
		}
	}
	want = append(want, "hopscope:hop_duration_seconds:p50_5m", "hopscope:hop_duration_seconds:p95_5m",
		"hopscope:hop_duration_seconds:p99_5m", "hopscope:hop_duration_seconds:p95_1d")
	for _, r := range want {
		if !records[r] {
			t.Errorf("%s not recorded", r)
		}
	}
	if len(records) != len(want) {
		t.Errorf("%d recording rules, want %d", len(records), len(want))
	}
	wantAlerts := map[string][]string{
		"HopscopeErrorBudgetBurn":        {"critical", "warning"},
		"HopscopeLatencyBudgetBurn":      {"critical", "warning"},
		"HopscopeHopLatencyRegression":   {"warning"},
		"HopscopeTelemetryDropped":       {"warning"},
		"HopscopeCollectorEvicting":      {"warning"},
		"HopscopeCollectorExportFailing": {"warning"},
	}
	if !reflect.DeepEqual(alerts, wantAlerts) {
		t.Errorf("alerts = %v, want %v", alerts, wantAlerts)
	}
}

func TestBurnAlertsFollowTheSLO(t *testing.T) {
	slo := SLO{LatencyThresholdSeconds: 1, LatencyObjective: 0.95, AvailabilityObjective: 0.995}
	groups, err := Groups(slo)
	if err != nil {
		t.Fatal(err)
	}
	var all strings.Builder
	for _, g := range groups {
		for _, r := range g.Rules {
			all.WriteString(r.Expr + "\n")
			for _, a := range r.Annotations {
				all.WriteString(a + "\n")
			}
		}
	}
	for _, want := range []string{
		`hopscope:sidecar_error_ratio:rate1h / (1 - 0.995) > 14.4`,
		`hopscope:sidecar_slow_ratio:rate3d / (1 - 0.95) > 1`,
		`le=~"1|1\\.0"`,
		`(99.5% of requests without a 5xx or a gRPC server error)`,
		`(95% of requests faster than 1s)`,
	} {
		if !strings.Contains(all.String(), want) {
			t.Errorf("rules for %+v do not contain %s", slo, want)
		}
	}
}

// strictUnmarshal decodes YAML, failing on fields v does not have.
func strictUnmarshal(data []byte, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	return dec.Decode(v)
}

// TestDocsShowTheGeneratedConfig checks that docs/monitoring.md pastes the
// adapter rules and the example HPA as they are generated.
func TestDocsShowTheGeneratedConfig(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "docs", "monitoring.md"))
	if err != nil {
		t.Fatal(err)
	}
	adapter, err := AdapterConfig()
	if err != nil {
		t.Fatal(err)
	}
	hpa, err := ExampleHPA("shop", "shop", "50")
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string][]byte{"prometheus-adapter rules": adapter, "example HPA": hpa} {
		if !bytes.Contains(doc, append(append([]byte("```yaml\n"), want...), "```\n"...)) {
			t.Errorf("docs/monitoring.md does not show the generated %s; paste rules/generated/ into it", name)
		}
	}
}
