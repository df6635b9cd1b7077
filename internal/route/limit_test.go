package route

import (
	"fmt"
	"sync"
	"testing"
)

func TestLimit(t *testing.T) {
	l := NewLimit[string](2)
	for _, tc := range []struct {
		v, want string
		refused uint64
	}{
		{"a", "a", 0},
		{"b", "b", 0},
		{"c", Other, 1},
		{"a", "a", 1}, // admitted before the limit: kept
		{"d", Other, 2},
		{"c", Other, 3}, // refused once, refused again
	} {
		if got := Value(l, tc.v); got != tc.want || l.Refused() != tc.refused {
			t.Errorf("Value(%q) = %q with %d refused, want %q with %d", tc.v, got, l.Refused(), tc.want, tc.refused)
		}
	}
	if l.Len() != 2 {
		t.Errorf("Len = %d, want 2", l.Len())
	}
	if NewLimit[int](0).Admit(1) {
		t.Error("a limit of 0 admitted a value")
	}
}

// TestLimitConcurrent: however many goroutines race, no more than max
// values are admitted and every other call is counted.
func TestLimitConcurrent(t *testing.T) {
	l := NewLimit[[2]string](50)
	var wg sync.WaitGroup
	var admitted [8]int
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				if l.Admit([2]string{fmt.Sprint(g), fmt.Sprint(i)}) {
					admitted[g]++
				}
			}
		}()
	}
	wg.Wait()
	total := 0
	for _, n := range admitted {
		total += n
	}
	if total != 50 || l.Len() != 50 || l.Refused() != 800-50 {
		t.Fatalf("admitted %d (Len %d), refused %d; want 50, 50, 750", total, l.Len(), l.Refused())
	}
}

func TestLimitKnownNoAlloc(t *testing.T) {
	l := NewLimit[string](1)
	l.Admit("/orders/{id}")
	if n := testing.AllocsPerRun(100, func() { Value(l, "/orders/{id}") }); n != 0 {
		t.Fatalf("a known value allocated %v times", n)
	}
}
