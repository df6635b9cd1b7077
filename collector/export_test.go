package collector

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"google.golang.org/protobuf/proto"

	"github.com/hopscope/hopscope/correlate"
	"github.com/hopscope/hopscope/internal/otlpwire"
)

// fakeSink records the export requests it gets; fail decides, per request
// (numbered from 0), whether it fails.
type fakeSink struct {
	mu       sync.Mutex
	requests []*coltracepb.ExportTraceServiceRequest
	sizes    []int
	fail     func(n int) bool
}

func (s *fakeSink) Export(_ context.Context, body []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.requests)
	var req coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(body, &req); err != nil {
		return err
	}
	s.requests = append(s.requests, &req)
	s.sizes = append(s.sizes, len(body))
	if s.fail != nil && s.fail(n) {
		return errors.New("rpc error: code = ResourceExhausted desc = grpc: received message larger than max")
	}
	return nil
}

func (s *fakeSink) Close() error { return nil }

// traceIDs lists the trace ids of the spans received, in order.
func (s *fakeSink) traceIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for _, r := range s.requests {
		for _, rs := range r.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				for _, sp := range ss.Spans {
					ids = append(ids, hex.EncodeToString(sp.TraceId))
				}
			}
		}
	}
	return ids
}

// testEmitter is an emitter over its own store and metrics.
func testEmitter(t *testing.T, maxTraces int, delay time.Duration, sink spanSink) *emitter {
	t.Helper()
	scfg := correlate.DefaultStoreConfig()
	scfg.MaxTraces = maxTraces
	scfg.Window, scfg.Delay = 10*time.Minute, delay
	m, err := newMetrics(prometheus.NewRegistry(), func() correlate.StoreStats { return correlate.StoreStats{} })
	if err != nil {
		t.Fatal(err)
	}
	e := newEmitter(m, sink)
	if _, err := e.newTraceStore(scfg); err != nil {
		t.Fatal(err)
	}
	return e
}

// mustTraceID parses a hex trace id.
func mustTraceID(t *testing.T, id string) correlate.TraceID {
	t.Helper()
	tid, err := correlate.ParseTraceID(id)
	if err != nil {
		t.Fatal(err)
	}
	return tid
}

// testTouch files spans of trace id (hex) as consumeOTLP does.
func testTouch(e *emitter, now time.Time, id string, spans []otlpwire.Held, ids [][8]byte) {
	tid, err := correlate.ParseTraceID(id)
	if err != nil {
		panic(err)
	}
	e.add(now, tid, nil, spans, ids, 0)
}

// testState is the export state the store holds for trace id (hex).
func testState(t *testing.T, e *emitter, id string) *traceState {
	t.Helper()
	tid, err := correlate.ParseTraceID(id)
	if err != nil {
		t.Fatal(err)
	}
	var st *traceState
	if !e.store.Inspect(tid, func(s *traceState) { st = s }) {
		t.Fatalf("trace %s not held", id)
	}
	return st
}

// heldSpan is one span of trace n, as consumeOTLP holds it.
func heldSpan(n int, span uint64, pad int) (string, otlpwire.Held, [8]byte) {
	tid := make([]byte, 16)
	binary.BigEndian.PutUint64(tid[8:], uint64(n+1))
	var sid [8]byte
	binary.BigEndian.PutUint64(sid[:], span)
	raw, _ := proto.Marshal(&tracepb.Span{TraceId: tid, SpanId: sid[:], Name: "op" + strings.Repeat("x", pad),
		StartTimeUnixNano: 1e18, EndTimeUnixNano: 1e18 + 1e6})
	return hex.EncodeToString(tid), otlpwire.Held{Resource: []byte{}, Scope: []byte{}, Span: raw}, sid
}

// TestExportStateBounded: the exporter's per-trace state stays within
// --max-traces however many traces pass (exported ones are forgotten
// first, and counted), and every trace still waits --export-delay.
func TestExportStateBounded(t *testing.T) {
	const maxTraces, traces = 10, 5000
	const delay, step = 50 * time.Millisecond, 10 * time.Millisecond
	sink := &fakeSink{}
	e := testEmitter(t, maxTraces, delay, sink)
	t0 := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	touched := map[string]time.Time{}
	exported := 0
	now := t0
	for i := 0; i < traces+10; i++ {
		now = t0.Add(time.Duration(i) * step)
		if i < traces {
			id, h, sid := heldSpan(i, 1, 0)
			testTouch(e, now, id, []otlpwire.Held{h}, [][8]byte{sid})
			touched[id] = now
		}
		e.flush(context.Background(), e.due(now, false))
		ids := sink.traceIDs()
		for _, id := range ids[exported:] {
			if waited := now.Sub(touched[id]); waited < delay {
				t.Fatalf("trace %d exported %v after its record, before the %v delay", i, waited, delay)
			}
		}
		exported = len(ids)
		if n := e.store.Stats().Traces; n > maxTraces {
			t.Fatalf("after %d traces the exporter holds %d, more than --max-traces %d", i+1, n, maxTraces)
		}
	}
	if exported != traces {
		t.Errorf("%d traces exported, want %d", exported, traces)
	}
	if got := testutilCounter(e.m.exportEvicted); got < traces-maxTraces {
		t.Errorf("hopscope_collector_export_evicted_total %v, want at least %d", got, traces-maxTraces)
	}
	if got := testutilCounter(e.m.exportEarly); got != 0 {
		t.Errorf("hopscope_collector_export_early_total %v, want 0: never more than --max-traces waited", got)
	}
}

