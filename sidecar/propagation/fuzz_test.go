package propagation

import (
	"context"
	"net/http"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// FuzzExtract feeds random values for every header this package reads. It
// checks that nothing panics, that the sidecar span continues the extracted
// trace, and that what Inject writes re-extracts, in every format, to the
// sidecar span's trace id.
func FuzzExtract(f *testing.F) {
	type seed struct{ tp, ts, b3, xb3t, xb3s, xb3smp, uber, xr, bag string }
	for _, s := range []seed{
		{tp: tpValue, ts: "rojo=00f067aa0ba902b7"},
		{b3: b3Trace + "-" + b3Span + "-1-" + b3Parent},
		{b3: b3Trace64 + "-" + b3Span + "-d"},
		{xb3t: b3Trace, xb3s: b3Span, xb3smp: "1"},
		{uber: uberTrace + ":" + uberSpan + ":0:1"},
		{uber: uberTrace64 + "%3A" + uberSpan + "%3A0%3A1"},
		{xr: xrFull},
		{xr: albRoot},
		{xr: albSelfRoot, bag: "userId=alice"},
		{tp: tpValue, b3: b3Trace + "-" + b3Span + "-1", uber: uberTrace + ":" + uberSpan + ":0:1", xr: xrFull},
		{tp: "00-" + tpTrace, b3: "garbage", uber: "::", xr: "Root=", bag: "=;,"},
		{uber: "%zz", xr: "Root=1-00000000-000000000000000000000000"},
	} {
		f.Add(s.tp, s.ts, s.b3, s.xb3t, s.xb3s, s.xb3smp, s.uber, s.xr, s.bag)
	}

	all := mustNew(f, allFormats)
	single := map[string]*Propagation{}
	for _, n := range []string{"tracecontext", "b3", "b3multi", "jaeger", "xray"} {
		single[n] = mustNew(f, []string{n})
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithIDGenerator(IDGenerator{}))
	tracer := tp.Tracer("fuzz")

	f.Fuzz(func(t *testing.T, tpv, ts, b3v, xb3t, xb3s, xb3smp, uber, xr, bag string) {
		in := http.Header{}
		for k, v := range map[string]string{
			hTraceparent: tpv, hTracestate: ts, hB3: b3v, hB3TraceID: xb3t, hB3SpanID: xb3s,
			hB3Sampled: xb3smp, hUberTraceID: uber, hXRay: xr, hBaggage: bag,
		} {
			if v != "" {
				in[k] = []string{v}
			}
		}
		ctx, src := all.Extract(context.Background(), in)
		sc := trace.SpanContextFromContext(ctx)
		rootTID, hasRoot := TraceIDFromContext(ctx)
		switch src {
		case SourceNone:
			if sc.IsValid() || hasRoot {
				t.Fatalf("SourceNone with span context %v / trace id %v", sc, rootTID)
			}
		case SourceXRayRootOnly:
			if sc.IsValid() || !hasRoot || !rootTID.IsValid() {
				t.Fatalf("root-only with span context %v / trace id %v %v", sc, rootTID, hasRoot)
			}
		default:
			if !sc.IsValid() || !sc.IsRemote() {
				t.Fatalf("source %q with span context %v", src, sc)
			}
		}

		ctx, span := tracer.Start(ctx, "inbound")
		span.End()
		tid := span.SpanContext().TraceID()
		if sc.IsValid() && tid != sc.TraceID() || hasRoot && !sc.IsValid() && tid != rootTID {
			t.Fatalf("source %q: span trace id %s does not continue the inbound trace", src, tid)
		}

		out := in.Clone()
		all.Inject(ctx, out)
		got, gotSrc := all.Extract(context.Background(), out)
		if gotSrc != SourceTraceContext || trace.SpanContextFromContext(got).TraceID() != tid {
			t.Fatalf("re-extract of %v = %q %v, want tracecontext %s", out, gotSrc, trace.SpanContextFromContext(got).TraceID(), tid)
		}
		for name, p := range single {
			got, _ := p.Extract(context.Background(), out)
			gsc := trace.SpanContextFromContext(got)
			if gsc.TraceID() != tid || gsc.SpanID() != span.SpanContext().SpanID() {
				t.Fatalf("%s re-extract of %v = %s/%s, want %s/%s", name, out, gsc.TraceID(), gsc.SpanID(), tid, span.SpanContext().SpanID())
			}
		}
	})
}
