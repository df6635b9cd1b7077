// Package dashboards holds hopscope's Grafana dashboards as code, built
// with the Grafana Foundation SDK.
//
// All builds every dashboard and returns, for each, its JSON in two
// flavours and every Prometheus query it runs (read back from the built
// model, so the list cannot drift from the JSON). The export flavour
// (Grafana's "Export for sharing externally": __inputs DS_PROMETHEUS and
// DS_JAEGER, __requires) is committed in dashboards/generated for people
// importing by hand; the provisioned flavour (data source variables
// datasource and jaeger, which file provisioning and the Grafana sidecar
// resolve) in charts/hopscope/dashboards for the Helm chart.
// `go generate ./dashboards` rewrites both, and the package's tests fail
// when they are stale.
//
// Build takes Options: the label matchers of the cAdvisor and
// kube-state-metrics scrapes, which the Scaling dashboard's text box
// variables cadvisor_job and ksm_job start with (kube-prometheus-stack's
// jobs by default). provisioning/datasources.yaml is an example Grafana
// data source file linking the trace_id exemplars to Jaeger; the tests
// check it against the dashboards and internal/contract.
//
// The dashboards:
//
//   - hopscope-breakdown: where a request's time goes, hop by hop
//     (hopscope_hop_duration_seconds), with exemplars linking to Jaeger.
//   - hopscope-sidecar: the sidecar's golden signals per pod and route.
//   - hopscope-backends: backend calls (PostgreSQL, Redis, HTTP APIs, ...)
//     by backend and operation, with their attribution.
//   - hopscope-scaling: the HPA's custom metric, replicas and CPU
//     throttling.
//   - hopscope-collector: the collector's ingest, memory of traces,
//     export and process resources.
//
// Every query carries the cluster and namespace matchers of the dashboard's
// variables, reads a range with $__rate_interval (graphs) or $__range
// (instant summaries) and stays within PromQL that Prometheus 2.42 runs.
package dashboards
