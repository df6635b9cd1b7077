// Package sidecar is hopscope's per-pod proxy. It sits in front of the app on
// the pod's port, continues or starts the request's trace (W3C, B3, Jaeger,
// X-Ray), hands the app a traceparent whose parent is the sidecar's own
// server span, and times the proxy and the app apart. Each request yields one
// span (OTLP; none when the inbound context says it is not sampled), one
// access-log record (stdout and Fluent Bit) and RED metrics on the admin
// port. Telemetry never blocks or fails the user's traffic: every
// sink has a bounded queue and counts what it drops.
//
// The lifecycle follows the OpenTelemetry Collector's: New builds, Start
// listens, Shutdown drains (readiness fails first, then the listener closes
// after a grace period, in-flight requests finish or, past the drain
// timeout, are cut and recorded as 503 sidecar_shutdown, telemetry is
// flushed).
//
// A request's way through the files: inbound.go (ServeHTTP: the request's
// state, context and span; rawhead.go checks the raw HTTP/1.x head),
// rewrite.go (the request to the app: X-Forwarded-*, propagation,
// X-Request-Id), transport.go (the round trip, timed; plain HTTP/1.1 through
// internal/h1, upgrades and h2c through http.Transport), response.go
// (Server-Timing and the writer that counts what the client got),
// record.go (metrics, span attributes and the access-log line once it is
// over) and errors.go (the answers the sidecar makes itself: 502, 504, 400,
// 408, 503, and the 499 it records). sidecar.go builds and runs it all.
package sidecar
