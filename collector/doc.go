// Package collector is hopscope's collector: it receives what every hop of
// a request measured — sidecar and app spans over OTLP, ingress-nginx and
// HAProxy logs by tailing files or over the Fluent forward protocol, ALB
// logs from the directory ALB writes them to, browser beacons on a public
// RUM endpoint — joins them by trace id in a bounded correlate.Store, and
// serves per-request latency breakdowns (API, terminal, Prometheus
// histograms) and a complete trace to Jaeger, with spans synthesized for
// the hops nobody instrumented.
//
// Stages talk through small interfaces and every stage is bounded: a
// malformed input is rejected with a reason and counted, never a crash, and
// one slow or broken source never stalls the others.
package collector
