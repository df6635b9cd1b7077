// Package chartdoc generates a Helm chart's README.md from its Chart.yaml
// and the helm-docs style comments of its values.yaml: every key carries a
// comment whose last paragraph starts with "# --" and describes it, as in
//
//	# -- Image pull policy.
//	pullPolicy: IfNotPresent
//
// A mapping whose keys carry such comments is a group: its keys become
// rows of the values table. A mapping whose keys carry none (resources,
// podSecurityContext, …), a list and a scalar are one row each, with the
// value as the default. "# -- (type) text" overrides the type shown and a
// "# @default -- text" line the default shown.
package chartdoc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Value is one row of the values table.
type Value struct {
	// Key is the dotted path, e.g. collector.rum.enabled.
	Key string
	// Type is string, int, float, bool, list or object, or the comment's
	// "(type)".
	Type string
	// Default is the value as compact JSON in backticks, or the comment's
	// "@default" text.
	Default string
	// Description is the comment's text on one line.
	Description string
}

// docMarker starts a key's description.
const docMarker = "# --"

// defaultMarker starts a line overriding the default shown.
const defaultMarker = "# @default --"

// ParseValues reads values.yaml and returns its rows in file order. A key
// without a "# --" comment (that is not a group) is an error naming it:
// every value must be documented.
func ParseValues(data []byte) ([]Value, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("values.yaml: %w", err)
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, errors.New("values.yaml: the top level is not a mapping")
	}
	var out []Value
	var errs []error
	walk(root, "", &out, &errs)
	return out, errors.Join(errs...)
}

func walk(m *yaml.Node, prefix string, out *[]Value, errs *[]error) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		key := prefix + k.Value
		if isGroup(v) {
			walk(v, key+".", out, errs)
			continue
		}
		c, ok := parseComment(k.HeadComment)
		if !ok {
			*errs = append(*errs, fmt.Errorf("values.yaml line %d: %s has no %q comment describing it", k.Line, key, docMarker))
			continue
		}
		val := Value{Key: key, Type: c.typ, Default: c.def, Description: c.text}
		if val.Type == "" {
			val.Type = typeOf(v)
		}
		if val.Default == "" {
			d, err := defaultOf(v)
			if err != nil {
				*errs = append(*errs, fmt.Errorf("values.yaml line %d: %s: %w", k.Line, key, err))
				continue
			}
			val.Default = d
		}
		*out = append(*out, val)
	}
}

// isGroup tells a mapping whose keys are documented one by one.
func isGroup(v *yaml.Node) bool {
	if v.Kind != yaml.MappingNode {
		return false
	}
	for i := 0; i+1 < len(v.Content); i += 2 {
		if _, ok := parseComment(v.Content[i].HeadComment); ok {
			return true
		}
	}
	return false
}

type comment struct{ typ, def, text string }

// isDocLine tells a line starting a description: "# --" alone or followed
// by a space (a flag such as "# --kubeconfig" continuing a sentence is
// not one).
func isDocLine(l string) bool {
	l = strings.TrimSpace(l)
	return l == docMarker || strings.HasPrefix(l, docMarker+" ")
}

// parseComment reads the last "# --" paragraph of a head comment.
func parseComment(head string) (comment, bool) {
	lines := strings.Split(head, "\n")
	start := -1
	for i, l := range lines {
		if isDocLine(l) {
			start = i
		}
	}
	if start < 0 {
		return comment{}, false
	}
	var c comment
	var words []string
	for i, l := range lines[start:] {
		l = strings.TrimSpace(l)
		switch {
		case l == "":
			// A blank line ends the description.
			if i > 0 {
				goto done
			}
		case strings.HasPrefix(l, defaultMarker):
			c.def = strings.TrimSpace(strings.TrimPrefix(l, defaultMarker))
		case i == 0:
			t := strings.TrimSpace(strings.TrimPrefix(l, docMarker))
			if strings.HasPrefix(t, "(") {
				if end := strings.Index(t, ")"); end > 0 {
					c.typ, t = t[1:end], strings.TrimSpace(t[end+1:])
				}
			}
			words = append(words, t)
		default:
			words = append(words, strings.TrimSpace(strings.TrimPrefix(l, "#")))
		}
	}
done:
	c.text = strings.Join(words, " ")
	return c, true
}

func typeOf(v *yaml.Node) string {
	switch v.Kind {
	case yaml.SequenceNode:
		return "list"
	case yaml.MappingNode:
		return "object"
	}
	switch v.ShortTag() {
	case "!!int":
		return "int"
	case "!!float":
		return "float"
	case "!!bool":
		return "bool"
	case "!!null":
		return "null"
	}
	return "string"
}

