package rules

import (
	"bytes"
	"fmt"
	"regexp"
	"slices"
	"sort"
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
// SLO's numbers as Helm actions on .Values.slo, every "{{" of the
// annotations escaped for Helm, each alerting rule (and each group of
// alerts only) conditional on the alerts' $disabled, and the alerts'
// labels and runbook_url from the values.
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
	helmify := func(yamlText []byte) string {
		t := strings.ReplaceAll(string(yamlText), "{{", helmOpen)
		for _, r := range reps {
			t = strings.ReplaceAll(t, r.from, r.to)
		}
		return t
	}
	// The groups are written rule by rule, so that each alerting rule can
	// be left out and its labels come from the values (helmAlertRule), and
	// a group of alerts only is left out when all its alerts are.
	var b strings.Builder
	b.WriteString("spec:\n  groups:\n")
	for _, g := range groups {
		var names []string // the group's alerts, each once
		onlyAlerts := true
		for _, r := range g.Rules {
			if r.Alert == "" {
				onlyAlerts = false
			} else if !slices.Contains(names, r.Alert) {
				names = append(names, r.Alert)
			}
		}
		if onlyAlerts {
			b.WriteString(helmIfAnyEnabled(names))
		}
		header, err := marshal([]struct {
			Name     string `yaml:"name"`
			Interval string `yaml:"interval,omitempty"`
		}{{g.Name, g.Interval}})
		if err != nil {
			return nil, err
		}
		b.WriteString(indent(string(header), 4))
		b.WriteString("      rules:\n")
		for _, r := range g.Rules {
			if r.Alert == "" {
				item, err := marshal([]Rule{r})
				if err != nil {
					return nil, err
				}
				b.WriteString(indent(helmify(item), 8))
				continue
			}
			text, err := helmAlertRule(r, helmify)
			if err != nil {
				return nil, err
			}
			b.WriteString(text)
		}
		if onlyAlerts {
			b.WriteString("{{- end }}\n")
		}
	}
	out := b.String()
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

// Helm variables HelmTemplate defines from the values for the alerts:
// .Values.prometheusRule.disabled (alert name → true), .additionalRuleLabels
// (labels of every alert) and .additionalAlertLabels (alert name → labels),
// each defaulting to an empty dict.
const helmAlertVars = `{{- $disabled := .Values.prometheusRule.disabled | default dict }}
{{- $ruleLabels := .Values.prometheusRule.additionalRuleLabels | default dict }}
{{- $alertLabels := .Values.prometheusRule.additionalAlertLabels | default dict }}
`

// helmIfAnyEnabled opens the condition of a group of alerts only: it is
// rendered unless every one of names is disabled (a group without rules
// would be rendered as "rules: null").
func helmIfAnyEnabled(names []string) string {
	var conds []string
	for _, n := range names {
		conds = append(conds, fmt.Sprintf("(index $disabled %q)", n))
	}
	if len(conds) == 1 {
		return "{{- if not " + conds[0] + " }}\n"
	}
	return "{{- if not (and " + strings.Join(conds, " ") + ") }}\n"
}

// helmAlertRule writes an alerting rule as an item of a group's rules,
// rendered unless $disabled names it, with its labels computed by Helm:
// its own labels (severity) under .additionalRuleLabels under its entry in
// .additionalAlertLabels (sprig's merge keeps the first value of a key),
// so that a user can also override the severity of one alert.
func helmAlertRule(r Rule, helmify func([]byte) string) (string, error) {
	own := r.Labels
	r.Labels = nil
	item, err := marshal([]Rule{r})
	if err != nil {
		return "", err
	}
	keys := make([]string, 0, len(own))
	for k := range own {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	ownDict := "(dict"
	for _, k := range keys {
		ownDict += fmt.Sprintf(" %q %q", k, own[k])
	}
	ownDict += ")"
	var b strings.Builder
	fmt.Fprintf(&b, "{{- if not (index $disabled %q) }}\n", r.Alert)
	b.WriteString(indent(helmify(item), 8))
	b.WriteString("          labels:\n")
	fmt.Fprintf(&b, "            {{- merge (dict) (index $alertLabels %q | default dict) $ruleLabels %s | toYaml | nindent 12 }}\n", r.Alert, ownDict)
	b.WriteString("{{- end }}\n")
	return b.String(), nil
}

// indent prefixes every line of text with n spaces.
func indent(text string, n int) string {
	pad := strings.Repeat(" ", n)
	lines := strings.SplitAfter(text, "\n")
	var b strings.Builder
	for _, l := range lines {
		if l != "" {
			b.WriteString(pad + l)
		}
	}
	return b.String()
}

// HelmTemplate returns the chart's templates/prometheusrule.yaml: the
// PrometheusRule whose spec.groups are Groups(slo) for the chart's
// .Values.slo, rendered when .Values.enabled (the whole chart) and
// .Values.prometheusRule.enabled and the chart's "hopscope.monitoringAPI"
// (the cluster serves monitoring.coreos.com/v1, or .Values.monitoringCRDs
// forces it), named after the release and labelled with the chart's
// labels and .Values.prometheusRule.labels, every alert's runbook_url
// under .Values.prometheusRule.runbookBaseURL, every alert left out when
// .Values.prometheusRule.disabled names it and labelled with
// .additionalRuleLabels and its entry of .additionalAlertLabels besides its
// severity (helmAlertRule). `go generate ./rules` writes it to
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
	b.WriteString(helmAlertVars)
	b.Write(spec)
	b.WriteString("{{- end }}\n")
	return b.Bytes(), nil
}
