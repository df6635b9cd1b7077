// Package rules generates hopscope's Prometheus rules from Go: recording
// rules (per-service request rate, error ratio and latency-SLO slow ratio
// over the multi-window set, per-hop latency quantiles), multi-window
// multi-burn-rate SLO alerts, hop-latency regression and telemetry-pipeline
// alerts, the prometheus-adapter rules that expose per-pod request rate and
// in-flight requests to the HorizontalPodAutoscaler, and an example HPA.
//
// The YAML under generated/ is written by `go generate ./rules` and checked
// by `go test ./rules`, which also runs the real promtool on it: `promtool
// check rules` on the rule file and `promtool test rules` on the unit tests
// under testdata/. docs/monitoring.md explains how to use them.
package rules