// maxDefault is the longest default written into the table; longer ones
// point to values.yaml.
const maxDefault = 160

func defaultOf(v *yaml.Node) (string, error) {
	var x any
	if err := v.Decode(&x); err != nil {
		return "", err
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(x); err != nil {
		return "", err
	}
	s := strings.TrimSpace(b.String())
	if len(s) > maxDefault {
		return "see `values.yaml`", nil
	}
	return "`" + s + "`", nil
}

// Chart is what the README shows from Chart.yaml.
type Chart struct {
	Name        string `yaml:"name"`
	Version     string `yaml:"version"`
	AppVersion  string `yaml:"appVersion"`
	KubeVersion string `yaml:"kubeVersion"`
	Description string `yaml:"description"`
	Home        string `yaml:"home"`
}

// Generate returns README.md for a chart from its Chart.yaml and
// values.yaml.
func Generate(chartYAML, valuesYAML []byte) ([]byte, error) {
	var c Chart
	if err := yaml.Unmarshal(chartYAML, &c); err != nil {
		return nil, fmt.Errorf("Chart.yaml: %w", err)
	}
	if c.Name == "" || c.Version == "" {
		return nil, errors.New("Chart.yaml: name and version are required")
	}
	values, err := ParseValues(valuesYAML)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	r := strings.NewReplacer("{{name}}", c.Name, "{{version}}", c.Version, "{{appVersion}}", c.AppVersion,
		"{{kubeVersion}}", c.KubeVersion, "{{description}}", strings.TrimSpace(c.Description), "{{home}}", c.Home)
	b.WriteString(r.Replace(readmeHead))
	b.WriteString("| Key | Type | Default | Description |\n|-----|------|---------|-------------|\n")
	for _, v := range values {
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", v.Key, cell(v.Type), cell(v.Default), cell(v.Description))
	}
	b.WriteString(r.Replace(readmeTail))
	return b.Bytes(), nil
}

// cell escapes a table cell's pipes.
func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

const readmeHead = `<!-- Code generated by ` + "`go generate ./charts`" + ` from Chart.yaml and the comments of values.yaml; DO NOT EDIT. -->
# {{name}}

![Version: {{version}}](https://img.shields.io/badge/Version-{{version}}-informational?style=flat-square)
![AppVersion: {{appVersion}}](https://img.shields.io/badge/AppVersion-{{appVersion}}-informational?style=flat-square)

{{description}}

Homepage: <{{home}}>

## Requirements

- Kubernetes {{kubeVersion}}. Native sidecars (an init container with
  ` + "`restartPolicy: Always`" + `) are used from Kubernetes 1.29 on.
- Helm 3.
- Optional: cert-manager (` + "`injector.certManager.enabled`" + `), the Prometheus
  Operator (` + "`serviceMonitor`, `podMonitor`, `prometheusRule`" + `), a Grafana with the
  dashboard sidecar (` + "`dashboards`" + `), prometheus-adapter (` + "`prometheusAdapter`" + `).

## Installing

` + "```sh" + `
helm install hopscope ./charts/hopscope -n observability --create-namespace
helm test hopscope -n observability --logs
` + "```" + `

Then ask for the sidecar, for every new pod of a namespace or for one
workload:

` + "```sh" + `
kubectl label namespace shop hopscope.io/inject=enabled
kubectl patch deployment web -n shop -p '{"spec":{"template":{"metadata":{"annotations":{"hopscope.io/inject":"enabled"}}}}}'
` + "```" + `

The sidecar takes over the app container's port named ` + "`http`" + ` (or the one named
by the ` + "`hopscope.io/port-name`" + ` annotation) by renaming ports: no iptables, no
` + "`NET_ADMIN`" + `, so it runs under Pod Security "restricted", on EKS Fargate and on
GKE Autopilot. [docs/helm.md](../../docs/helm.md) covers TLS modes,
monitoring, Fluent Bit, NetworkPolicies, upgrading and uninstalling.

## Uninstalling

` + "```sh" + `
helm uninstall hopscope -n observability
kubectl delete secret -n observability hopscope-injector-tls --ignore-not-found   # made by the injector
` + "```" + `

Pods keep their sidecar until they are re-created.

## Values

`

const readmeTail = `
Every values file is checked against ` + "`values.schema.json`" + `: a misspelt key or an
out-of-range value fails ` + "`helm install`" + ` and ` + "`helm lint`" + ` with the key's path.
`
