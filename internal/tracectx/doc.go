// Package tracectx is the one parser of trace context ids that the
// sidecar, its backend proxies, the log parsers, the beacon decoder and the
// collector share: the W3C traceparent header
// (https://www.w3.org/TR/trace-context/#traceparent-header) and tracestate
// header (ParseTracestate, the spec's participant rules), the AWS X-Ray
// Root (1-<8 hex>-<24 hex>, in headers and in ALB logs; correlate/xray
// parses the X-Amzn-Trace-Id field list around it) and the hex ids inside
// both. B3 and Jaeger's uber-trace-id are parsed by OpenTelemetry's own
// propagators (sidecar/propagation), not here. It knows nothing of
// OpenTelemetry's types: callers build their span contexts from the bytes it
// returns.
package tracectx
