package sidecar

import "testing"

// TestBufferPoolNoAllocs: lending and taking back a copy buffer allocates
// nothing once the pool holds one (Put(&buf) allocated a slice header
// each time).
func TestBufferPoolNoAllocs(t *testing.T) {
	p := newBufferPool()
	p.Put(p.Get())
	if n := testing.AllocsPerRun(1000, func() { p.Put(p.Get()) }); n != 0 {
		t.Errorf("Get+Put: %v allocations, want 0", n)
	}
	if b := p.Get(); len(b) != 32<<10 {
		t.Errorf("Get: %d bytes, want %d", len(b), 32<<10)
	}
	p.Put(make([]byte, 10)) // another size: dropped, not a panic
}

func BenchmarkBufferPool(b *testing.B) {
	p := newBufferPool()
	b.ReportAllocs()
	for b.Loop() {
		p.Put(p.Get())
	}
}
