// Package relay sends the records a scaled-out collector replica parses
// from log lines, ALB logs and browser beacons to the replica that owns
// their trace, through the OpenTelemetry Collector gateway that already
// routes spans by trace id (docs/scaling.md).
//
// A record from a foreign format carries no OTLP trace id of its own.
// The replica that takes it in parses it as before (stateless), derives
// its trace id (RouteID: the trace id it names, its X-Ray Root's, or a
// 32-hex X-Request-ID that the sidecar made the trace id) and sends it as
// a span of that trace (Encode: named SpanName, the record in its
// attributes) to the gateway's OTLP/HTTP receiver; the gateway's
// load_balancing exporter routes it with the trace's other spans, and the
// owner's collector, which takes every span in, joins the record
// (FromSpan) as if it had read the line itself, and exports no such span.
//
// A span, not an OTLP log record: the load_balancing exporter (v0.161.0)
// hashes a span's trace id as its 16 bytes and a log record's as its hex
// text, so a log record with the same trace id reaches another replica
// than the trace's spans (test/e2e's TestScaleOutRecords found it).
//
// A record whose trace id cannot be derived, and a batch the gateway does
// not take, are joined where they were taken in and counted
// (hopscope_collector_relayed_total{outcome}): never dropped, never
// silently misplaced.
package relay
