package memlimit

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hopscope/hopscope/internal/testkit"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// fakeHeap is an injected heap: what read returns, and what a forced GC
// leaves of it.
type fakeHeap struct {
	heap, afterGC uint64
	gcs           int
}

func (f *fakeHeap) read() uint64 { return f.heap }
func (f *fakeHeap) gc()          { f.gcs++; f.heap = f.afterGC }

// TestCheck drives the state machine check by check: limit 100, spike 20
// (soft 80), SoftGCInterval 2s, HardGCInterval 1s on a fake clock.
func TestCheck(t *testing.T) {
	type step struct {
		advance       time.Duration
		heap, afterGC uint64 // afterGC 0: a GC frees nothing
		refusing      bool
		gcs           int // forced so far
	}
	for _, tc := range []struct {
		name    string
		steps   []step
		changes []bool
	}{
		{"under soft: accept, no GC", []step{{heap: 50, refusing: false}, {heap: 79, refusing: false}}, nil},
		{"at soft: GC, still over: refuse", []step{{heap: 80, refusing: true, gcs: 1}}, []bool{true}},
		{"over soft, the GC brings it under: accept", []step{{heap: 90, afterGC: 60, refusing: false, gcs: 1}}, nil},
		{"over hard: GC, refuse", []step{{heap: 120, afterGC: 110, refusing: true, gcs: 1}}, []bool{true}},
		{"over hard, the GC brings it under soft: accept", []step{{heap: 120, afterGC: 40, refusing: false, gcs: 1}}, nil},
		{"over hard: a GC at most every HardGCInterval", []step{
			{heap: 120, refusing: true, gcs: 1},
			{advance: 100 * time.Millisecond, heap: 130, refusing: true, gcs: 1},
			{advance: 899 * time.Millisecond, heap: 101, refusing: true, gcs: 1},
			{advance: time.Millisecond, heap: 101, refusing: true, gcs: 2},
			{advance: time.Second, heap: 140, afterGC: 70, refusing: false, gcs: 3},
		}, []bool{true, false}},
		{"over hard, HardGCInterval 0: a GC at every check", []step{
			{heap: 120, refusing: true, gcs: 1},
			{advance: 100 * time.Millisecond, heap: 130, refusing: true, gcs: 2},
			{advance: 100 * time.Millisecond, heap: 101, refusing: true, gcs: 3},
		}, []bool{true}},
		{"back under soft: accept again", []step{
			{heap: 85, refusing: true, gcs: 1},
			{advance: 100 * time.Millisecond, heap: 85, refusing: true, gcs: 1},
			{advance: 100 * time.Millisecond, heap: 79, refusing: false, gcs: 1},
			{advance: 100 * time.Millisecond, heap: 30, refusing: false, gcs: 1},
		}, []bool{true, false}},
		{"between the limits: a GC at most every SoftGCInterval", []step{
			{heap: 85, refusing: true, gcs: 1},
			{advance: time.Second, heap: 95, refusing: true, gcs: 1},
			{advance: 999 * time.Millisecond, heap: 95, refusing: true, gcs: 1},
			{advance: time.Millisecond, heap: 95, afterGC: 50, refusing: false, gcs: 2},
		}, []bool{true, false}},
		{"refusing again soon after: no second GC within SoftGCInterval", []step{
			{heap: 85, refusing: true, gcs: 1},
			{advance: 100 * time.Millisecond, heap: 70, refusing: false, gcs: 1},
			{advance: 100 * time.Millisecond, heap: 85, refusing: true, gcs: 1},
			{advance: 100 * time.Millisecond, heap: 150, refusing: true, gcs: 1}, // nor at the hard limit within HardGCInterval
			{advance: 700 * time.Millisecond, heap: 150, afterGC: 99, refusing: true, gcs: 2},
		}, []bool{true, false, true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := time.Unix(1_700_000_000, 0)
			f := &fakeHeap{}
			var changes []bool
			cfg := DefaultConfig()
			cfg.LimitBytes, cfg.SpikeBytes = 100, 20
			if strings.Contains(tc.name, "HardGCInterval 0") {
				cfg.HardGCInterval = 0
			}
			l, err := New(cfg, f.read, WithGC(f.gc), WithNow(func() time.Time { return clock }),
				WithOnChange(func(c Change) {
					if c.SoftBytes != 80 || c.LimitBytes != 100 || c.HeapBytes != f.heap {
						t.Errorf("change %+v, heap %d", c, f.heap)
					}
					changes = append(changes, c.Refusing)
				}))
			if err != nil {
				t.Fatal(err)
			}
			if l.Refusing() {
				t.Fatal("refusing before the first check")
			}
			for i, s := range tc.steps {
				clock = clock.Add(s.advance)
				f.heap, f.afterGC = s.heap, s.afterGC
				if f.afterGC == 0 {
					f.afterGC = s.heap
				}
				l.Check()
				if l.Refusing() != s.refusing || f.gcs != s.gcs {
					t.Fatalf("step %d (heap %d): refusing %v after %d GCs, want %v after %d", i, s.heap, l.Refusing(), f.gcs, s.refusing, s.gcs)
				}
				if st := l.Stats(); st.HeapBytes != f.heap || st.ForcedGCs != uint64(f.gcs) || st.Refusing != s.refusing {
					t.Fatalf("step %d: stats %+v", i, st)
				}
			}
			if len(changes) != len(tc.changes) || (len(changes) > 0 && !equal(changes, tc.changes)) {
				t.Errorf("transitions %v, want %v", changes, tc.changes)
			}
			periods := 0
			for _, c := range tc.changes {
				if c {
					periods++
				}
			}
			if n := l.Stats().RefusalPeriods; n != uint64(periods) {
				t.Errorf("refusal periods %d, want %d", n, periods)
			}
		})
	}
}

