package collector

import (
	"sync"

	"github.com/hopscope/hopscope/internal/otlpwire"
)

// maxInterned bounds a collector's intern table: the attribute values it
// holds (services, namespaces, methods, routes, backends, operations) come
// from a small set. A value that would pass the cap empties the table
// first, so that hostile cardinality cannot grow it, nor fill it for good
// with values never seen again: the common values come back at once.
const maxInterned = 4096

// interner hands out one string per distinct attribute value of a small
// set, instead of a new one per span: looking a []byte up with
// m[string(b)] does not allocate. It is safe for concurrent use.
type interner struct {
	max int
	mu  sync.RWMutex
	m   map[string]string
}

func newInterner(max int) *interner { return &interner{max: max, m: make(map[string]string)} }

// bytes returns b as a string, the table's own when it holds it.
func (in *interner) bytes(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	in.mu.RLock()
	s, ok := in.m[string(b)]
	in.mu.RUnlock()
	if ok {
		return s
	}
	s = string(b)
	in.add(s)
	return s
}

// text returns s, the table's own copy when it holds one (s is kept
// when it does not: the caller's string must not change).
func (in *interner) text(s string) string {
	if s == "" {
		return ""
	}
	in.mu.RLock()
	t, ok := in.m[s]
	in.mu.RUnlock()
	if ok {
		return t
	}
	in.add(s)
	return s
}

// add keeps s, emptying the table first when it is full.
func (in *interner) add(s string) {
	in.mu.Lock()
	if len(in.m) >= in.max {
		clear(in.m)
	}
	in.m[s] = s
	in.mu.Unlock()
}

// value returns v as text, as otlpwire.Value.String does ("" for a type
// other than string or int), interned.
func (in *interner) value(v otlpwire.Value) string {
	if v.Type == otlpwire.TypeString {
		return in.bytes(v.Str)
	}
	var buf [20]byte
	return in.bytes(v.AppendText(buf[:0]))
}

// size is how many values the table holds.
func (in *interner) size() int {
	in.mu.RLock()
	defer in.mu.RUnlock()
	return len(in.m)
}