// TestExportDelayHoldsPastMaxTraces: with more traces seen in the window
// than --max-traces, a new trace still waits --export-delay (it was
// exported on the next tick, and its hops observed before the rest of the
// trace could join).
func TestExportDelayHoldsPastMaxTraces(t *testing.T) {
	const delay, tick = 3 * time.Second, 250 * time.Millisecond
	sink := &fakeSink{}
	e := testEmitter(t, 100, delay, sink)
	t0 := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	for i := 0; i < 150; i++ {
		id, h, sid := heldSpan(i, 1, 0)
		testTouch(e, t0, id, []otlpwire.Held{h}, [][8]byte{sid})
	}
	now := t0.Add(delay)
	e.flush(context.Background(), e.due(now, false))
	if n := len(sink.traceIDs()); n != 150 {
		t.Fatalf("%d earlier traces exported, want 150", n)
	}
	id, h, sid := heldSpan(150, 1, 0)
	testTouch(e, now, id, []otlpwire.Held{h}, [][8]byte{sid})
	for at := now.Add(tick); at.Before(now.Add(delay)); at = at.Add(tick) {
		e.flush(context.Background(), e.due(at, false))
		if n := len(sink.traceIDs()); n != 150 {
			t.Fatalf("the new trace was exported %v after its only record; --export-delay is %v", at.Sub(now), delay)
		}
	}
	e.flush(context.Background(), e.due(now.Add(delay), false))
	if ids := sink.traceIDs(); len(ids) != 151 || ids[150] != id {
		t.Fatalf("the new trace was not exported once its delay passed: %d spans", len(ids))
	}
	if n := e.store.Stats().Traces; n > 100 {
		t.Errorf("the exporter holds %d traces, more than --max-traces 100", n)
	}
}

// TestExportLateSpanDeduped: a late span of an exported trace is held for
// the delay like any other, and a span received twice is sent once.
func TestExportLateSpanDeduped(t *testing.T) {
	sink := &fakeSink{}
	e := testEmitter(t, 100, time.Second, sink)
	t0 := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	id, h1, s1 := heldSpan(0, 1, 0)
	_, h2, s2 := heldSpan(0, 2, 0)
	testTouch(e, t0, id, []otlpwire.Held{h1}, [][8]byte{s1})
	e.flush(context.Background(), e.due(t0.Add(time.Second), false))
	testTouch(e, t0.Add(2*time.Second), id, []otlpwire.Held{h1, h2}, [][8]byte{s1, s2})
	e.flush(context.Background(), e.due(t0.Add(2500*time.Millisecond), false))
	if n := len(sink.traceIDs()); n != 1 {
		t.Fatalf("%d spans out before the late span's delay, want 1", n)
	}
	e.flush(context.Background(), e.due(t0.Add(3*time.Second), false))
	if n := len(sink.traceIDs()); n != 2 {
		t.Fatalf("%d spans out, want 2 (the first one again was a duplicate)", n)
	}
}

