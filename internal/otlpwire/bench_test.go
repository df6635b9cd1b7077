package otlpwire

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// benchSpans returns n sidecar-like server spans: a remote parent with
// trace state, 15 scalar attributes (the HTTP semantic conventions plus
// hop timings), every tenth span an error with an event, every fiftieth a
// link.
func benchSpans(n int) []sdktrace.ReadOnlySpan {
	res := resource.NewWithAttributes("https://opentelemetry.io/schemas/1.26.0",
		attribute.String("service.name", "checkout"),
		attribute.String("service.namespace", "shop"),
		attribute.String("k8s.pod.name", "checkout-7d9f8b6c5-x2x9z"),
		attribute.String("k8s.namespace.name", "prod"),
		attribute.String("host.name", "ip-10-0-3-17.eu-west-1.compute.internal"),
	)
	return record(func(tp trace.TracerProvider) {
		tr := tp.Tracer("github.com/hopscope/hopscope/sidecar", trace.WithInstrumentationVersion("v0.4.0"))
		for i := range n {
			parent := trace.NewSpanContext(trace.SpanContextConfig{
				TraceID:    traceID(byte(i)),
				SpanID:     spanID(byte(i + 1)),
				TraceFlags: trace.FlagsSampled,
				TraceState: mustTraceState("hopscope=s1"),
				Remote:     true,
			})
			ctx := trace.ContextWithRemoteSpanContext(context.Background(), parent)
			opts := []trace.SpanStartOption{
				trace.WithSpanKind(trace.SpanKindServer),
				trace.WithAttributes(
					attribute.String("http.request.method", "GET"),
					attribute.String("url.path", fmt.Sprintf("/api/v1/carts/%d/items", 100000+i)),
					attribute.String("url.scheme", "http"),
					attribute.String("server.address", "checkout.prod.svc.cluster.local"),
					attribute.Int("server.port", 8080),
					attribute.String("network.protocol.version", "1.1"),
					attribute.String("client.address", "10.0.7.23"),
					attribute.String("user_agent.original", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/128.0.0.0 Safari/537.36"),
					attribute.String("http.route", "/api/v1/carts/{id}/items"),
					attribute.Int("http.response.status_code", 200),
					attribute.Int64("http.response.body.size", int64(1024+i)),
					attribute.Float64("hopscope.hop.app.ms", 12.345),
					attribute.Float64("hopscope.hop.sidecar.ms", 0.21),
					attribute.Bool("hopscope.upstream.reused", i%3 != 0),
					attribute.String("hopscope.upstream", "127.0.0.1:8080"),
				),
			}
			if i%50 == 0 {
				opts = append(opts, trace.WithLinks(trace.Link{SpanContext: parent.WithRemote(false)}))
			}
			_, s := tr.Start(ctx, "GET /api/v1/carts/{id}/items", opts...)
			if i%10 == 0 {
				s.AddEvent("upstream retry", trace.WithAttributes(attribute.Int("attempt", 2)))
				s.SetStatus(codes.Error, "upstream reset")
			}
			s.End()
		}
	}, sdktrace.WithResource(res))
}

const benchBatch = 512

func BenchmarkAppendExportRequest(b *testing.B) {
	spans := benchSpans(benchBatch)
	buf := AppendExportRequest(nil, spans)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		buf = AppendExportRequest(buf[:0], spans)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchBatch), "ns/span")
}

// BenchmarkStockTransform is what the stock exporter does before the HTTP
// request: otlptrace's tracetransform into generated structs, then
// proto.Marshal (into a reused buffer, to be fair).
func BenchmarkStockTransform(b *testing.B) {
	spans := benchSpans(benchBatch)
	c := &captureClient{marshal: true}
	exp := otlptrace.NewUnstarted(c)
	ctx := context.Background()
	if err := exp.ExportSpans(ctx, spans); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(c.buf)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := exp.ExportSpans(ctx, spans); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchBatch), "ns/span")
}

// BenchmarkExportSpansHTTP compares whole exports, HTTP included, to the
// same loopback sink. The sink runs in the process, so both numbers
// include its cost.
func BenchmarkExportSpansHTTP(b *testing.B) {
	spans := benchSpans(benchBatch)
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	defer sink.Close()
	ctx := context.Background()

	run := func(b *testing.B, exp sdktrace.SpanExporter) {
		defer func() { _ = exp.Shutdown(ctx) }()
		if err := exp.ExportSpans(ctx, spans); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			if err := exp.ExportSpans(ctx, spans); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchBatch), "ns/span")
	}
	for _, gz := range []bool{false, true} {
		suffix := ""
		if gz {
			suffix = "+gzip"
		}
		b.Run("otlpwire"+suffix, func(b *testing.B) {
			exp, err := NewHTTPExporter(HTTPConfig{Endpoint: sink.URL + "/v1/traces", Gzip: gz})
			if err != nil {
				b.Fatal(err)
			}
			run(b, exp)
		})
		b.Run("otlptracehttp"+suffix, func(b *testing.B) {
			opts := []otlptracehttp.Option{
				otlptracehttp.WithEndpointURL(sink.URL + "/v1/traces"),
				otlptracehttp.WithTimeout(10 * time.Second),
				otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: false}),
			}
			if gz {
				opts = append(opts, otlptracehttp.WithCompression(otlptracehttp.GzipCompression))
			} else {
				opts = append(opts, otlptracehttp.WithCompression(otlptracehttp.NoCompression))
			}
			exp, err := otlptracehttp.New(ctx, opts...)
			if err != nil {
				b.Fatal(err)
			}
			run(b, exp)
		})
	}
}
