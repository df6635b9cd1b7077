// Package tracectx is the one parser of the W3C traceparent header
// (https://www.w3.org/TR/trace-context/#traceparent-header) that the
// sidecar's backend proxies, the log parsers and the beacon decoder share,
// and of the hex ids inside it. It knows nothing of OpenTelemetry's types:
// callers build their span contexts from the bytes it returns.
package tracectx
