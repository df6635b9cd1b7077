package collector

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"google.golang.org/protobuf/proto"

	"github.com/hopscope/hopscope/collector/otlp"
	"github.com/hopscope/hopscope/correlate"
	"github.com/hopscope/hopscope/correlate/beacon"
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
	e.add(now, tid, nil, spans, ids)
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

// TestLateALBParentsLoadBalancer is the realistic order: the sidecar span
// and the ingress line (and the beacon) arrive, the trace is exported
// after --export-delay, and the ALB line arrives 5 minutes later (ALB
// writes its logs every 5 minutes). The loadbalancer span then exported
// must be the parent the ingress span was given at the first export, and
// the trace one tree, the loadbalancer span enclosing the ingress span
// (also when only the ingress line came, from a host whose clock is 4 s
// behind the ALB's). Without ALB logs as an input no parent is reserved.
func TestLateALBParentsLoadBalancer(t *testing.T) {
	for _, tc := range []struct {
		scenario    string
		ingressOnly bool // no spans, no beacon
		albInput    bool
		lbParent    string // the loadbalancer span's parent
		ingressPar  string // the ingress span's parent at first export, "" = root; "loadbalancer" = the reserved id
	}{
		{"full_path", false, true, "request", "loadbalancer"},
		{"no_rum", false, true, "", "loadbalancer"},
		{"skew_plus_2s", true, true, "", "loadbalancer"},
		{"no_rum", false, false, "", ""},
		{"full_path", false, false, "request", "request"},
	} {
		name := tc.scenario + "/alb_input"
		if !tc.albInput {
			name = tc.scenario + "/no_alb_input"
		}
		if tc.ingressOnly {
			name += "/ingress_only"
		}
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join("testdata", "recorded", tc.scenario)
			capture := newSpanCapture(t)
			clock := time.Date(2026, 11, 26, 10, 0, 1, 0, time.UTC)
			cfg := DefaultConfig()
			cfg.OTLPGRPCListen, cfg.OTLPHTTPListen, cfg.ForwardListen, cfg.RUMListen = "", "", "", ""
			cfg.HTTPListen = "127.0.0.1:0"
			cfg.ExportOTLPEndpoint = capture.url
			if tc.albInput {
				cfg.ALBLogs = t.TempDir()
			}
			reg := prometheus.NewRegistry()
			c, err := New(cfg, Options{Registerer: reg, Gatherer: reg, Now: func() time.Time { return clock }})
			if err != nil {
				t.Fatal(err)
			}
			read := func(name string) []byte {
				b, err := os.ReadFile(filepath.Join(dir, name))
				if err != nil {
					t.Fatal(err)
				}
				return b
			}
			if !tc.ingressOnly {
				var req coltracepb.ExportTraceServiceRequest
				if err := otlp.UnmarshalJSON(read("spans.json"), &req); err != nil {
					t.Fatal(err)
				}
				body, _ := proto.Marshal(&req)
				if err := c.consumeOTLP(context.Background(), body); err != nil {
					t.Fatal(err)
				}
			}
			consumeLine(c, FormatIngressNginxJSON, SrcIngress, "ingress.log", 1, strings.TrimSpace(string(read("ingress.log"))))
			if _, err := os.Stat(filepath.Join(dir, "beacon.json")); err == nil && !tc.ingressOnly {
				bt, err := beacon.Parse(read("beacon.json"), beacon.DefaultLimits())
				if err != nil {
					t.Fatal(err)
				}
				if _, err := c.store.Add(clock, &bt); err != nil {
					t.Fatal(err)
				}
			}
			clock = clock.Add(cfg.ExportDelay)
			c.em.flush(context.Background(), c.em.due(clock, false))
			first := capture.byName()
			if first["ingress"] == nil || first["loadbalancer"] != nil {
				t.Fatalf("first export: %v", names(first))
			}
			ingressParent := hex.EncodeToString(first["ingress"].ParentSpanId)

			// Five minutes later, the ALB line.
			clock = clock.Add(5 * time.Minute)
			sc := bufio.NewScanner(strings.NewReader(string(read("alb.log"))))
			for sc.Scan() {
				consumeLine(c, FormatALB, SrcALB, "alb.log", 1, sc.Text())
			}
			clock = clock.Add(cfg.ExportDelay)
			c.em.flush(context.Background(), c.em.due(clock, false))
			all := capture.byName()
			lb := all["loadbalancer"]
			if lb == nil {
				t.Fatalf("no loadbalancer span after the ALB line: %v", names(all))
			}
			idOf := func(name string) string {
				if name == "" {
					return ""
				}
				return hex.EncodeToString(all[name].SpanId)
			}
			if got := hex.EncodeToString(lb.ParentSpanId); got != idOf(tc.lbParent) {
				t.Errorf("loadbalancer's parent %q, want %s's %q", got, tc.lbParent, idOf(tc.lbParent))
			}
			if ingressParent != idOf(tc.ingressPar) {
				t.Errorf("ingress's parent %q, want %s's %q", ingressParent, tc.ingressPar, idOf(tc.ingressPar))
			}
			if !tc.albInput {
				return
			}
			// One tree: one root, every parent exported.
			capture.mu.Lock()
			ids := map[string]bool{}
			for _, sp := range capture.spans {
				ids[hex.EncodeToString(sp.SpanId)] = true
			}
			var roots []string
			for _, sp := range capture.spans {
				if p := hex.EncodeToString(sp.ParentSpanId); p == "" || !ids[p] {
					roots = append(roots, sp.Name)
				}
			}
			capture.mu.Unlock()
			if len(roots) != 1 {
				t.Errorf("roots %v, want one", roots)
			}
			ing := all["ingress"]
			if lb.StartTimeUnixNano > ing.StartTimeUnixNano || lb.EndTimeUnixNano < ing.EndTimeUnixNano {
				t.Errorf("loadbalancer [%d, %d] does not enclose ingress [%d, %d]", lb.StartTimeUnixNano, lb.EndTimeUnixNano, ing.StartTimeUnixNano, ing.EndTimeUnixNano)
			}
		})
	}
}