// TestSplitExport: every request stays within the byte and span bounds,
// and the batches hold every span in order.
func TestSplitExport(t *testing.T) {
	res1, res2 := []byte(strings.Repeat("r", 300)), []byte(strings.Repeat("R", 200))
	scope := []byte("scope")
	for _, tc := range []struct {
		name               string
		spans, pad         int
		maxBytes, maxSpans int
		wantBatches        int // 0: don't check
	}{
		{"one small request", 10, 0, 1 << 20, 8192, 1},
		{"span bound", 100, 0, 1 << 20, 30, 4},
		{"byte bound", 2000, 500, 64 << 10, 8192, 0},
		{"spans bigger than the bound go alone", 5, 2000, 1000, 8192, 5},
		{"both resources in every batch", 1000, 100, 16 << 10, 8192, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var spans []otlpwire.Held
			for i := 0; i < tc.spans; i++ {
				_, h, _ := heldSpan(i, uint64(i+1), tc.pad)
				h.Resource, h.Scope = res1, scope
				if i%3 == 0 {
					h.Resource, h.ResourceSchema = res2, []byte("https://opentelemetry.io/schemas/1.26.0")
				}
				spans = append(spans, h)
			}
			batches := splitExport(spans, tc.maxBytes, tc.maxSpans)
			if tc.wantBatches > 0 && len(batches) != tc.wantBatches {
				t.Errorf("%d batches, want %d", len(batches), tc.wantBatches)
			}
			var i int
			for _, b := range batches {
				if len(b) > tc.maxSpans {
					t.Errorf("batch of %d spans", len(b))
				}
				if n := len(otlpwire.AppendRequest(nil, b)); n > tc.maxBytes && len(b) > 1 {
					t.Errorf("batch of %d spans is %d bytes, over %d", len(b), n, tc.maxBytes)
				}
				for _, h := range b {
					if string(h.Span) != string(spans[i].Span) {
						t.Fatalf("span %d out of order", i)
					}
					i++
				}
			}
			if i != len(spans) {
				t.Errorf("%d spans in the batches, want %d", i, len(spans))
			}
		})
	}
}

// TestExportBatchesAndWarnings: a shutdown flush of 20k held spans
// (about 6 MB, over a gRPC receiver's 4 MiB) goes out as several requests
// within the bound; each failed request is counted, and failures are
// logged at Warn at most once per 10 s with the count since the last line
// and the error.
func TestExportBatchesAndWarnings(t *testing.T) {
	sink := &fakeSink{fail: func(n int) bool { return n%2 == 1 }}
	e := testEmitter(t, 100_000, time.Second, sink)
	core, logs := observer.New(zapcore.WarnLevel)
	e.log = zap.New(core)
	clock := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	e.clock = func() time.Time { return clock }
	t0 := clock
	const traces, perTrace = 2000, 10
	for i := 0; i < traces; i++ {
		var held []otlpwire.Held
		var ids [][8]byte
		for s := 0; s < perTrace; s++ {
			id, h, sid := heldSpan(i, uint64(s+1), 250)
			_ = id
			held = append(held, h)
			ids = append(ids, sid)
		}
		id, _, _ := heldSpan(i, 1, 0)
		testTouch(e, t0, id, held, ids)
	}
	e.flushAll(context.Background(), t0)
	if len(sink.requests) < 6 {
		t.Fatalf("%d export requests for %d spans, want at least 6 of at most 1 MiB", len(sink.requests), traces*perTrace)
	}
	var sent, ok int
	for i, r := range sink.requests {
		if sink.sizes[i] > maxExportBytes {
			t.Errorf("request %d is %d bytes, over %d", i, sink.sizes[i], maxExportBytes)
		}
		n := 0
		for _, rs := range r.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				n += len(ss.Spans)
			}
		}
		sent += n
		if i%2 == 0 {
			ok += n
		}
	}
	failed := len(sink.requests) / 2
	if sent != traces*perTrace {
		t.Errorf("%d spans sent, want %d", sent, traces*perTrace)
	}
	if got := testutilCounter(e.m.exportErrors); int(got) != failed {
		t.Errorf("hopscope_collector_export_errors_total %v, want %d (one per failed request)", got, failed)
	}
	if got := testutilCounter(e.m.exported); int(got) != ok {
		t.Errorf("hopscope_collector_exported_spans_total %v, want %d", got, ok)
	}
	warns := logs.FilterMessage("OTLP span export failed").All()
	if len(warns) != 1 {
		t.Fatalf("%d warnings for %d failures within 10 s, want 1", len(warns), failed)
	}
	if f := warns[0].ContextMap(); f["failures"] != int64(1) || !strings.Contains(f["error"].(string), "ResourceExhausted") {
		t.Errorf("first warning: %v", f)
	}

	// 10 s later the next failure logs the ones held back.
	clock = clock.Add(exportWarnEvery)
	sink.fail = func(int) bool { return true }
	id, h, sid := heldSpan(traces, 1, 0)
	testTouch(e, clock, id, []otlpwire.Held{h}, [][8]byte{sid})
	e.flushAll(context.Background(), clock)
	warns = logs.FilterMessage("OTLP span export failed").All()
	if len(warns) != 2 || warns[1].ContextMap()["failures"] != int64(failed) {
		t.Fatalf("after 10 s: %d warnings, last %v; want 2, the last counting %d failures", len(warns), warns[len(warns)-1].ContextMap(), failed)
	}
}
