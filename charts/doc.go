// Package charts holds hopscope's Helm chart (charts/hopscope) and its
// tests; it has no code of its own.
//
// `go generate ./charts` writes charts/hopscope/README.md from Chart.yaml
// and the helm-docs style comments of values.yaml. The chart's
// templates/prometheusrule.yaml is written by `go generate ./rules`
// (rules.HelmTemplate), its dashboards/*.json by `go generate
// ./dashboards`.
//
// `go test ./charts` runs the real Helm (env HOPSCOPE_HELM_BIN, else
// tools/bin/helm, else built from tools/helm into the user cache): helm
// lint --strict and helm template for every ci/*-values.yaml, every
// rendered object decoded strictly into its Kubernetes type, Pod Security
// "restricted" checked control by control, the sidecar template against
// injector.ParseTemplate and the golden injector/testdata/sidecar-template.yaml,
// the values schema against typos and bad enums, the dashboards, the
// prometheus-adapter rules and the PrometheusRule against package rules,
// and README.md against its generator. `go test ./charts -update` rewrites
// README.md and the golden sidecar template.
package charts

//go:generate go run ./cmd/readme
