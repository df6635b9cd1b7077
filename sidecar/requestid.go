package sidecar

import (
	"context"

	"go.opentelemetry.io/otel/trace"

	"github.com/hopscope/hopscope/internal/tracectx"
	"github.com/hopscope/hopscope/sidecar/propagation"
)

// traceIDFromRequestID returns ctx carrying, as the trace id of the
// request's new root span, its X-Request-ID when that is 32 lower-case
// hex digits and not all zero (--trace-id-from-request-id); else ctx.
func traceIDFromRequestID(ctx context.Context, requestID string) context.Context {
	var tid trace.TraceID
	if len(requestID) != 32 || !tracectx.DecodeLowerHex(tid[:], requestID) || !tid.IsValid() {
		return ctx
	}
	return propagation.ContextWithTraceID(ctx, tid)
}
