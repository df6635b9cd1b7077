package correlate

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"
)

// testStore keeps, as each trace's state, the breakdown last handed to
// Hooks.Due (what the exporter emitted).
type testStore = Store[Breakdown]

func newTestStore(t *testing.T, mutate func(*StoreConfig)) *testStore {
	t.Helper()
	cfg := DefaultStoreConfig()
	if mutate != nil {
		mutate(&cfg)
	}
	s, err := NewStore(cfg, Hooks[Breakdown]{Due: func(d Due[Breakdown]) {
		if d.Breakdown != nil {
			*d.State = *d.Breakdown
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// emit makes every trace updated since it was last due, due: the
// exporter's moment. It returns the breakdown handed over for id.
func emit(s *testStore, id TraceID) (Breakdown, bool) {
	s.Due(t0, true)
	var b Breakdown
	ok := s.Inspect(id, func(st *Breakdown) { b = *st })
	return b, ok && !b.TraceID.IsZero()
}

func addAll[T any](t *testing.T, s *Store[T], now time.Time, recs ...Record) {
	t.Helper()
	for _, r := range recs {
		if _, err := s.Add(now, r); err != nil {
			t.Fatal(err)
		}
	}
}

// TestStoreLateALBLogUpdatesBreakdown: the ALB writes its log every five
// minutes; the breakdown read before it arrived is updated when it does.
func TestStoreLateALBLogUpdatesBreakdown(t *testing.T) {
	s := newTestStore(t, nil)
	g := fullPath()
	now := t0.Add(time.Second)
	addAll(t, s, now, g.Browser, g.Ingress, &g.Sidecars[0], &g.Backends[0], &g.Backends[1], &g.Backends[2])
	early, ok := emit(s, tid)
	if !ok {
		t.Fatal("trace not found")
	}
	if h := hopMap(early); h["loadbalancer"] != 0 || h["edge_network"] != 50 || early.Complete {
		t.Fatalf("before the ALB log: %v complete=%v", h, early.Complete)
	}
	res, err := s.Add(now.Add(5*time.Minute), g.LB)
	if err != nil {
		t.Fatal(err)
	}
	if res.TraceID != tid || !res.Late {
		t.Fatalf("late ALB record: %+v", res)
	}
	late, _ := s.View(tid)
	if !reflect.DeepEqual(hopMap(late), hopMap(Compute(fullPath()))) || !late.Complete {
		t.Fatalf("after the ALB log: %v", hopMap(late))
	}
}

// TestStoreLateMeansAfterEmit: a record is late only when the trace's
// breakdown had been emitted (Emit, the exporter; Breakdown, its old name)
// before it arrived; reading it (View, Recent: the API and UI) does not
// make the next record late.
func TestStoreLateMeansAfterEmit(t *testing.T) {
	g := fullPath()
	for _, tt := range []struct {
		name string
		read func(*testStore)
		late bool
	}{
		{"nothing read", func(*testStore) {}, false},
		{"View", func(s *testStore) { s.View(tid) }, false},
		{"Recent", func(s *testStore) { s.Recent(Filter{}, 10) }, false},
		{"View and Recent twice", func(s *testStore) { s.View(tid); s.Recent(Filter{}, 10); s.View(tid) }, false},
		{"Emit", func(s *testStore) { emit(s, tid) }, true},
		{"Emit then View", func(s *testStore) { emit(s, tid); s.View(tid) }, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestStore(t, nil)
			now := t0.Add(time.Second)
			addAll(t, s, now, g.Ingress, &g.Sidecars[0])
			tt.read(s)
			res, err := s.Add(now.Add(time.Minute), g.LB)
			if err != nil {
				t.Fatal(err)
			}
			if res.Late != tt.late {
				t.Fatalf("Late = %v, want %v", res.Late, tt.late)
			}
			// Every record after the emission is late, not only the first.
			if tt.late {
				if res, _ := s.Add(now.Add(2*time.Minute), g.Browser); !res.Late {
					t.Fatal("second record after the emission not late")
				}
			}
		})
	}
}

// TestStoreJoinsByRequestID: an ingress line with only X-Request-ID waits
// until the sidecar span (which carries both ids) claims it, in either order.
func TestStoreJoinsByRequestID(t *testing.T) {
	for _, ingressFirst := range []bool{true, false} {
		s := newTestStore(t, nil)
		g := fullPath()
		in := *g.Ingress
		in.Keys = Keys{RequestID: "req-1"}
		recs := []Record{&in, &g.Sidecars[0]}
		if !ingressFirst {
			recs = []Record{&g.Sidecars[0], &in}
		}
		res, err := s.Add(t0, recs[0])
		if err != nil {
			t.Fatal(err)
		}
		if ingressFirst && !res.Pending {
			t.Fatalf("ingress line without trace id not parked: %+v", res)
		}
		addAll(t, s, t0, recs[1])
		b, _ := s.View(tid)
		if h := hopMap(b); h["ingress"] != 5 || h["service"] != 5 {
			t.Fatalf("ingressFirst=%v: not joined by request id: %v", ingressFirst, h)
		}
		if st := s.Stats(); st.Pending != 0 {
			t.Fatalf("pending left: %+v", st)
		}
	}
}

func TestStoreJoinsByXRayRoot(t *testing.T) {
	s := newTestStore(t, nil)
	g := fullPath()
	res, err := s.Add(t0, g.LB) // only Keys.XRayRoot
	if err != nil || res.TraceID != tid {
		t.Fatalf("%+v %v", res, err)
	}
}

func TestStoreBounds(t *testing.T) {
	s := newTestStore(t, func(c *StoreConfig) {
		c.MaxTraces = 3
		c.MaxPending = 2
		c.Window = time.Minute
		c.MaxSpansPerTrace = 2
	})
	for i := 0; i < 5; i++ {
		id := fmt.Sprintf("%032x", i+1)
		addAll(t, s, t0.Add(time.Duration(i)*time.Second), &SidecarSpan{Keys: Keys{TraceID: id}, SpanID: sid("s"), Duration: time.Millisecond})
	}
	st := s.Stats()
	if st.Traces != 3 || st.Evicted != 2 {
		t.Fatalf("max traces: %+v", st)
	}
	if _, ok := s.View(TraceID{15: 1}); ok {
		t.Fatal("oldest trace not evicted")
	}
	// Per-trace span bound.
	id := fmt.Sprintf("%032x", 5)
	for i := 0; i < 4; i++ {
		addAll(t, s, t0.Add(5*time.Second), &BackendCall{Keys: Keys{TraceID: id}, SpanID: sid(fmt.Sprint(i)), Kind: "redis"})
	}
	if g, _ := s.Group(TraceID{15: 5}); len(g.Sidecars)+len(g.Backends) != 2 || s.Stats().SpansDropped != 3 {
		t.Fatalf("span bound: %d held, %+v", len(g.Sidecars)+len(g.Backends), s.Stats())
	}
	// Duplicate span ids are merged, not counted twice.
	addAll(t, s, t0.Add(5*time.Second), &SidecarSpan{Keys: Keys{TraceID: id}, SpanID: sid("s")})
	// Pending bound.
	for i := 0; i < 3; i++ {
		addAll(t, s, t0, &IngressLog{Keys: Keys{RequestID: fmt.Sprint("r", i)}})
	}
	if st := s.Stats(); st.Pending != 2 || st.PendingDropped != 1 {
		t.Fatalf("pending bound: %+v", st)
	}
	// Window expiry: everything is older than a minute after this.
	if n := s.Expire(t0.Add(10 * time.Minute)); n != 3 {
		t.Fatalf("expired %d", n)
	}
	if st := s.Stats(); st.Traces != 0 || st.Pending != 0 || st.Expired != 3 {
		t.Fatalf("after expiry: %+v", st)
	}
}

func TestStoreRejectsKeylessRecord(t *testing.T) {
	s := newTestStore(t, nil)
	if _, err := s.Add(t0, &IngressLog{}); !errors.Is(err, ErrNoKey) {
		t.Fatalf("err = %v", err)
	}
}

func TestStoreRecentFilters(t *testing.T) {
	s := newTestStore(t, nil)
	for i, svc := range []string{"shop", "cart", "shop"} {
		addAll(t, s, t0.Add(time.Duration(i)*time.Second), &SidecarSpan{Keys: Keys{TraceID: fmt.Sprintf("%032x", i+1)}, Service: svc, Route: "/r", Duration: time.Millisecond})
	}
	got := s.Recent(Filter{Service: "shop"}, 10)
	if len(got) != 2 || got[0].TraceID.String() != fmt.Sprintf("%032x", 3) {
		t.Fatalf("recent %+v", got)
	}
	if got := s.Recent(Filter{}, 1); len(got) != 1 {
		t.Fatalf("limit: %d", len(got))
	}
}

// TestStoreRecentNewestRequestFirst: a late record moves an older request
// among the most recently updated, but the list stays in request order.
func TestStoreRecentNewestRequestFirst(t *testing.T) {
	s := newTestStore(t, nil)
	id := func(i int) string { return fmt.Sprintf("%032x", i) }
	for i := 1; i <= 3; i++ {
		start := t0.Add(time.Duration(i) * time.Second)
		addAll(t, s, start.Add(time.Second), &SidecarSpan{Keys: Keys{TraceID: id(i)}, SpanID: sid("s"), Service: "shop",
			Start: start, Duration: 10 * time.Millisecond})
	}
	// Trace 1's ingress line arrives last.
	addAll(t, s, t0.Add(10*time.Second), &IngressLog{Keys: Keys{TraceID: id(1)}, Start: t0.Add(time.Second - time.Millisecond),
		RequestTime: 12 * time.Millisecond, Tries: []UpstreamTry{{Response: 11 * time.Millisecond}}})
	var got []string
	for _, b := range s.Recent(Filter{}, 10) {
		got = append(got, b.TraceID.String())
	}
	if want := []string{id(3), id(2), id(1)}; !reflect.DeepEqual(got, want) {
		t.Fatalf("order %v, want %v", got, want)
	}
}

func TestStoreConfigValidate(t *testing.T) {
	if err := (StoreConfig{}).Validate(); err == nil {
		t.Fatal("zero config accepted")
	}
	if err := DefaultStoreConfig().Validate(); err != nil {
		t.Fatal(err)
	}
}

// TestStoreHooks: a trace is due once its Delay has passed since its last
// update, and again after an update; beyond MaxTraces the trace due
// longest ago is evicted (Hooks.Evicted), and with none due the least
// recently updated one is handed over early, then dropped.
func TestStoreHooks(t *testing.T) {
	type due struct {
		id    string
		early bool
	}
	var dues []due
	var evicted []string
	s, err := NewStore(StoreConfig{Window: time.Hour, Delay: time.Second, MaxTraces: 2, MaxSpansPerTrace: 10}, Hooks[int]{
		Due: func(d Due[int]) {
			*d.State++
			dues = append(dues, due{d.ID.String(), d.Early})
		},
		Evicted: func(id TraceID, st *int) { evicted = append(evicted, fmt.Sprint(id, *st)) },
	})
	if err != nil {
		t.Fatal(err)
	}
	id := func(n int) string { return fmt.Sprintf("%032x", n) }
	span := func(n int) Record {
		return &SidecarSpan{Keys: Keys{TraceID: id(n)}, SpanID: sid("s"), Duration: time.Millisecond}
	}
	addAll(t, s, t0, span(1))
	if n := s.Due(t0.Add(999*time.Millisecond), false); n != 0 {
		t.Fatalf("%d due before the delay", n)
	}
	if n := s.Due(t0.Add(time.Second), false); n != 1 || len(dues) != 1 || dues[0] != (due{id(1), false}) {
		t.Fatalf("due at the delay: %d %v", n, dues)
	}
	if n := s.Due(t0.Add(time.Hour/2), false); n != 0 {
		t.Fatalf("due again with nothing new: %d", n)
	}
	addAll(t, s, t0.Add(2*time.Second), span(2))
	addAll(t, s, t0.Add(3*time.Second), span(3)) // evicts 1, due once
	if len(evicted) != 1 || evicted[0] != id(1)+" 1" {
		t.Fatalf("evicted %v, want trace 1 with its state", evicted)
	}
	addAll(t, s, t0.Add(4*time.Second), span(4)) // none due: 2 goes early
	if len(dues) != 2 || dues[1] != (due{id(2), true}) {
		t.Fatalf("dues %v, want trace 2 early", dues)
	}
	if st := s.Stats(); st.Traces != 2 || st.Waiting != 2 || st.Evicted != 2 {
		t.Fatalf("stats %+v", st)
	}
	if n := s.Due(t0.Add(4*time.Second), true); n != 2 {
		t.Fatalf("all: %d due, want 2", n)
	}
}

// TestStoreAddTraceSizesOnce: the records one AddTrace brings are held in
// slices allocated once, of their size (append's doubling copied each
// ~200-byte record up to four times for a six-span trace), and never more
// than MaxSpansPerTrace allows.
func TestStoreAddTraceSizesOnce(t *testing.T) {
	tests := []struct {
		name               string
		sidecars, backends int
		maxSpans           int
		wantHeld           int
		maxAllocs          float64
	}{
		// A new entry (1), its map slot (amortised), one slice of each kind.
		{name: "five sidecar spans, one call", sidecars: 5, backends: 1, maxSpans: 100, wantHeld: 6, maxAllocs: 3.5},
		{name: "eight sidecar spans", sidecars: 8, maxSpans: 100, wantHeld: 8, maxAllocs: 2.5},
		{name: "bounded", sidecars: 5, backends: 5, maxSpans: 4, wantHeld: 4, maxAllocs: 2.5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var held, spare int
			s, err := NewStore(StoreConfig{Window: time.Hour, MaxTraces: 1 << 20, MaxSpansPerTrace: tc.maxSpans}, Hooks[struct{}]{
				Due: func(d Due[struct{}]) {
					held = len(d.Group.Sidecars) + len(d.Group.Backends)
					spare = cap(d.Group.Sidecars) - len(d.Group.Sidecars) + cap(d.Group.Backends) - len(d.Group.Backends)
				}})
			if err != nil {
				t.Fatal(err)
			}
			var recs []Record
			for i := 0; i < tc.sidecars; i++ {
				recs = append(recs, &SidecarSpan{SpanID: sid(fmt.Sprintf("s%d", i)), Duration: time.Millisecond})
			}
			for i := 0; i < tc.backends; i++ {
				recs = append(recs, &BackendCall{SpanID: sid(fmt.Sprintf("b%d", i)), Kind: "redis"})
			}
			var n uint64
			allocs := testing.AllocsPerRun(200, func() {
				n++
				s.AddTrace(t0, TraceID{0: 1, 8: byte(n), 9: byte(n >> 8)}, recs, nil)
			})
			if allocs > tc.maxAllocs && !raceEnabled {
				t.Errorf("AddTrace of %d records: %.1f allocations, want at most %.1f", len(recs), allocs, tc.maxAllocs)
			}
			s.AddTrace(t0, TraceID{0: 2}, recs, nil)
			s.Due(t0, true)
			if held != tc.wantHeld || spare != 0 {
				t.Errorf("held %d records with %d spare, want %d with none", held, spare, tc.wantHeld)
			}
		})
	}
}
