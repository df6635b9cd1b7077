package propagation

import (
	"context"
	"net/http"
	"testing"

	otelprop "go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// TestW3CParticipant: what Extract reads of traceparent and tracestate
// and what Inject sends on, by the W3C rules for a participant: two
// traceparents are invalid (another format, here b3, or a new trace), the
// tracestate is carried on as the spec reads it, where OpenTelemetry Go
// would drop it (a repeated key, the current key grammar).
func TestW3CParticipant(t *testing.T) {
	p, err := New(DefaultNames())
	if err != nil {
		t.Fatal(err)
	}
	const other = "00-0af7651916cd43dd8448eb211c80319c-" + tpSpan + "-01"
	tests := []struct {
		name       string
		header     http.Header
		wantSource Source
		wantTrace  string
		wantState  string // Tracestate(ctx), and the tracestate Inject writes
	}{
		{"one traceparent", http.Header{"Traceparent": {tpValue}}, SourceTraceContext, tpTrace, ""},
		{"two traceparents", http.Header{"Traceparent": {tpValue, other}, "Tracestate": {"a=1"}}, SourceNone, "", ""},
		{"two identical", http.Header{"Traceparent": {tpValue, tpValue}}, SourceNone, "", ""},
		{"two traceparents and b3", http.Header{"Traceparent": {tpValue, other}, "B3": {b3Trace + "-" + b3Span + "-1"}}, SourceB3, b3Trace, ""},
		{"tracestate", http.Header{"Traceparent": {tpValue}, "Tracestate": {"rojo=1,congo=2"}}, SourceTraceContext, tpTrace, "rojo=1,congo=2"},
		{"tracestate headers combined", http.Header{"Traceparent": {tpValue}, "Tracestate": {"rojo=1", " congo=2 "}}, SourceTraceContext, tpTrace, "rojo=1,congo=2"},
		{"repeated key keeps the first", http.Header{"Traceparent": {tpValue}, "Tracestate": {"foo=1,foo=2"}}, SourceTraceContext, tpTrace, "foo=1"},
		{"current key grammar", http.Header{"Traceparent": {tpValue}, "Tracestate": {"foo@@bar=1,t@vvvvvvvvvvvvvvv=2"}}, SourceTraceContext, tpTrace, "foo@@bar=1,t@vvvvvvvvvvvvvvv=2"},
		{"invalid tracestate dropped", http.Header{"Traceparent": {tpValue}, "Tracestate": {"FOO=1"}}, SourceTraceContext, tpTrace, ""},
		{"tracestate without traceparent", http.Header{"Tracestate": {"foo=1"}}, SourceNone, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, src := p.Extract(context.Background(), tt.header)
			sc := trace.SpanContextFromContext(ctx)
			if src != tt.wantSource || (tt.wantTrace != "" && sc.TraceID().String() != tt.wantTrace) || (tt.wantTrace == "" && sc.IsValid()) {
				t.Errorf("source %s trace %s, want %s %q", src, sc.TraceID(), tt.wantSource, tt.wantTrace)
			}
			if got := Tracestate(ctx); got != tt.wantState {
				t.Errorf("Tracestate = %q, want %q", got, tt.wantState)
			}
			if !sc.IsValid() {
				return
			}
			// The sidecar's server span: a child with the same state.
			child := trace.ContextWithSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{
				TraceID: sc.TraceID(), SpanID: trace.SpanID{9}, TraceFlags: sc.TraceFlags(), TraceState: sc.TraceState()}))
			out := http.Header{}
			p.Inject(child, out)
			if got := out.Get("Tracestate"); got != tt.wantState || len(out.Values("Tracestate")) > 1 {
				t.Errorf("Inject wrote tracestate %q, want %q", out.Values("Tracestate"), tt.wantState)
			}
		})
	}
}

