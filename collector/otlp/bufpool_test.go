package otlp

import "testing"

// TestBufClass: every size gets a class whose capacity holds it with at
// most 1/8 to spare (beyond the smallest class), a class's capacity maps
// back to that class, and sizes beyond the largest are not pooled.
func TestBufClass(t *testing.T) {
	prev := -1
	for _, n := range []int{0, 1, 4096, 4097, 4608, 4609, 5000, 8191, 8192, 1 << 20, 1<<20 + 1, 3 << 20, 48 << 20, 64 << 20} {
		c, size := bufClass(n)
		if c < 0 || size < n || (n > 4096 && size-n > n/8) {
			t.Errorf("bufClass(%d) = %d, capacity %d", n, c, size)
			continue
		}
		if c < prev {
			t.Errorf("bufClass(%d) = %d: below the class of a smaller size (%d)", n, c, prev)
		}
		prev = c
		if c2, size2 := bufClass(size); c2 != c || size2 != size {
			t.Errorf("bufClass(%d) = %d, %d; its capacity's class is %d, %d", n, c, size, c2, size2)
		}
		if c >= len(bufPools) {
			t.Errorf("bufClass(%d) = %d: past the %d pools", n, c, len(bufPools))
		}
	}
	if c, _ := bufClass(64<<20 + 1); c != -1 {
		t.Errorf("bufClass(64 MiB + 1) = %d, want -1 (not pooled)", c)
	}
}

// TestBufReuse: a buffer given back is handed out again for a size of its
// class, and one not made by getBuf is not taken.
func TestBufReuse(t *testing.T) {
	b := getBuf(100 << 10)
	if len(b) != 100<<10 || cap(b) < 100<<10 {
		t.Fatalf("getBuf(100 KiB): length %d, capacity %d", len(b), cap(b))
	}
	// sync.Pool may drop what it is given (a GC between; under -race it
	// drops a quarter of the Puts on purpose): each try gives one back
	// and asks again, and one of them must come back.
	reused := false
	for i := 0; i < 20 && !reused; i++ {
		putBuf(b)
		c := getBuf(99 << 10)
		reused = len(c) == 99<<10 && cap(c) == cap(b) && &c[:1][0] == &b[:1][0]
		b = c[:cap(c)]
	}
	if !reused {
		t.Errorf("a buffer given back was never reused for a size of its class in 20 tries")
	}
	odd := make([]byte, 0, 5000)
	putBuf(odd)
	for i := 0; i < 3; i++ {
		if c := getBuf(5000); cap(c) == 5000 {
			t.Errorf("getBuf returned a buffer putBuf should have left to the GC (capacity 5000)")
		}
	}
}

func BenchmarkGetPutBuf(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		putBuf(getBuf(1 << 20))
	}
}
