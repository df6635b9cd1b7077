package propagation

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

type traceIDKey struct{}

// ContextWithTraceID returns ctx carrying tid as the trace id for the next
// root span that IDGenerator creates. An invalid (all-zero) tid is ignored.
func ContextWithTraceID(ctx context.Context, tid trace.TraceID) context.Context {
	if !tid.IsValid() {
		return ctx
	}
	return context.WithValue(ctx, traceIDKey{}, tid)
}

// TraceIDFromContext returns the trace id stored by ContextWithTraceID.
func TraceIDFromContext(ctx context.Context) (trace.TraceID, bool) {
	tid, ok := ctx.Value(traceIDKey{}).(trace.TraceID)
	return tid, ok
}

// IDGenerator is an OpenTelemetry SDK IDGenerator that gives a new root span
// the trace id stored in its context by ContextWithTraceID (the ALB's X-Ray
// Root), and otherwise a new id whose first four bytes are the Unix time, so
// that it is also a valid X-Ray Root (as the contrib X-Ray generator does). Span
// ids are always random. Install it with sdktrace.WithIDGenerator.
//
// Every root span started from a context carrying the trace id gets it,
// including spans started with trace.WithNewRoot from that context.
type IDGenerator struct{}

var _ sdktrace.IDGenerator = IDGenerator{}

// NewIDs returns the trace id from ctx when there is one, else a new one,
// and a random span id.
func (IDGenerator) NewIDs(ctx context.Context) (trace.TraceID, trace.SpanID) {
	tid, ok := TraceIDFromContext(ctx)
	if !ok || !tid.IsValid() {
		tid = newTraceID(time.Now())
	}
	return tid, newSpanID()
}

// newTraceID returns a trace id whose first four bytes are the Unix time in
// seconds and the rest random, as AWS X-Ray requires of its Root
// (1-<8 hex time>-<24 hex random>); it is an ordinary random-enough W3C
// trace id as well (96 random bits).
func newTraceID(now time.Time) trace.TraceID {
	var tid trace.TraceID
	binary.BigEndian.PutUint32(tid[:4], uint32(now.Unix()))
	binary.NativeEndian.PutUint32(tid[4:8], rand.Uint32())
	binary.NativeEndian.PutUint64(tid[8:], rand.Uint64())
	return tid
}

// NewSpanID returns a random span id.
func (IDGenerator) NewSpanID(context.Context, trace.TraceID) trace.SpanID {
	return newSpanID()
}

func newSpanID() trace.SpanID {
	var sid trace.SpanID
	for !sid.IsValid() {
		binary.NativeEndian.PutUint64(sid[:], rand.Uint64())
	}
	return sid
}