// TestTraceContextMatchesOpenTelemetry is a differential test against
// OpenTelemetry Go's propagation.TraceContext, an independent reading of
// the spec: for one traceparent and one tracestate header both accept,
// Extract reads the same trace, parent, flags and tracestate.
func TestTraceContextMatchesOpenTelemetry(t *testing.T) {
	p, err := New([]string{NameTraceContext})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []http.Header{
		{"Traceparent": {tpValue}},
		{"Traceparent": {"00-" + tpTrace + "-" + tpSpan + "-00"}},
		{"Traceparent": {"cc-" + tpTrace + "-" + tpSpan + "-01-future"}},
		{"Traceparent": {tpValue}, "Tracestate": {"rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"}},
		// Not two tracestate headers: OpenTelemetry's HeaderCarrier reads
		// only the first, where the spec combines them (the conformance
		// test checks that case).
		{"Traceparent": {tpValue}, "Tracestate": {"b=2,c@d=3"}},
		{"Traceparent": {tpValue}, "Tracestate": {"a= x y"}},
		{"Traceparent": {"00-" + tpTrace + "-" + tpSpan + "-01x"}},
		{"Traceparent": {"ff-" + tpTrace + "-" + tpSpan + "-01"}},
		{"Traceparent": {"00-00000000000000000000000000000000-" + tpSpan + "-01"}},
	} {
		want := trace.SpanContextFromContext(otelprop.TraceContext{}.Extract(context.Background(), otelprop.HeaderCarrier(h)))
		ctx, _ := p.Extract(context.Background(), h)
		got := trace.SpanContextFromContext(ctx)
		if got.TraceID() != want.TraceID() || got.SpanID() != want.SpanID() || got.TraceFlags() != want.TraceFlags() || got.IsValid() != want.IsValid() {
			t.Errorf("%v: got %v, OpenTelemetry %v", h, got, want)
		}
		if want.TraceState().Len() > 0 && (got.TraceState().String() != want.TraceState().String() || Tracestate(ctx) != want.TraceState().String()) {
			t.Errorf("%v: tracestate %q (%q), OpenTelemetry %q", h, got.TraceState().String(), Tracestate(ctx), want.TraceState().String())
		}
	}
}

// TestInjectMatchesOpenTelemetry: Inject writes the traceparent and
// tracestate that OpenTelemetry's TraceContext.Inject writes for a span
// context (flags beyond sampled and random cleared; the span's own
// tracestate, such as the ratio sampler's ot=th:c), and a single ot
// entry's text, kept from one request to the next, costs no allocation
// once made.
func TestInjectMatchesOpenTelemetry(t *testing.T) {
	p, err := New([]string{NameTraceContext})
	if err != nil {
		t.Fatal(err)
	}
	tid, _ := trace.TraceIDFromHex(tpTrace)
	sid, _ := trace.SpanIDFromHex(tpSpan)
	for _, tc := range []struct {
		flags trace.TraceFlags
		ts    string
	}{
		{0, ""}, {trace.FlagsSampled, ""}, {trace.FlagsSampled | trace.FlagsRandom, ""}, {0xff, ""},
		{trace.FlagsSampled, "ot=th:c"}, {trace.FlagsSampled, "ot=th:8"}, {trace.FlagsSampled, "ot=th:c"},
		{trace.FlagsSampled, "ot=th:c;rv:1234567890abcd,vendor=x"}, {0, "vendor=x"},
	} {
		state, err := trace.ParseTraceState(tc.ts)
		if err != nil {
			t.Fatal(err)
		}
		ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
			TraceID: tid, SpanID: sid, TraceFlags: tc.flags, TraceState: state}))
		want := http.Header{}
		otelprop.TraceContext{}.Inject(ctx, otelprop.HeaderCarrier(want))
		got := http.Header{}
		p.Inject(ctx, got)
		for _, k := range []string{"Traceparent", "Tracestate"} {
			if got.Get(k) != want.Get(k) || len(got.Values(k)) != len(want.Values(k)) {
				t.Errorf("flags %v tracestate %q: %s %q, OpenTelemetry %q", tc.flags, tc.ts, k, got.Values(k), want.Values(k))
			}
		}
	}
	state, _ := trace.ParseTraceState("ot=th:c")
	with := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, TraceState: state}))
	without := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled}))
	h := http.Header{}
	allocs := func(ctx context.Context) float64 {
		return testing.AllocsPerRun(100, func() { clear(h); p.Inject(ctx, h) })
	}
	if a, b := allocs(with), allocs(without); a != b {
		t.Errorf("Inject with ot=th:c allocates %v times, without %v", a, b)
	}
}
