package memlimit

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"
)

// heapObjects is the runtime/metrics sample of the heap in use: bytes of
// heap objects, live or not yet swept (runtime.MemStats.HeapAlloc, without
// ReadMemStats' stop of the world).
const heapObjects = "/memory/classes/heap/objects:bytes"

// Change is a transition between accepting and refusing, as passed to
// WithOnChange.
type Change struct {
	// Refusing is the new state.
	Refusing bool
	// HeapBytes is the heap in use the check found (after the GC it
	// forced, if any).
	HeapBytes uint64
	// SoftBytes and LimitBytes are the limits it was compared with.
	SoftBytes, LimitBytes uint64
}

// Option sets what tests and the host process may replace.
type Option func(*Limiter)

// WithGC replaces runtime.GC, the collection forced at the limits.
func WithGC(gc func()) Option { return func(l *Limiter) { l.gc = gc } }

// WithOnChange is called, from the checking goroutine, at every transition
// between accepting and refusing (to log it); it must return quickly.
func WithOnChange(f func(Change)) Option { return func(l *Limiter) { l.onChange = f } }

// WithNow replaces time.Now, the clock of SoftGCInterval.
func WithNow(now func() time.Time) Option { return func(l *Limiter) { l.now = now } }

// Limiter decides, check after check, whether input is refused. Create it
// with New; it is safe for concurrent use.
type Limiter struct {
	cfg      Config
	soft     uint64
	read     func() uint64
	gc       func()
	onChange func(Change)
	now      func() time.Time

	refusing atomic.Bool
	heap     atomic.Uint64 // at the last check
	gcs      atomic.Uint64 // forced collections
	periods  atomic.Uint64 // transitions to refusing

	mu     sync.Mutex // serializes checks; guards lastGC
	lastGC time.Time  // of the last forced collection

	life    sync.Mutex // guards started, stop, done
	started bool
	stop    chan struct{}
	done    chan struct{}
}

// New returns a Limiter for cfg, or cfg.Validate's error. read returns the
// heap in use in bytes; nil reads runtime/metrics (tests inject their own).
// It is not checking until Start: Refusing reports false until then.
func New(cfg Config, read func() uint64, opts ...Option) (*Limiter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if read == nil {
		read = heapReader()
	}
	l := &Limiter{cfg: cfg, soft: cfg.SoftLimitBytes(), read: read, gc: runtime.GC,
		onChange: func(Change) {}, now: time.Now}
	for _, o := range opts {
		o(l)
	}
	return l, nil
}

// heapReader reads heapObjects; its sample is reused, so calls must not
// overlap (Check serializes them).
func heapReader() func() uint64 {
	s := []metrics.Sample{{Name: heapObjects}}
	return func() uint64 {
		metrics.Read(s)
		if s[0].Value.Kind() != metrics.KindUint64 {
			return 0 // unknown to this runtime: never refuse
		}
		return s[0].Value.Uint64()
	}
}

// Config returns the configuration the Limiter runs with.
func (l *Limiter) Config() Config { return l.cfg }

// Refusing reports whether input must be refused now: one atomic load,
// cheap enough for every request and every read.
func (l *Limiter) Refusing() bool { return l.refusing.Load() }

// Check reads the heap once and updates Refusing: the work of one tick,
// exported so that tests can drive the Limiter without a clock.
//
// At or above the hard limit it forces a GC, when HardGCInterval has
// passed since the last, and reads again; at or above the soft limit it
// forces one when SoftGCInterval has (so when refusing starts, and then
// now and then while it lasts). It refuses if the heap is still at or
// above the soft limit, and accepts under it.
func (l *Limiter) Check() {
	l.mu.Lock()
	defer l.mu.Unlock()
	heap := l.read()
	since := l.now().Sub(l.lastGC)
	switch {
	case heap >= l.cfg.LimitBytes && (l.lastGC.IsZero() || since >= l.cfg.HardGCInterval):
		heap = l.collect()
	case heap >= l.soft && heap < l.cfg.LimitBytes && (l.lastGC.IsZero() || since >= l.cfg.SoftGCInterval):
		heap = l.collect()
	}
	l.heap.Store(heap)
	refuse := heap >= l.soft
	if was := l.refusing.Swap(refuse); was != refuse {
		if refuse {
			l.periods.Add(1)
		}
		l.onChange(Change{Refusing: refuse, HeapBytes: heap, SoftBytes: l.soft, LimitBytes: l.cfg.LimitBytes})
	}
}

// collect forces a garbage collection and reads the heap again.
func (l *Limiter) collect() uint64 {
	l.gc()
	l.gcs.Add(1)
	l.lastGC = l.now()
	return l.read()
}

// Start checks once, then every CheckInterval in the background until
// Shutdown. It may be called once; ctx bounds Start only.
func (l *Limiter) Start(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memlimit: start: %w", err)
	}
	l.life.Lock()
	defer l.life.Unlock()
	if l.started {
		return errors.New("memlimit: already started")
	}
	l.started = true
	l.stop, l.done = make(chan struct{}), make(chan struct{})
	l.Check()
	go l.loop(l.stop, l.done)
	return nil
}

func (l *Limiter) loop(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(l.cfg.CheckInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			l.Check()
		}
	}
}

// Shutdown stops the checks and accepts from then on (the receivers,
// stopped before it, must not stay paused). When ctx ends before a check
// under way (a forced GC) returns, ctx's error is returned.
func (l *Limiter) Shutdown(ctx context.Context) error {
	l.life.Lock()
	stop, done := l.stop, l.done
	l.stop = nil
	l.life.Unlock()
	if stop == nil {
		return nil
	}
	close(stop)
	defer l.refusing.Store(false)
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("memlimit: shutdown: %w", ctx.Err())
	}
}

// Stats are the Limiter's counters.
type Stats struct {
	// Refusing is the state now; HeapBytes the heap at the last check.
	Refusing  bool
	HeapBytes uint64
	// ForcedGCs counts the collections the Limiter forced.
	ForcedGCs uint64
	// RefusalPeriods counts the transitions from accepting to refusing.
	RefusalPeriods uint64
}

// Stats returns a snapshot of the counters.
func (l *Limiter) Stats() Stats {
	return Stats{Refusing: l.refusing.Load(), HeapBytes: l.heap.Load(), ForcedGCs: l.gcs.Load(), RefusalPeriods: l.periods.Load()}
}