func names(m map[string]*tracepb.Span) []string {
	var out []string
	for n := range m {
		out = append(out, n)
	}
	return out
}

// blockingSink answers no request until its context ends, like an OTLP
// backend that accepts connections and never replies; its first request
// also ends the shutdown's patience (stop).
type blockingSink struct {
	calls atomic.Int32
	stop  func()
}

func (s *blockingSink) Export(ctx context.Context, _ []byte) error {
	if s.calls.Add(1) == 1 {
		s.stop()
	}
	<-ctx.Done()
	return ctx.Err()
}

func (s *blockingSink) Close() error { return nil }

// TestShutdownFlushBoundedByContext: a shutdown flush to a backend that
// never answers ends with its context, not after exportTimeout per
// request, and counts every request it could not send.
func TestShutdownFlushBoundedByContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sink := &blockingSink{stop: cancel}
	e := testEmitter(t, 100_000, time.Second, sink)
	t0 := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	const traces, perTrace = 2000, 10 // several requests of at most 1 MiB
	for i := 0; i < traces; i++ {
		var held []otlpwire.Held
		var ids [][8]byte
		for s := 0; s < perTrace; s++ {
			_, h, sid := heldSpan(i, uint64(s+1), 250)
			held = append(held, h)
			ids = append(ids, sid)
		}
		id, _, _ := heldSpan(i, 1, 0)
		testTouch(e, t0, id, held, ids)
	}
	start := time.Now()
	e.flushAll(ctx, t0)
	if took := time.Since(start); took >= exportTimeout {
		t.Fatalf("shutdown flush took %v after its context ended", took)
	}
	failed := testutil.ToFloat64(e.m.exportErrors)
	if sink.calls.Load() != 1 || failed < 2 {
		t.Fatalf("%d requests sent, %v counted failed: want the first sent and cut, the rest failed unsent", sink.calls.Load(), failed)
	}
}

// hangingSink is an OTLP backend that accepts and never answers, and whose
// client ignores cancellation for up to exportTimeout per request, as a
// stuck connection does; started is closed at its first request.
type hangingSink struct {
	calls   atomic.Int32
	started chan struct{}
}

func (s *hangingSink) Export(ctx context.Context, _ []byte) error {
	if s.calls.Add(1) == 1 {
		close(s.started)
	}
	<-ctx.Done()
	return ctx.Err()
}

func (s *hangingSink) Close() error { return nil }

// TestShutdownCutsTickerFlush: a shutdown that starts while the ticker's
// flush waits on a backend that never answers returns when its context
// ends (issue 19, item 4: the ticker's flush ran on context.WithoutCancel,
// up to exportTimeout per request, and held the lock the shutdown flush
// needed: the collector outlived its 20 s by minutes).
func TestShutdownCutsTickerFlush(t *testing.T) {
	cfg := DefaultConfig()
	cfg.OTLPGRPCListen, cfg.OTLPHTTPListen, cfg.ForwardListen, cfg.RUMListen, cfg.HTTPListen = "", "", "", "", "127.0.0.1:0"
	cfg.ExportOTLPEndpoint = "http://127.0.0.1:1"
	cfg.ExportDelay = time.Millisecond
	reg := prometheus.NewRegistry()
	c, err := New(cfg, Options{Registerer: reg, Gatherer: reg, FlushTick: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	sink := &hangingSink{started: make(chan struct{})}
	c.sink, c.em.sink = sink, sink
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Several requests' worth of spans, due at the next tick.
	body, _ := proto.Marshal(exportRequest(3000, 4, 1, false))
	if err := c.consumeOTLP(context.Background(), body); err != nil {
		t.Fatal(err)
	}
	select {
	case <-sink.started:
	case <-time.After(10 * time.Second):
		t.Fatal("the ticker never flushed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	c.Shutdown(ctx)
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("Shutdown with 300 ms took %v while a flush hung", took)
	}
	if n := testutil.ToFloat64(c.m.exportErrors); n < 2 {
		t.Errorf("%v export requests counted failed, want every request of the cut flush", n)
	}
}
