// Package bearer checks the bearer tokens (RFC 6750) that the collector can
// require of OTLP senders and API clients: the tokens are read from a file,
// one per line, so a Kubernetes Secret mounted as a volume can be rotated
// (keep the old and the new token in the file while senders move over);
// the file is read again when it changes.
//
// It also parses the OpenTelemetry environment's header lists
// (OTEL_EXPORTER_OTLP_HEADERS), which is how senders are given a token.
package bearer
