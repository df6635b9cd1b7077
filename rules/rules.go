package rules

import (
	"bytes"
	"fmt"

	"go.yaml.in/yaml/v3"
)

// Group is one group of a Prometheus rule file. Rules of a group are
// evaluated in order, groups one after another in the unit tests.
type Group struct {
	// Name is unique in the file.
	Name string `yaml:"name"`
	// Interval overrides the global evaluation interval; empty keeps it.
	Interval string `yaml:"interval,omitempty"`
	// Rules are the group's recording and alerting rules.
	Rules []Rule `yaml:"rules"`
}

// Rule is a recording rule (Record set) or an alerting rule (Alert set),
// with the fields of Prometheus's rule file format.
type Rule struct {
	// Record is the series a recording rule writes.
	Record string `yaml:"record,omitempty"`
	// Alert is an alerting rule's alertname.
	Alert string `yaml:"alert,omitempty"`
	// Expr is the PromQL expression.
	Expr string `yaml:"expr"`
	// For is how long an alert's condition must hold before it fires.
	For string `yaml:"for,omitempty"`
	// Labels are added to the recorded series or the alert.
	Labels map[string]string `yaml:"labels,omitempty"`
	// Annotations (summary, description) are templates over $labels and
	// $value.
	Annotations map[string]string `yaml:"annotations,omitempty"`
}

// Groups returns hopscope's rule groups for slo: recording groups first,
// so that the alerts evaluated after them read this evaluation's values.
// Every alert's runbook_url annotation points to its section of
// docs/runbooks.md at DefaultRunbookBaseURL.
func Groups(slo SLO) ([]Group, error) {
	if err := slo.Validate(); err != nil {
		return nil, err
	}
	groups := []Group{
		{Name: "hopscope.sidecar.rules", Rules: sidecarRecordingRules(slo)},
		{Name: "hopscope.hops.rules", Rules: hopRecordingRules()},
		{Name: "hopscope.slo.alerts", Rules: burnAlerts(slo)},
		{Name: "hopscope.hops.alerts", Rules: hopAlerts()},
		{Name: "hopscope.pipeline.alerts", Rules: pipelineAlerts()},
	}
	withRunbooks(groups, DefaultRunbookBaseURL)
	return groups, nil
}

// ruleFile is the top level of a Prometheus rule file.
type ruleFile struct {
	Groups []Group `yaml:"groups"`
}

// File returns the rule file for slo, loadable by Prometheus through
// rule_files and by promtool. The same slo always gives the same bytes.
func File(slo SLO) ([]byte, error) {
	groups, err := Groups(slo)
	if err != nil {
		return nil, err
	}
	return marshal(ruleFile{Groups: groups})
}

// PrometheusRule returns a monitoring.coreos.com/v1 PrometheusRule manifest
// named name in namespace (empty: the namespace it is applied to) carrying
// labels (e.g. the release label a Prometheus Operator's ruleSelector
// wants), whose spec.groups are Groups(slo).
func PrometheusRule(slo SLO, name, namespace string, labels map[string]string) ([]byte, error) {
	if name == "" {
		return nil, fmt.Errorf("PrometheusRule: the name must not be empty")
	}
	groups, err := Groups(slo)
	if err != nil {
		return nil, err
	}
	return marshal(manifest[ruleFile]{
		APIVersion: "monitoring.coreos.com/v1",
		Kind:       "PrometheusRule",
		Metadata:   objectMeta{Name: name, Namespace: namespace, Labels: labels},
		Spec:       ruleFile{Groups: groups},
	})
}

// manifest is a Kubernetes object with a spec.
type manifest[S any] struct {
	APIVersion string     `yaml:"apiVersion"`
	Kind       string     `yaml:"kind"`
	Metadata   objectMeta `yaml:"metadata"`
	Spec       S          `yaml:"spec"`
}

type objectMeta struct {
	Name      string            `yaml:"name"`
	Namespace string            `yaml:"namespace,omitempty"`
	Labels    map[string]string `yaml:"labels,omitempty"`
}

// marshal writes v as YAML indented by two spaces; maps come out with
// sorted keys, so the output is deterministic.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