func equal(a, b []bool) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return len(a) == len(b)
}

// TestSpikeZero: without a spike the soft limit is the hard one.
func TestSpikeZero(t *testing.T) {
	f := &fakeHeap{heap: 99, afterGC: 99}
	cfg := DefaultConfig()
	cfg.LimitBytes = 100
	l, err := New(cfg, f.read, WithGC(f.gc))
	if err != nil {
		t.Fatal(err)
	}
	l.Check()
	if l.Refusing() || f.gcs != 0 {
		t.Fatalf("at 99 of 100: refusing %v, %d GCs", l.Refusing(), f.gcs)
	}
	f.heap, f.afterGC = 100, 100
	l.Check()
	if !l.Refusing() || f.gcs != 1 {
		t.Fatalf("at 100 of 100: refusing %v, %d GCs", l.Refusing(), f.gcs)
	}
}

// TestStartShutdown: started, the Limiter checks on its own, every
// CheckInterval, and follows the heap both ways; after Shutdown it accepts
// whatever the heap.
func TestStartShutdown(t *testing.T) {
	var heap atomic.Uint64
	heap.Store(10)
	cfg := DefaultConfig()
	cfg.LimitBytes, cfg.SpikeBytes, cfg.CheckInterval = 100, 20, time.Millisecond
	var mu sync.Mutex
	var changes []bool
	l, err := New(cfg, heap.Load, WithGC(func() {}), WithOnChange(func(c Change) { mu.Lock(); changes = append(changes, c.Refusing); mu.Unlock() }))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown before Start: %v", err)
	}
	ctx := context.Background()
	heap.Store(90)
	if err := l.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if !l.Refusing() {
		t.Fatal("Start did not check at once")
	}
	if err := l.Start(ctx); err == nil {
		t.Error("second Start: no error")
	}
	heap.Store(10)
	testkit.Eventually(t, "accepting", 5*time.Second, func() bool { return !l.Refusing() })
	heap.Store(95)
	testkit.Eventually(t, "refusing", 5*time.Second, l.Refusing)
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := l.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	if l.Refusing() {
		t.Error("refusing after Shutdown")
	}
	mu.Lock()
	defer mu.Unlock()
	if !equal(changes, []bool{true, false, true}) {
		t.Errorf("transitions %v, want [true false true]", changes)
	}
}

