package sidecar

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/hopscope/hopscope/collector/consumer"
	"github.com/hopscope/hopscope/collector/otlp"
	"github.com/hopscope/hopscope/internal/otlpwire"
)

// TestLongAttributesCappedAtExport replays issue 19 item 13: 512 spans
// with a 60 KB User-Agent made one export request larger than the
// collector's 16 MiB limit; the collector refused it with 413 and every
// span of the batch, legitimate ones too, was lost. Values are now cut to
// 4 KiB at export and counted, and the collector's own receiver takes the
// batch.
func TestLongAttributesCappedAtExport(t *testing.T) {
	var received, longest atomic.Int64
	var mu sync.Mutex
	var rejects []string
	cfg := otlp.DefaultConfig()
	cfg.GRPCListen, cfg.HTTPListen = "", "127.0.0.1:0"
	cfg.OnReject = func(reason string) { mu.Lock(); rejects = append(rejects, reason); mu.Unlock() }
	recv, err := otlp.New(cfg, consumer.Func(func(_ context.Context, in consumer.Input) error {
		body := in.OTLP
		return otlpwire.Walk(body, func(_ *otlpwire.Resource, _ *otlpwire.Scope, s *otlpwire.Span) error {
			received.Add(1)
			if v, ok := s.Attr("user_agent.original"); ok {
				if n := int64(len(v.String())); n > longest.Load() {
					longest.Store(n)
				}
			}
			return nil
		})
	}))
	if err != nil {
		t.Fatal(err)
	}
	if err := recv.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = recv.Shutdown(context.Background()) })

	settings, _, _, err := resolveExport("http://"+recv.HTTPAddr().String(), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	exp, err := newExporter(settings, nil)
	if err != nil {
		t.Fatal(err)
	}
	dropped := prometheus.NewCounter(prometheus.CounterOpts{Name: "dropped"})
	truncated := prometheus.NewCounter(prometheus.CounterOpts{Name: "truncated"})
	p := newQueueProcessor(exp, 2048, 1<<30, dropped, truncated, zap.NewNop())
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(p))
	ua := "Mozilla/5.0 (" + strings.Repeat("é", 30<<10) + ")" // 60 KB, multi-byte at the cut
	for range exportBatchSize {
		_, span := tp.Tracer("t").Start(context.Background(), "GET /")
		span.SetAttributes(attribute.String("user_agent.original", ua), attribute.String("http.request.method", "GET"),
			attribute.StringSlice("x.list", []string{"short", ua}))
		span.End()
	}
	if err := tp.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := received.Load(); got != exportBatchSize {
		t.Errorf("collector received %d spans of %d (refused: %v)", got, exportBatchSize, rejects)
	}
	if got := testutil.ToFloat64(dropped); got != 0 {
		t.Errorf("%v spans dropped", got)
	}
	if got := testutil.ToFloat64(truncated); got != 2*exportBatchSize {
		t.Errorf("truncated %v values, want %d", got, 2*exportBatchSize)
	}
	if got := longest.Load(); got > maxAttrValueBytes {
		t.Errorf("user_agent.original of %d bytes exported", got)
	}
}

func TestCapString(t *testing.T) {
	short := strings.Repeat("a", maxAttrValueBytes)
	if capString(short) != short {
		t.Error("a value of the limit was cut")
	}
	for _, v := range []string{strings.Repeat("a", maxAttrValueBytes+1), strings.Repeat("é", maxAttrValueBytes), strings.Repeat("😀", maxAttrValueBytes)} {
		c := capString(v)
		if len(c) > maxAttrValueBytes || !utf8.ValidString(c) || !strings.HasSuffix(c, "…") || !strings.HasPrefix(v, strings.TrimSuffix(c, "…")) {
			t.Errorf("capString(%q…) = %d bytes %q…", v[:8], len(c), c[:8])
		}
	}
}

type failingExporter struct{}

func (failingExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error {
	return errors.New("traces export: 413 Request Entity Too Large")
}
func (failingExporter) Shutdown(context.Context) error { return nil }

// TestExportFailureLoggedAtWarn (issue 19 item 13): a failed export was
// counted in hopscope_telemetry_dropped_total and never logged. It is now
// a Warn line, at most one per exportWarnEvery, with the failures since
// the previous one.
func TestExportFailureLoggedAtWarn(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	dropped := prometheus.NewCounter(prometheus.CounterOpts{Name: "dropped"})
	p := newQueueProcessor(failingExporter{}, 64, DefaultConfig().SpanQueueBytes, dropped, nil, zap.New(core))
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(p))
	for range 3 {
		for range 5 {
			_, span := tp.Tracer("t").Start(context.Background(), "GET /")
			span.End()
		}
		if err := p.ForceFlush(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	_ = tp.Shutdown(t.Context())
	if got := testutil.ToFloat64(dropped); got != 15 {
		t.Errorf("dropped %v, want 15", got)
	}
	lines := logs.FilterMessage("span export failed").All()
	if len(lines) != 1 {
		t.Fatalf("%d \"span export failed\" lines for 3 failures within %v, want 1", len(lines), exportWarnEvery)
	}
	l := lines[0]
	if l.Level != zapcore.WarnLevel || !strings.Contains(l.ContextMap()["error"].(string), "413") || l.ContextMap()["spans_dropped"] != int64(5) {
		t.Errorf("line %v %v", l.Level, l.ContextMap())
	}
}
