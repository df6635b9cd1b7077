package otlp

import (
	"math/bits"
	"sync"
)

// Request bodies are read into recycled buffers: a body is garbage as soon
// as the consumer returns (it keeps nothing of it: consumer.Input.OTLP),
// and a fresh one per request costs, besides the allocation, the page
// faults of new heap and the GC cycles it brings about; at OTLP's batch
// sizes (a megabyte for telemetrygen's 8192 spans), copying into warm
// memory costs a fraction of that.
//
// Capacities come in classes, eight per doubling (as Go's allocator's
// size classes): a buffer is at most 1/8 larger than asked for, and a
// sender's requests of about one size reuse the same class.

const (
	minBufShift = 12 // 4 KiB: the smallest class, for anything up to it
	maxBufShift = 26 // 64 MiB: larger requests are not pooled
	bufSteps    = 8  // classes per doubling
)

var bufPools [1 + (maxBufShift-minBufShift)*bufSteps]sync.Pool

// bufClass returns the class of the smallest capacity holding n bytes and
// that capacity; class -1 is beyond the largest.
func bufClass(n int) (class, capacity int) {
	if n <= 1<<minBufShift {
		return 0, 1 << minBufShift
	}
	k := bits.Len(uint(n - 1)) // 2^(k-1) < n <= 2^k
	if k > maxBufShift {
		return -1, n
	}
	base, step := 1<<(k-1), 1<<(k-1)/bufSteps
	sub := (n - base + step - 1) / step // 1..bufSteps
	return 1 + (k-1-minBufShift)*bufSteps + sub - 1, base + sub*step
}

// getBuf returns a buffer of length n, recycled when one of its class is
// free. Its bytes are not zeroed.
func getBuf(n int) []byte {
	c, size := bufClass(n)
	if c < 0 {
		return make([]byte, n)
	}
	if p, ok := bufPools[c].Get().(*[]byte); ok {
		return (*p)[:n]
	}
	return make([]byte, n, size)
}

// putBuf gives b back for reuse: nothing may read or write it afterwards.
// A buffer getBuf did not make (its capacity is not a class's) is left to
// the GC.
func putBuf(b []byte) {
	c, size := bufClass(cap(b))
	if c < 0 || cap(b) != size || cap(b) == 0 {
		return
	}
	b = b[:0]
	bufPools[c].Put(&b)
}
