// Package dashboards holds hopscope's Grafana dashboards as code, built
// with the Grafana Foundation SDK.
//
// All builds every dashboard and returns, for each, its JSON and every
// Prometheus query it runs (read back from the built model, so the list
// cannot drift from the JSON). The JSON files are committed twice, in
// dashboards/generated for people importing them by hand and in
// charts/hopscope/dashboards for the Helm chart; `go generate ./dashboards`
// rewrites both, and the package's tests fail when they are stale.
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
