package rules

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/hopscope/hopscope/internal/testkit"
	"go.yaml.in/yaml/v3"
)

// helmTemplateFile is HelmTemplatePath seen from this package's directory.
var helmTemplateFile = filepath.Join("..", filepath.FromSlash(HelmTemplatePath))

func TestHelmTemplateIsCurrent(t *testing.T) {
	want, err := HelmTemplate()
	if err != nil {
		t.Fatal(err)
	}
	if testkit.Update() {
		if err := os.WriteFile(helmTemplateFile, want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(helmTemplateFile)
	if err != nil {
		t.Fatalf("%v; run go generate ./rules", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from rules.HelmTemplate(); run go generate ./rules (or go test ./rules -update)", HelmTemplatePath)
	}
}

// fillHelm does what Helm does to the template's SLO actions for slo (the
// chart's helpers write leMatcher and percent; Go templates print a
// float64 as formatFloat does) and un-escapes "{{".
func fillHelm(tmpl string, slo SLO) string {
	return strings.NewReplacer(
		helmLeMatcher, leMatcher(slo.LatencyThresholdSeconds),
		helmThreshold, formatFloat(slo.LatencyThresholdSeconds),
		helmLatencyObjective, formatFloat(slo.LatencyObjective),
		helmAvailabilityObjective, formatFloat(slo.AvailabilityObjective),
		helmLatencyPercent, percent(slo.LatencyObjective),
		helmAvailabilityPercent, percent(slo.AvailabilityObjective),
		helmOpen, "{{",
	).Replace(helmRunbookAction.ReplaceAllString(fillHelmAlerts(tmpl), `"`+DefaultRunbookBaseURL+`#$1"`))
}

var (
	// helmConditionLine is a line of HelmTemplate's conditions on
	// $disabled, or their end.
	helmConditionLine = regexp.MustCompile(`(?m)^\{\{- (?:if not \(.*\)|end) \}\}\n`)
	// helmLabelsAction is the action writing an alert's labels; group 1
	// is its indentation, group 2 the alert's own labels as "key" "value"
	// pairs.
	helmLabelsAction = regexp.MustCompile(`(?m)^( *)\{\{- merge \(dict\) \(index \$alertLabels "\w+" \| default dict\) \$ruleLabels \(dict((?: "[^"]*" "[^"]*")*)\) \| toYaml \| nindent \d+ \}\}$`)
	helmPair         = regexp.MustCompile(`"([^"]*)" "([^"]*)"`)
)

// fillHelmAlerts does what Helm does to the alerts' actions with no alert
// disabled and no labels added: every rule stays, with its own labels.
func fillHelmAlerts(tmpl string) string {
	tmpl = helmConditionLine.ReplaceAllString(tmpl, "")
	return helmLabelsAction.ReplaceAllStringFunc(tmpl, func(action string) string {
		m := helmLabelsAction.FindStringSubmatch(action)
		var lines []string
		for _, p := range helmPair.FindAllStringSubmatch(m[2], -1) {
			lines = append(lines, fmt.Sprintf("%s%s: %q", m[1], p[1], p[2]))
		}
		return strings.Join(lines, "\n")
	})
}

// helmRunbookAction is helmRunbookURL as the template writes it.
var helmRunbookAction = regexp.MustCompile(`\{\{ print \.Values\.prometheusRule\.runbookBaseURL "#([a-z0-9_-]+)" \| quote \}\}`)

// TestHelmGroupsFollowTheSLO fills the template's groups for every bucket
// bound and several objectives and compares them with Groups: a number of
// the SLO the sentinel replacement missed would keep the sentinel's value.
func TestHelmGroupsFollowTheSLO(t *testing.T) {
	spec, err := helmGroups()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(strings.ReplaceAll(string(spec), helmOpen, ""), "{{ $") {
		t.Error("a Prometheus template in the annotations is not escaped for Helm")
	}
	objectives := [][2]float64{{0.99, 0.999}, {0.95, 0.9995}, {0.5, 0.75}, {0.999, 0.99999}}
	for _, th := range requestDurationBuckets {
		for _, o := range objectives {
			slo := SLO{LatencyThresholdSeconds: th, LatencyObjective: o[0], AvailabilityObjective: o[1]}
			t.Run(fmt.Sprintf("%s_%s_%s", formatFloat(th), formatFloat(o[0]), formatFloat(o[1])), func(t *testing.T) {
				var got struct {
					Spec ruleFile `yaml:"spec"`
				}
				if err := strictUnmarshal([]byte(fillHelm(string(spec), slo)), &got); err != nil {
					t.Fatal(err)
				}
				want, err := Groups(slo)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got.Spec.Groups, want) {
					t.Errorf("the filled template's groups differ from Groups(%+v)", slo)
				}
			})
		}
	}
}

func TestHelmTemplateShape(t *testing.T) {
	tmpl, err := HelmTemplate()
	if err != nil {
		t.Fatal(err)
	}
	s := string(tmpl)
	for _, want := range []string{
		`{{- if and .Values.enabled .Values.prometheusRule.enabled (include "hopscope.monitoringAPI" .) }}` + "\n",
		"kind: PrometheusRule\n",
		`"labels" .Values.prometheusRule.labels) | nindent 4 }}`,
		`runbook_url: {{ print .Values.prometheusRule.runbookBaseURL "#hopscopeerrorbudgetburn" | quote }}`,
		`{{- $disabled := .Values.prometheusRule.disabled | default dict }}`,
		`{{- if not (index $disabled "HopscopeCollectorEvicting") }}`,
		`{{- if not (and (index $disabled "HopscopeErrorBudgetBurn") (index $disabled "HopscopeLatencyBudgetBurn")) }}`,
		`(index $alertLabels "HopscopeHopLatencyRegression" | default dict) $ruleLabels (dict "severity" "warning")`,
		helmLeMatcher, helmThreshold, helmLatencyObjective, helmAvailabilityObjective, helmLatencyPercent, helmAvailabilityPercent,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("the template lacks %q", want)
		}
	}
	if !strings.HasSuffix(s, "{{- end }}\n") {
		t.Error("the template does not end with {{- end }}")
	}
	for _, r := range helmReplacements() {
		if strings.Contains(s, r.from) {
			t.Errorf("the sentinel %q is left in the template", r.from)
		}
	}
	// Without the wrapper and the metadata, the rest is YAML once the
	// actions are filled.
	var m map[string]any
	body := s[strings.Index(s, "spec:\n"):strings.LastIndex(s, "{{- end }}")]
	if err := yaml.Unmarshal([]byte(fillHelm(body, DefaultSLO())), &m); err != nil {
		t.Fatal(err)
	}
}

func TestHelmSentinelIsValid(t *testing.T) {
	if err := helmSentinel.Validate(); err != nil {
		t.Fatal(err)
	}
	if helmSentinel.LatencyThresholdSeconds == DefaultSLO().LatencyThresholdSeconds {
		t.Error("the sentinel threshold must differ from the default")
	}
}
