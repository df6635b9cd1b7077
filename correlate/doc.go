// Package correlate turns what each hop of a request measured — the
// browser's Navigation Timing, the load balancer's and the ingress's access
// logs, the sidecar's server span, the app's backend calls — into one
// per-hop latency breakdown.
//
// It is a pure library: records in, breakdowns out. It does no I/O, holds no
// globals and never reads the clock; callers pass the time in. Every source
// measures durations on its own monotonic clock, and the breakdown only ever
// subtracts a child's duration from its parent's, never timestamps taken on
// two machines, so clock skew between hosts cannot corrupt it (timestamps
// only place spans on a waterfall).
//
// Store holds each trace once, keyed by its binary TraceID (hex only in
// JSON and at the callers' edges), with a caller's per-trace state beside
// its records, one window, one maximum and one eviction order; it calls
// Hooks when a trace is due (its Delay passed since its last update) or
// is evicted, the way the OpenTelemetry Collector's servicegraph store
// calls onComplete and onExpire.
//
// Parsers of the foreign formats the records come from live in
// sub-packages: correlate/alb, correlate/ingressnginx, correlate/haproxy,
// correlate/beacon, correlate/xray and correlate/queuetime.
package correlate
