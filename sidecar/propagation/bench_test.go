package propagation

import (
	"context"
	"net/http"
	"testing"

	"go.opentelemetry.io/otel/trace"
)

// typical holds headers every proxied request has, besides trace headers.
func typical(kv ...string) http.Header {
	h := hdr(
		"Host", "shop.example.com",
		"User-Agent", "Mozilla/5.0",
		"Accept", "*/*",
		"X-Forwarded-For", "203.0.113.7",
		"X-Request-Id", "6f1a4c2e-3b0d-4d8e-9a55-0f3c2b1d7e90",
	)
	for i := 0; i < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

func BenchmarkExtract(b *testing.B) {
	cases := []struct {
		name string
		h    http.Header
	}{
		{"none", typical()},
		{"traceparent", typical("traceparent", tpValue)},
		{"traceparent+tracestate", typical("traceparent", tpValue, "tracestate", "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE")},
		{"b3", typical("b3", b3Trace+"-"+b3Span+"-1-"+b3Parent)},
		{"x-b3", typical("X-B3-TraceId", b3Trace, "X-B3-SpanId", b3Span, "X-B3-Sampled", "1")},
		{"uber", typical("uber-trace-id", uberTrace+":"+uberSpan+":0:1")},
		{"uber-%3A", typical("uber-trace-id", uberTrace+"%3A"+uberSpan+"%3A0%3A1")},
		{"xray", typical("X-Amzn-Trace-Id", xrFull)},
		{"xray-root-only", typical("X-Amzn-Trace-Id", albSelfRoot)},
		{"all", typical("traceparent", tpValue, "b3", b3Trace+"-"+b3Span+"-1", "uber-trace-id", uberTrace+":"+uberSpan+":0:1", "X-Amzn-Trace-Id", xrFull)},
		{"traceparent+baggage", typical("traceparent", tpValue, "baggage", "userId=alice,region=eu-west-1")},
	}
	p := mustNew(b, DefaultNames())
	ctx := context.Background()
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = p.Extract(ctx, c.h)
			}
		})
	}
}

func BenchmarkInject(b *testing.B) {
	tid, _ := trace.TraceIDFromHex(tpTrace)
	sid, _ := trace.SpanIDFromHex(tpSpan)
	ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled,
	}))
	cases := []struct {
		name  string
		names []string
	}{
		{"tracecontext", []string{"tracecontext"}},
		{"b3", []string{"b3"}},
		{"b3multi", []string{"b3multi"}},
		{"jaeger", []string{"jaeger"}},
		{"xray", []string{"xray"}},
		{"default", DefaultNames()},
		{"all", allFormats},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			p := mustNew(b, c.names)
			h := typical("traceparent", tpValue, "b3", b3Trace+"-"+b3Span+"-1")
			b.ReportAllocs()
			for b.Loop() {
				p.Inject(ctx, h)
			}
		})
	}
}
