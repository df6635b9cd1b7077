package hugeheap

import (
	"context"
	"errors"
	"fmt"
	"runtime/metrics"
	"sync"
	"time"
)

// Config configures an Advisor.
type Config struct {
	// Interval is how often the runtime's mapped memory is read; the
	// mappings are read again when it has grown.
	Interval time.Duration
}

// DefaultConfig returns a 100 ms interval: the heap grows by a few MiB at
// most in between, faulted in 4 KiB pages until advised.
func DefaultConfig() Config { return Config{Interval: 10 * time.Millisecond} }

// Validate names the bad field.
func (c Config) Validate() error {
	if c.Interval <= 0 {
		return errors.New("hugeheap Interval: must be positive")
	}
	return nil
}

// Stats are what an Advisor did.
type Stats struct {
	// Mode is the host's transparent huge page setting ("always",
	// "madvise", "never"; "" when unknown: not Linux).
	Mode string
	// Active is true when the Advisor advises (Mode is "madvise").
	Active bool
	// Scans counts reads of the mappings, AdvisedBytes the bytes of the
	// mappings advised (a mapping advised again after it grew counts
	// again).
	Scans        int
	AdvisedBytes uint64
	// Err is the last failure (reading the mappings, madvise), nil when
	// none: the heap then keeps what it had.
	Err error
}

// Advisor advises the heap's mappings as the heap grows, from Start to
// Shutdown.
type Advisor struct {
	cfg  Config
	stop chan struct{}
	done chan struct{}

	mu      sync.Mutex
	stats   Stats
	heap    uintptr             // an address in the heap
	advised map[[2]uintptr]bool // mappings advised, as they were
	mapped  uint64              // the runtime's mapped bytes at the last scan
	// readMapped reads the runtime's mapped bytes (a test's stand-in
	// can hold them still).
	readMapped func() uint64
}

// New returns an Advisor of cfg.
func New(cfg Config) (*Advisor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Advisor{cfg: cfg, advised: map[[2]uintptr]bool{}, readMapped: runtimeMapped}, nil
}

// runtimeMapped is the memory the runtime has mapped, all classes.
func runtimeMapped() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// Start reads the host's mode and, under "madvise", advises the heap's
// mappings now and from then on as it grows. A host without huge pages
// is not an error: Stats says so.
func (a *Advisor) Start(context.Context) error {
	mode, err := thpMode()
	a.mu.Lock()
	a.stats.Mode = mode
	a.stats.Active = err == nil && mode == "madvise"
	if err != nil {
		a.stats.Err = err
	}
	active := a.stats.Active
	if active {
		a.heap = heapAddress()
		a.scanLocked()
	}
	a.mu.Unlock()
	if !active {
		return nil
	}
	a.stop, a.done = make(chan struct{}), make(chan struct{})
	go a.run()
	return nil
}

func (a *Advisor) run() {
	defer close(a.done)
	wait := a.cfg.Interval
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		select {
		case <-a.stop:
			return
		case <-t.C:
			if a.Check() {
				wait = a.cfg.Interval
			} else {
				wait = min(2*wait, 10*a.cfg.Interval) // idle: fewer wake-ups
			}
			t.Reset(wait)
		}
	}
}

// Check advises the mappings again if the runtime's mapped memory grew
// since the last scan, and reports whether it had (Start's goroutine
// calls it every Interval while the heap grows).
func (a *Advisor) Check() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.stats.Active {
		return false
	}
	if a.readMapped() <= a.mapped {
		return false
	}
	a.scanLocked()
	return true
}

func (a *Advisor) scanLocked() {
	a.mapped = a.readMapped()
	a.stats.Scans++
	n, err := adviseHeap(a.heap, a.advised)
	a.stats.AdvisedBytes += n
	if err != nil {
		a.stats.Err = fmt.Errorf("advising the heap's huge pages: %w", err)
	}
}

// Stats returns what the Advisor did so far.
func (a *Advisor) Stats() Stats {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.stats
}

// Shutdown stops advising; what was advised stays.
func (a *Advisor) Shutdown(ctx context.Context) error {
	if a.stop == nil {
		return nil
	}
	select {
	case <-a.stop:
	default:
		close(a.stop)
	}
	select {
	case <-a.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
