package probsample

import (
	"errors"
	"math"
	"testing"
)

// TestThresholdOf: p → th as the specification's examples, and back to
// the adjusted count 1/p.
func TestThresholdOf(t *testing.T) {
	for _, tc := range []struct {
		p    float64
		th   string
		adj  float64
		tolr float64 // relative tolerance of the adjusted count
	}{
		{1, "0", 1, 0},
		{0.5, "8", 2, 0},
		{0.25, "c", 4, 0},
		{0.125, "e", 8, 0},
		{1.0 / 16, "f", 16, 0},
		{1.0 / 256, "ff", 256, 0},
		{0.75, "4", 4.0 / 3, 1e-15},
		{0.1, "e6666666666666", 10, 1e-15},
		{0.001, "ffbe76c8b43958", 1000, 1e-12},
		{1e-30, "ffffffffffffff", float64(MaxThreshold), 0}, // one trace in 2^56: the smallest
		{0, "ffffffffffffff", float64(MaxThreshold), 0},
		{2, "0", 1, 0},
	} {
		th := ThresholdOf(tc.p)
		if got := Encode(th); got != tc.th {
			t.Errorf("p %v: th %q, want %q", tc.p, got, tc.th)
		}
		back, err := ParseTh([]byte(Encode(th)))
		if err != nil || back != th {
			t.Errorf("p %v: ParseTh(Encode) = %x, %v; want %x", tc.p, back, err, th)
		}
		if got := AdjustedCount(th); math.Abs(got-tc.adj) > tc.tolr*tc.adj {
			t.Errorf("p %v: adjusted count %v, want %v", tc.p, got, tc.adj)
		}
	}
}

// TestParseTracestate: th is found in the ot entry among others, with the
// W3C list's optional white space; a malformed th is an error, a
// tracestate without one is not.
func TestParseTracestate(t *testing.T) {
	for _, tc := range []struct {
		in    string
		t     uint64
		found bool
		bad   bool
	}{
		{"", 0, false, false},
		{"ot=th:c", 0xc0000000000000, true, false},
		{"ot=th:0", 0, true, false},
		{"vendor=x, ot=rv:1234567890abcd;th:8 ,other=y", 0x80000000000000, true, false},
		{"vendor=x,\tot=th:fffffffffffff0", 0xfffffffffffff0, true, false},
		{"ot=rv:1234567890abcd", 0, false, false},
		{"xot=th:c,ot=th:8", 0x80000000000000, true, false},
		{"ot=thx:c", 0, false, false},
		{"vendor=th:c", 0, false, false},
		{"ot=th:", 0, false, true},
		{"ot=th:C", 0, false, true},
		{"ot=th:123456789abcdef", 0, false, true}, // 15 digits
		{"ot=th:-1", 0, false, true},
		{"ot=th:c d", 0, false, true},
		{"ot=th:8,ot=th:c", 0x80000000000000, true, false}, // the first ot entry
	} {
		got, found, err := ParseTracestate([]byte(tc.in))
		if tc.bad {
			if err == nil || !errors.Is(err, ErrTh) || found {
				t.Errorf("%q: %x %v %v, want ErrTh", tc.in, got, found, err)
			}
			continue
		}
		if err != nil || found != tc.found || got != tc.t {
			t.Errorf("%q: %x %v %v, want %x %v", tc.in, got, found, err, tc.t, tc.found)
		}
	}
}

// TestParseTracestateAllocs: reading a valid tracestate allocates nothing
// (the collector reads every sidecar span's).
func TestParseTracestateAllocs(t *testing.T) {
	in := []byte("vendor=x,ot=rv:1234567890abcd;th:c")
	if n := testing.AllocsPerRun(100, func() { _, _, _ = ParseTracestate(in) }); n != 0 {
		t.Errorf("%v allocations per ParseTracestate, want 0", n)
	}
}
