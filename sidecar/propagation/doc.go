// Package propagation extracts the caller's trace context from inbound HTTP
// headers and injects the sidecar's own span context into the request it
// forwards to the app, on top of OpenTelemetry Go.
//
// Formats are chosen by name (see New): tracecontext (traceparent and
// tracestate), baggage, b3 (single b3 header on inject), b3multi (X-B3-*
// headers on inject), jaeger (uber-trace-id) and xray (X-Amzn-Trace-Id).
//
// Extraction differs from OpenTelemetry's composite propagator on purpose:
// the formats are tried in a fixed priority order, traceparent, then b3 or
// X-B3-*, then uber-trace-id, then X-Amzn-Trace-Id, and the first valid one
// wins; malformed headers are skipped. The composite propagator lets later
// propagators override earlier ones instead.
//
// An AWS ALB that receives a request without a trace header stamps an
// X-Amzn-Trace-Id with only a Root: a trace id but no parent span. Extract
// then returns a context carrying only that trace id (ContextWithTraceID),
// and IDGenerator, installed in the SDK tracer provider, gives the sidecar's
// new root span that trace id, so the ALB's access log and the spans join.
//
// Injection first removes every header of every configured format from the
// outbound request (stale inbound values), then writes each configured format
// from the span in the context: the sidecar's server span, so that the app
// sees the sidecar span as its parent.
package propagation
