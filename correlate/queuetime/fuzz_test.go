package queuetime

import (
	"testing"
	"time"
)

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"t=1512379167.574",
		"t=1512379167574",
		"t=1512379167574123",
		"t=1512379167574123456",
		"1512379167574",
		"t=1512379167574123 D=1234",
		"",
		"t=",
		"t=-1",
		"t=0",
		"t=99999999999999999999",
		"t=1512379167.",
	} {
		f.Add(s, int64(0))
	}
	f.Fuzz(func(t *testing.T, v string, offset int64) {
		// now is the fixed test time shifted by an arbitrary amount.
		n := now.Add(time.Duration(offset))
		d, ok := Parse(v, n)
		if !ok {
			if d != 0 {
				t.Fatalf("Parse(%q) = (%v, false), want 0 duration when not ok", v, d)
			}
			return
		}
		if d < 0 || d > MaxAge {
			t.Fatalf("Parse(%q) = %v, outside [0, MaxAge]", v, d)
		}
		// The same value against a later now must give a longer or equal
		// queue time, or be rejected as too old.
		if d2, ok2 := Parse(v, n.Add(time.Second)); ok2 && d2 != d+time.Second {
			t.Fatalf("Parse(%q) = %v at now, %v one second later", v, d, d2)
		}
	})
}
