package rules

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
)

// HelmTemplatePath is where `go generate ./rules` writes HelmTemplate,
// relative to the module root.
const HelmTemplatePath = "charts/hopscope/templates/prometheusrule.yaml"

// helmSentinel is the SLO HelmTemplate renders Groups with: valid (Groups
// accepts it) but unusual, so that each of its numbers, written the way
// the rules write them, occurs nowhere else in the groups and can be
// replaced by the Helm expression of its value. Checked by helmGroups and
// by the tests for every bucket bound.
var helmSentinel = SLO{LatencyThresholdSeconds: 0.0025, LatencyObjective: 0.958317, AvailabilityObjective: 0.976193}

// Helm actions that stand for the SLO's numbers in the template. The
// helpers are defined in the chart's templates/_helpers.tpl:
// hopscope.slo.leMatcher writes leMatcher(threshold), hopscope.slo.percent
// writes percent(objective). A value is converted with float64 first
// (`helm --set slo.latencyObjective=0.95` gives the string "0.95"); Go
// templates print a float64 the shortest way, as formatFloat does.
const (
	helmLeMatcher             = `{{ include "hopscope.slo.leMatcher" . }}`
	helmThreshold             = `{{ .Values.slo.latencyThresholdSeconds | float64 }}`
	helmLatencyObjective      = `{{ .Values.slo.latencyObjective | float64 }}`
	helmAvailabilityObjective = `{{ .Values.slo.availabilityObjective | float64 }}`
	helmLatencyPercent        = `{{ include "hopscope.slo.percent" .Values.slo.latencyObjective }}`
	helmAvailabilityPercent   = `{{ include "hopscope.slo.percent" .Values.slo.availabilityObjective }}`
	// helmOpen is "{{" written so that Helm outputs it: Prometheus's own
	// templates in the annotations ({{ $labels.service }}) reach the
	// PrometheusRule unchanged.
	helmOpen = `{{ "{{" }}`
	// helmRunbookURL is the runbook_url of an alert whose anchor is
	// "$anchor" (a regexp replacement), quoted: the base is the user's.
	helmRunbookURL = `{{ print .Values.prometheusRule.runbookBaseURL "#${anchor}" | quote }}`
)

// runbookLine matches a runbook_url annotation as Groups writes it, with
// DefaultRunbookBaseURL, on a line of its own.
var runbookLine = regexp.MustCompile(`(?m)^(\s+runbook_url: )` + regexp.QuoteMeta(DefaultRunbookBaseURL) + `#(?P<anchor>[a-z0-9_-]+)$`)

// helmReplacements are the sentinel's numbers as the rules write them and
// the actions replacing them, in the order they are applied: the le
// matcher before the bare threshold it contains, percentages and
// objectives before the threshold (none contains another, which
// helmGroups checks).
func helmReplacements() []struct{ from, to string } {
	s := helmSentinel
	return []struct{ from, to string }{
		{leMatcher(s.LatencyThresholdSeconds), helmLeMatcher},
		{percent(s.LatencyObjective), helmLatencyPercent},
		{percent(s.AvailabilityObjective), helmAvailabilityPercent},
		{formatFloat(s.LatencyObjective), helmLatencyObjective},
		{formatFloat(s.AvailabilityObjective), helmAvailabilityObjective},
		{formatFloat(s.LatencyThresholdSeconds), helmThreshold},
	}
}

// helmGroups returns "spec:\n  groups: ..." of the PrometheusRule with the
// SLO's numbers as Helm actions on .Values.slo and every "{{" of the
// annotations escaped for Helm.
func helmGroups() ([]byte, error) {
	groups, err := Groups(helmSentinel)
	if err != nil {
		return nil, err
	}
	spec, err := marshal(struct {
		Spec ruleFile `yaml:"spec"`
	}{ruleFile{Groups: groups}})
	if err != nil {
		return nil, err
	}
	// The sentinel's numbers must not occur in the rules for any other
	// SLO: then every occurrence in spec is an SLO number.
	defaults, err := File(DefaultSLO())
	if err != nil {
		return nil, err
	}
	reps := helmReplacements()
	for i, r := range reps {
		if bytes.Contains(defaults, []byte(r.from)) {
			return nil, fmt.Errorf("helm template: the sentinel %q occurs in the rules for the default SLO too; choose another sentinel", r.from)
		}
		if !bytes.Contains(spec, []byte(r.from)) {
			return nil, fmt.Errorf("helm template: the sentinel %q does not occur in the rules; the SLO is no longer written that way", r.from)
		}
		for j, o := range reps {
			if i < j && strings.Contains(o.from, r.from) {
				return nil, fmt.Errorf("helm template: sentinel %q is replaced before %q, which contains it", r.from, o.from)
			}
		}
	}
	out := strings.ReplaceAll(string(spec), "{{", helmOpen)
	for _, r := range reps {
		out = strings.ReplaceAll(out, r.from, r.to)
	}
	// Every alert's runbook_url gets its base from the chart's values.
	alerts := 0
	for _, g := range groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				alerts++
			}
		}
	}
	if n := len(runbookLine.FindAllString(out, -1)); n != alerts {
		return nil, fmt.Errorf("helm template: %d runbook_url annotations written as expected, want one for each of the %d alerting rules", n, alerts)
	}
	out = runbookLine.ReplaceAllString(out, "${1}"+helmRunbookURL)
	if strings.Contains(out, DefaultRunbookBaseURL) {
		return nil, fmt.Errorf("helm template: %s is left in the template", DefaultRunbookBaseURL)
	}
	return []byte(out), nil
}

// HelmTemplate returns the chart's templates/prometheusrule.yaml: the
// PrometheusRule whose spec.groups are Groups(slo) for the chart's
// .Values.slo, rendered when .Values.enabled (the whole chart) and
// .Values.prometheusRule.enabled and the chart's "hopscope.monitoringAPI"
// (the cluster serves monitoring.coreos.com/v1, or .Values.monitoringCRDs
// forces it), named after the release and labelled with the chart's
// labels and .Values.prometheusRule.labels, every alert's runbook_url
// under .Values.prometheusRule.runbookBaseURL. `go generate ./rules` writes it to
// HelmTemplatePath; the chart's tests render it with helm for several
// SLOs and compare it with Groups.
func HelmTemplate() ([]byte, error) {
	spec, err := helmGroups()
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteString(`{{- /* Code generated by ` + "`go generate ./rules`" + ` from github.com/hopscope/hopscope/rules (HelmTemplate); DO NOT EDIT. */ -}}
{{- if and .Values.enabled .Values.prometheusRule.enabled (include "hopscope.monitoringAPI" .) }}
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: {{ include "hopscope.fullname" . }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "hopscope.componentLabels" (dict "ctx" . "component" "rules" "labels" .Values.prometheusRule.labels) | nindent 4 }}
`)
	b.Write(spec)
	b.WriteString("{{- end }}\n")
	return b.Bytes(), nil
}
