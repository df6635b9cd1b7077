package collector

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/hopscope/hopscope/internal/otlpwire"
	"github.com/hopscope/hopscope/internal/testkit"
)

// TestExportHeldPerTraceBounded replays issue 19 item 3's second case: one
// trace id sent 5,000 spans with a 1 KB attribute each, the export
// endpoint a black hole, and every span was held (RSS 39 → 336 MB). The
// spans held per trace stop at the store's per-trace limit; the rest are
// counted, not held.
func TestExportHeldPerTraceBounded(t *testing.T) {
	e := testEmitter(t, 1000, time.Second, &fakeSink{})
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	const spans = 5000
	var id string
	for s := 0; s < spans; s++ {
		var h otlpwire.Held
		var sid [8]byte
		id, h, sid = heldSpan(0, uint64(s+1), 1024)
		testTouch(e, t0.Add(time.Duration(s)*time.Millisecond), id, []otlpwire.Held{h}, [][8]byte{sid})
	}
	st := testState(t, e, id)
	if len(st.held) != e.maxHeldPerTrace {
		t.Errorf("%d spans held for one trace, want the limit %d", len(st.held), e.maxHeldPerTrace)
	}
	if got := testutilCounter(e.m.exportDropped.WithLabelValues("trace_full")); int(got) != spans-e.maxHeldPerTrace {
		t.Errorf("export_dropped_spans_total{reason=trace_full} = %v, want %d", got, spans-e.maxHeldPerTrace)
	}
	if e.heldBytes.Load() != int64(st.heldBytes) || st.heldBytes < e.maxHeldPerTrace*1024 || st.heldBytes > e.maxHeldPerTrace*1200 {
		t.Errorf("held bytes %d (trace %d) for %d spans of ~1.1 KB", e.heldBytes.Load(), st.heldBytes, e.maxHeldPerTrace)
	}
}

// hungSink is a black hole: each export waits for release or its
// context, whichever comes first, and fails.
type hungSink struct {
	calls   atomic.Int64
	release chan struct{}
}

func (s *hungSink) Export(ctx context.Context, _ []byte) error {
	s.calls.Add(1)
	select {
	case <-s.release:
	case <-ctx.Done():
	}
	return context.DeadlineExceeded
}

func (s *hungSink) Close() error { return nil }

// TestExportBufferBoundedWhileEndpointHangs replays issue 19 item 3's
// first case: the export endpoint a black hole and traces arriving
// meanwhile (250k traces grew RSS 57 → 258 MB, still rising). While a
// flush hangs on the endpoint the spans it took stay counted, new spans
// are held only up to --max-export-buffer-mib and the rest counted; the
// hung flush gives up its other requests at the first timeout instead of
// waiting one timeout each; afterwards nothing is counted as held.
func TestExportBufferBoundedWhileEndpointHangs(t *testing.T) {
	sink := &hungSink{release: make(chan struct{})}
	e := testEmitter(t, 1_000_000, time.Second, sink)
	e.maxHeldBytes = 4 << 20
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	touch := func(from, n int, at time.Time) {
		for i := from; i < from+n; i++ {
			id, h, sid := heldSpan(i, 1, 1024)
			testTouch(e, at, id, []otlpwire.Held{h}, [][8]byte{sid})
		}
	}
	// 3 MiB waiting: under the bound, all held.
	touch(0, 3000, t0)
	if got := testutilCounter(e.m.exportDropped.WithLabelValues("buffer_full")); got != 0 {
		t.Fatalf("%v spans refused under the bound", got)
	}
	due := e.due(t0.Add(2*time.Second), false)
	if due.traces != 3000 {
		t.Fatalf("%d traces due, want 3000", due.traces)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); e.flush(context.Background(), due) }()
	testkit.Eventually(t, "the flush's first request", 5*time.Second, func() bool { return sink.calls.Load() > 0 })
	// The flush hangs on its first request: its 3 MiB stay counted, so
	// only about 1 MiB of 3 MiB more is held.
	touch(3000, 3000, t0.Add(2*time.Second))
	held := e.heldBytes.Load()
	if held > e.maxHeldBytes {
		t.Errorf("%d bytes held, over the bound %d", held, e.maxHeldBytes)
	}
	refused := testutilCounter(e.m.exportDropped.WithLabelValues("buffer_full"))
	if refused < 1500 || refused > 2200 {
		t.Errorf("%v spans refused past the bound, want about 2,000 of 3,000", refused)
	}
	close(sink.release)
	wg.Wait()
	if n := sink.calls.Load(); n != 1 {
		t.Errorf("%d export requests behind a hung endpoint, want 1 (the rest given up at its timeout)", n)
	}
	if got := testutilCounter(e.m.exportDropped.WithLabelValues("export_failed")); got != 3000 {
		t.Errorf("export_dropped_spans_total{reason=export_failed} = %v, want the 3000 of the flush", got)
	}
	held = e.heldBytes.Load()
	var waiting int64
	for i := 0; i < 6000; i++ {
		id, _, _ := heldSpan(i, 1, 0)
		waiting += int64(testState(t, e, id).heldBytes)
	}
	if held != waiting {
		t.Errorf("after the flush %d bytes counted as held, %d really waiting", held, waiting)
	}
}

// TestHeldSpansCopiedOutOfTheRequest: spans held for export no longer
// point into the request they came in (one small span used to keep a
// whole 16 MiB request alive); a resource the spans share is copied once.
func TestHeldSpansCopiedOutOfTheRequest(t *testing.T) {
	e := testEmitter(t, 100, time.Second, &fakeSink{})
	body := make([]byte, 1<<20) // the request
	res := body[100:400]
	var spans []otlpwire.Held
	var ids [][8]byte
	var id string
	for s := 0; s < 10; s++ {
		var h otlpwire.Held
		var sid [8]byte
		id, h, sid = heldSpan(7, uint64(s+1), 0)
		span := body[1000+s*200 : 1000+s*200+len(h.Span)]
		copy(span, h.Span)
		spans = append(spans, otlpwire.Held{Resource: res, Span: span})
		ids = append(ids, sid)
	}
	testTouch(e, time.Now(), id, spans, ids)
	st := testState(t, e, id)
	lo := uintptr(unsafe.Pointer(&body[0]))
	within := func(b []byte) bool {
		p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
		return len(b) > 0 && p >= lo && p < lo+uintptr(len(body))
	}
	var spanBytes int
	for i, h := range st.held {
		if within(h.Span) || within(h.Resource) {
			t.Fatalf("held span %d still points into the request", i)
		}
		if string(h.Span) != string(spans[i].Span) || string(h.Resource) != string(res) {
			t.Fatalf("held span %d changed in the copy", i)
		}
		spanBytes += len(h.Span)
	}
	if want := len(res) + spanBytes; st.heldBytes != want {
		t.Errorf("%d bytes held, want %d (the shared resource once)", st.heldBytes, want)
	}
}
