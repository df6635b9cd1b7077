package collector

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/protobuf/proto"

	"github.com/hopscope/hopscope/internal/otlpwire"
)

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

// slowSink is an export endpoint that takes delay per export.
type slowSink struct {
	delay time.Duration

	mu                sync.Mutex
	exports           int
	closed, lateAfter bool
}

func (s *slowSink) Export(ctx context.Context, _ []byte) error {
	select {
	case <-time.After(s.delay):
	case <-ctx.Done():
		return ctx.Err()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.exports++
	s.lateAfter = s.lateAfter || s.closed
	return nil
}

func (s *slowSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

// TestShutdownWaitsForLateSpans: spans of a trace already exported wait
// for the export delay like any other; Shutdown (SIGTERM) sends them
// before it closes the export.
func TestShutdownWaitsForLateSpans(t *testing.T) {
	cfg := DefaultConfig()
	cfg.OTLPGRPCListen, cfg.OTLPHTTPListen, cfg.ForwardListen, cfg.RUMListen = "", "", "", ""
	cfg.HTTPListen = "127.0.0.1:0"
	cfg.ExportOTLPEndpoint = "http://127.0.0.1:1" // replaced below
	reg := prometheus.NewRegistry()
	c, err := New(cfg, Options{Registerer: reg, Gatherer: reg})
	if err != nil {
		t.Fatal(err)
	}
	sink := &slowSink{delay: 300 * time.Millisecond}
	c.sink.Close()
	c.sink, c.em.sink = sink, sink
	if err := c.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	first, _ := proto.Marshal(exportRequest(1, 0, 7, false))
	late, _ := proto.Marshal(exportRequest(1, 1, 7, false)) // the same trace, one more span
	if err := c.consumeOTLP(t.Context(), first); err != nil {
		t.Fatal(err)
	}
	c.em.flushAll(t.Context(), time.Now()) // the trace is exported
	if err := c.consumeOTLP(t.Context(), late); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if sink.exports != 2 || sink.lateAfter {
		t.Fatalf("%d exports done when Shutdown returned (want 2: the trace, then its late spans); one after Close: %v", sink.exports, sink.lateAfter)
	}
}
