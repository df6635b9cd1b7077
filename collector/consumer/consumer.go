// Package consumer is the one contract between the collector's receivers
// and what consumes their input (the collector's trace store), in the
// manner of the OpenTelemetry Collector's consumer package: one small
// interface, Consumer, and a func adapter, Func. Every receiver (OTLP,
// Fluent forward, the file tailers, the ALB log directory, the RUM
// endpoint) takes a Consumer and hands it Inputs: an OTLP request's bytes
// as they came, or records already parsed from the receiver's own format.
package consumer

import (
	"context"

	"github.com/hopscope/hopscope/correlate"
)

// Input is one thing a receiver took in.
type Input struct {
	// Source names the receiver that took it in: the source label of
	// hopscope_collector_received_total and rejected_total ("otlp",
	// "forward", "ingress", "haproxy", "alb", "rum").
	Source string
	// Where names the input for the rejection log (file:line, forward
	// tag, "beacon"); "" when nothing more precise than Source.
	Where string
	// OTLP is an OTLP ExportTraceServiceRequest's protobuf bytes, valid
	// during Consume only: the receiver reads its next request into
	// them, so the consumer copies what it keeps; or
	OTLP []byte
	// Record is a record parsed from a log line, a forwarded event or a
	// beacon; or
	Record correlate.Record
	// Err says why the input could not be read as either: it is refused
	// as malformed.
	Err error
}

// Consumer consumes what receivers take in. Consume is called from many
// goroutines at once; an error refuses the input (OTLP: answered as
// failed).
type Consumer interface {
	Consume(ctx context.Context, in Input) error
}

// Func adapts a function to Consumer.
type Func func(ctx context.Context, in Input) error

// Consume calls f.
func (f Func) Consume(ctx context.Context, in Input) error { return f(ctx, in) }
