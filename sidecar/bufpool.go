package sidecar

import "sync"

// copyBufSize is the size of ReverseProxy's copy buffers.
const copyBufSize = 32 << 10

// bufferPool lends ReverseProxy its 32 KiB copy buffers. The pool holds
// pointers to arrays: a slice converted back to its array pointer costs
// nothing, where storing &buf would move a new slice header to the heap
// on every Put (one allocation per request).
type bufferPool struct{ p sync.Pool }

func newBufferPool() *bufferPool {
	return &bufferPool{p: sync.Pool{New: func() any { return new([copyBufSize]byte) }}}
}

func (b *bufferPool) Get() []byte { return b.p.Get().(*[copyBufSize]byte)[:] }

// Put takes back a buffer Get lent; one of another size is left to the
// garbage collector.
func (b *bufferPool) Put(buf []byte) {
	if cap(buf) < copyBufSize {
		return
	}
	b.p.Put((*[copyBufSize]byte)(buf[:copyBufSize]))
}
