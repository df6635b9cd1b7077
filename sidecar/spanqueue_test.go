package sidecar

import (
	"context"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.uber.org/zap"
)

// gatedExporter holds every export until release is closed (a collector
// that does not answer), then takes the spans; it records each batch.
type gatedExporter struct {
	release  chan struct{}
	exported atomic.Int64
	mu       sync.Mutex
	batches  [][2]int64 // spans, summed spanCost
}

func (e *gatedExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	var cost int64
	for _, s := range spans {
		cost += spanCost(s)
	}
	e.mu.Lock()
	e.batches = append(e.batches, [2]int64{int64(len(spans)), cost})
	e.mu.Unlock()
	select {
	case <-e.release:
		e.exported.Add(int64(len(spans)))
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (e *gatedExporter) Shutdown(context.Context) error { return nil }

// TestSpanQueueBytesBound ends spans of every size while the exporter does
// not answer: the cost of the spans queued and in the batch being exported
// never exceeds --span-queue-bytes, a batch stays within exportBatchSize
// spans and exportBatchBytes (plus its last span), and every span is
// exported or counted as dropped.
func TestSpanQueueBytesBound(t *testing.T) {
	tests := []struct {
		name     string
		maxBytes int
		size     int
		valueLen []int // lengths of the spans' string attribute, in turn
		total    int
	}{
		{name: "small spans: the span count binds", maxBytes: 20 << 20, size: 1000, valueLen: []int{20}, total: 3000},
		{name: "small spans: the byte bound binds", maxBytes: MinSpanQueueBytes, size: 100_000, valueLen: []int{20}, total: 3000},
		{name: "mixed sizes", maxBytes: 1 << 20, size: 100_000, valueLen: []int{20, 1000, 60 << 10, 300 << 10}, total: 2000},
		{name: "huge spans: batches cut by bytes", maxBytes: 20 << 20, size: 100_000, valueLen: []int{200 << 10}, total: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exp := &gatedExporter{release: make(chan struct{})}
			dropped := prometheus.NewCounter(prometheus.CounterOpts{Name: "dropped"})
			p := newQueueProcessor(exp, tt.size, tt.maxBytes, dropped, nil, zap.NewNop())
			tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(p))
			peak := int64(0)
			values := make([]string, len(tt.valueLen))
			for i, n := range tt.valueLen {
				values[i] = strings.Repeat("v", n)
			}
			for i := range tt.total {
				_, span := tp.Tracer("t").Start(context.Background(), "GET /orders/{id}")
				span.SetAttributes(attribute.String("user_agent.original", values[i%len(values)]),
					attribute.String("http.request.method", "GET"), attribute.Int("http.response.status_code", 200))
				span.End()
				b := p.queuedBytes()
				peak = max(peak, b)
				if b > int64(tt.maxBytes) {
					t.Fatalf("after span %d: %d bytes queued, bound %d", i, b, tt.maxBytes)
				}
			}
			close(exp.release)
			if err := tp.Shutdown(t.Context()); err != nil {
				t.Fatal(err)
			}
			if b := p.queuedBytes(); b != 0 {
				t.Errorf("%d bytes still counted after Shutdown", b)
			}
			exported, drops := exp.exported.Load(), int64(testutil.ToFloat64(dropped))
			t.Logf("peak %d bytes; exported %d, dropped %d; %d batches", peak, exported, drops, len(exp.batches))
			if exported+drops != int64(tt.total) {
				t.Errorf("exported %d + dropped %d != %d ended", exported, drops, tt.total)
			}
			for i, b := range exp.batches {
				// The batch is cut once its cost reaches exportBatchBytes:
				// by its last span at most past it.
				if b[0] > exportBatchSize || (b[1] > exportBatchBytes && b[0] > 1 && b[1]-b[1]/b[0] > exportBatchBytes) {
					t.Errorf("batch %d: %d spans costing %d bytes", i, b[0], b[1])
				}
			}
		})
	}
}

// TestSpanCostBoundsMemory sends requests through the sidecar's listener
// while the exporter does not answer, so that their spans stay queued, and
// compares the heap they hold with what the queue counts for them: the
// count (spanCost) must not be below the memory, or --span-queue-bytes
// would not bound it. Long query strings matter: url.path is a substring of
// the request line, and a redacted query left the whole line in memory
// behind a short path. (Values stay under the 4 KiB export cap, whose
// copies of longer ones for the batch being exported are not counted.)
func TestSpanCostBoundsMemory(t *testing.T) {
	tests := []struct {
		name, target, userAgent string
	}{
		{name: "plain", target: "/orders/42?page=2", userAgent: "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0"},
		{name: "long user agent", target: "/orders/42", userAgent: strings.Repeat("u", 4000)},
		{name: "long query kept", target: "/search?q=" + strings.Repeat("q", 4000), userAgent: "curl/8"},
		{name: "long query redacted", target: "/a?token=" + strings.Repeat("t", 30<<10), userAgent: "curl/8"},
		{name: "long path", target: "/files/" + strings.Repeat("p", 4000), userAgent: "curl/8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exp := &gatedExporter{release: make(chan struct{})}
			cfg := DefaultConfig()
			cfg.Listen, cfg.AdminListen = "127.0.0.1:0", "127.0.0.1:0"
			cfg.Upstream = cannedServer(t, cannedOK)
			cfg.OTLPEndpoint = "http://127.0.0.1:4318" // never dialled: exp replaces it
			cfg.AccessLog = "off"
			cfg.SpanQueueSize = 100_000
			cfg.SpanQueueBytes = 1 << 30
			cfg.ShutdownGrace = 0
			reg := prometheus.NewRegistry()
			sc, err := New(cfg, Options{Registerer: reg, Gatherer: reg, spanExporter: exp})
			if err != nil {
				t.Fatal(err)
			}
			if err := sc.Start(t.Context()); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				close(exp.release)
				_ = sc.Shutdown(context.Background())
			})
			p := queueProcessorOf(t, sc)
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
			defer client.CloseIdleConnections()
			url := "http://" + sc.Addr().String() + tt.target
			get := func() {
				req, _ := http.NewRequest("GET", url, nil)
				req.Header.Set("User-Agent", tt.userAgent)
				res, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
			}
			for range 50 { // connections, pools, metric series
				get()
			}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			costBefore := p.queuedBytes()
			const n = 600
			for range n {
				get()
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			held := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / n
			counted := (p.queuedBytes() - costBefore) / n
			t.Logf("%d bytes held per queued span, %d counted", held, counted)
			if held > counted {
				t.Errorf("a queued span holds %d bytes, the queue counts %d", held, counted)
			}
		})
	}
}

// queueProcessorOf returns the sidecar's span queue.
func queueProcessorOf(t *testing.T, sc *Sidecar) *queueProcessor {
	t.Helper()
	if sc.spanQueue == nil {
		t.Fatal("the sidecar has no span queue")
	}
	return sc.spanQueue
}
