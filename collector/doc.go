// Package collector is hopscope's collector: it receives what every hop of
// a request measured — sidecar and app spans over OTLP, ingress-nginx and
// HAProxy logs by tailing files or over the Fluent forward protocol, ALB
// logs from the directory ALB writes them to, browser beacons on a public
// RUM endpoint — joins them by trace id in a bounded correlate.Store, and
// serves per-request latency breakdowns (API, terminal, Prometheus
// histograms) and a complete trace to Jaeger, with spans synthesized for
// the hops nobody instrumented.
//
// Every receiver hands what it reads, in its own format, to one contract,
// consumer.Consumer (Collector.Consume): an OTLP request's bytes, or a
// record parsed from a log line, forwarded event or beacon. The store holds
// each trace once, keyed by its binary correlate.TraceID, with the export
// state of this package (traceState) beside its records; when a trace is
// due (--export-delay after its last update) the store calls the emitter
// (emitter.go), which observes its hops (observe.go), adds synthesized spans
// (synthesize.go) and queues them for export (send.go, sink.go). Trace ids
// are hex only at the edges: log lines, JSON, the API's paths, exemplars.
//
// Stages talk through small interfaces and every stage is bounded: a
// malformed input is rejected with a reason and counted, never a crash, and
// one slow or broken source never stalls the others.
package collector
