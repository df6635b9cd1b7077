package otlp

import "sync/atomic"

// inFlight bounds the bytes of the requests being read and handed to the
// consumer at once (Config.MaxInFlightBytes): the memory a burst of
// requests admitted together takes before the memory limiter, which reads
// the heap every 100 ms, can see it.
type inFlight struct {
	max int64 // 0: unbounded
	n   atomic.Int64
}

// acquire reserves n bytes, unless that passes max while other requests
// hold some: a request larger than max alone still goes through.
func (f *inFlight) acquire(n int64) bool {
	if f.max <= 0 {
		return true
	}
	if cur := f.n.Add(n); cur > f.max && cur != n {
		f.n.Add(-n)
		return false
	}
	return true
}

// grow reserves n more bytes for a request whose body came out larger
// than reserved (it is read: no refusing it for that).
func (f *inFlight) grow(n int64) {
	if f.max > 0 {
		f.n.Add(n)
	}
}

// release returns n bytes.
func (f *inFlight) release(n int64) {
	if f.max > 0 {
		f.n.Add(-n)
	}
}
