// Package otlp receives OpenTelemetry traces: OTLP/gRPC (TraceService
// Export) and OTLP/HTTP (POST /v1/traces with protobuf or JSON bodies, gzip
// accepted). Each accepted request is handed as protobuf bytes — never
// unmarshalled into Go structs, which cost more than everything else the
// collector does with a span — to one consumer function; the receiver does
// no other work, so a slow consumer is felt as back-pressure by the sender,
// never as unbounded memory.
package otlp