// sink keeps an allocation reachable so the compiler cannot drop it.
var sink []byte

// TestHeapReader: the default reader sees an allocation at once, with no
// GC in between.
func TestHeapReader(t *testing.T) {
	read := heapReader()
	before := read()
	if before == 0 {
		t.Fatal("heap in use reads 0")
	}
	sink = make([]byte, 64<<20)
	after := read()
	sink = nil
	if after < before+60<<20 {
		t.Errorf("heap %d after a 64 MiB allocation, %d before", after, before)
	}
}

// TestValidate: every bad field is named, by its collector flag when it
// has one.
func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		mut  func(*Config)
		want string
	}{
		{"no limit", func(c *Config) { c.LimitBytes = 0 }, "--memory-limit-mib: must be positive"},
		{"spike as large as the limit", func(c *Config) { c.SpikeBytes = 256 << 20 }, "--memory-spike-mib: 256 MiB must be less than the limit, 256 MiB"},
		{"no interval", func(c *Config) { c.CheckInterval = 0 }, "CheckInterval: must be positive"},
		{"negative soft GC interval", func(c *Config) { c.SoftGCInterval = -1 }, "SoftGCInterval: must not be negative"},
		{"negative hard GC interval", func(c *Config) { c.HardGCInterval = -1 }, "HardGCInterval: must not be negative"},
		{"valid", func(*Config) {}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.LimitBytes, cfg.SpikeBytes = 256<<20, 51<<20
			tc.mut(&cfg)
			err := cfg.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if _, err := New(cfg, nil); err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%v, want …%s…", err, tc.want)
			}
			if _, err := New(cfg, nil); err == nil {
				t.Fatal("New accepted it")
			}
		})
	}
}

// TestCollectors: the metrics follow the Limiter's state.
func TestCollectors(t *testing.T) {
	f := &fakeHeap{heap: 90, afterGC: 90}
	cfg := DefaultConfig()
	cfg.LimitBytes, cfg.SpikeBytes = 100, 20
	l, err := New(cfg, f.read, WithGC(f.gc))
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	for _, c := range l.Collectors() {
		if err := reg.Register(c); err != nil {
			t.Fatal(err)
		}
	}
	l.Check()
	want := `
# HELP hopscope_collector_memory_forced_gc_total Garbage collections the memory limiter forced.
# TYPE hopscope_collector_memory_forced_gc_total counter
hopscope_collector_memory_forced_gc_total 1
# HELP hopscope_collector_memory_heap_bytes Heap in use (bytes of heap objects, live or not yet swept) at the memory limiter's last check.
# TYPE hopscope_collector_memory_heap_bytes gauge
hopscope_collector_memory_heap_bytes 90
# HELP hopscope_collector_memory_refusal_periods_total Times the memory limiter started refusing input.
# TYPE hopscope_collector_memory_refusal_periods_total counter
hopscope_collector_memory_refusal_periods_total 1
# HELP hopscope_collector_memory_refusing 1 while the memory limiter refuses input (the heap is above the soft limit), else 0.
# TYPE hopscope_collector_memory_refusing gauge
hopscope_collector_memory_refusing 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "hopscope_collector_memory_forced_gc_total",
		"hopscope_collector_memory_heap_bytes", "hopscope_collector_memory_refusal_periods_total", "hopscope_collector_memory_refusing"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(reg, "hopscope_collector_memory_limit_bytes"); n != 2 {
		t.Errorf("%d limit series, want soft and hard", n)
	}
}
