package route

import (
	"sync"
	"sync/atomic"
)

// Other is the value a label takes past its Limit.
const Other = "other"

// Limit caps the distinct values of a metric label fed from input hopscope
// does not control — the sidecar's route, the collector's service, backend
// kind, target and operation — or of a set of labels (K an array of
// them): the first max distinct values are admitted, every later one is
// refused, its caller uses Other instead, and the refusal is counted. So a
// scanner walking random paths, or anyone who can send spans, cannot grow
// the metrics without bound. Safe for concurrent use; admitting a known
// value takes a read lock and allocates nothing.
type Limit[K comparable] struct {
	max     int
	refused atomic.Uint64

	mu    sync.RWMutex
	known map[K]struct{}
}

// NewLimit returns a Limit of max distinct values (max < 1 admits none).
func NewLimit[K comparable](max int) *Limit[K] {
	return &Limit[K]{max: max, known: make(map[K]struct{}, min(max, 256))}
}

// Admit reports whether k may be used as it is: it was admitted before, or
// fewer than max values were. A refusal is counted in Refused.
func (l *Limit[K]) Admit(k K) bool {
	l.mu.RLock()
	_, ok := l.known[k]
	l.mu.RUnlock()
	if ok {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.known[k]; ok {
		return true
	}
	if len(l.known) >= l.max {
		l.refused.Add(1)
		return false
	}
	l.known[k] = struct{}{}
	return true
}

// Value is v when l admits it, else Other.
func Value(l *Limit[string], v string) string {
	if l.Admit(v) {
		return v
	}
	return Other
}

// Refused is how many times Admit refused a value.
func (l *Limit[K]) Refused() uint64 { return l.refused.Load() }

// Len is the number of values admitted.
func (l *Limit[K]) Len() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return len(l.known)
}
