package httpegress

import (
	"encoding/binary"
	"encoding/hex"
	"github.com/hopscope/hopscope/internal/tracectx"
	"math/rand/v2"

	"github.com/hopscope/hopscope/sidecar/backend"
	"go.opentelemetry.io/otel/trace"
)

// hTraceparent and hTracestate are the W3C headers, canonical.
const (
	hTraceparent = "Traceparent"
	hTracestate  = "Tracestate"
)

// parseTraceparent reads a W3C traceparent
// (version-traceid-parentid-flags); ok is false when it is malformed, all
// zero or of the forbidden version ff. Later versions may append fields.
func parseTraceparent(v string) (trace.SpanContext, bool) {
	tp, err := tracectx.ParseTraceparent(v)
	if err != nil {
		return trace.SpanContext{}, false
	}
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: tp.TraceID, SpanID: tp.SpanID, TraceFlags: trace.TraceFlags(tp.Flags) & trace.FlagsSampled, Remote: true,
	})
	return sc, sc.IsValid()
}

// formatTraceparent writes sc as a version 00 traceparent.
func formatTraceparent(sc trace.SpanContext) string {
	var b [55]byte
	b[0], b[1], b[2] = '0', '0', '-'
	tid, sid := sc.TraceID(), sc.SpanID()
	hex.Encode(b[3:35], tid[:])
	b[35] = '-'
	hex.Encode(b[36:52], sid[:])
	b[52] = '-'
	hex.Encode(b[53:55], []byte{byte(sc.TraceFlags())})
	return string(b[:])
}

// outgoingContext is the context the proxy sends as traceparent for a call
// whose request carried none: the client span's when the Recorder makes
// spans (BeginTraced); else the attributed request's trace (a new one when
// ambiguous) with a new span id, so the next hop at least joins the trace.
func outgoingContext(call backend.Call) trace.SpanContext {
	if sc := call.SpanContext(); sc.IsValid() {
		return sc
	}
	parent := call.Parent()
	cfg := trace.SpanContextConfig{TraceFlags: trace.FlagsSampled}
	if parent.IsValid() {
		cfg.TraceID = parent.TraceID()
		cfg.TraceFlags = parent.TraceFlags()
	} else {
		for !cfg.TraceID.IsValid() {
			binary.BigEndian.PutUint64(cfg.TraceID[:8], rand.Uint64())
			binary.BigEndian.PutUint64(cfg.TraceID[8:], rand.Uint64())
		}
	}
	for !cfg.SpanID.IsValid() {
		binary.BigEndian.PutUint64(cfg.SpanID[:], rand.Uint64())
	}
	return trace.NewSpanContext(cfg)
}
