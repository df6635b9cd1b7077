package probsample

import (
	"errors"
	"testing"
)

// FuzzParseTracestate: any input is read without panicking; a threshold
// found is below 2^56 and encodes back to a th value that parses to it;
// an error is always ErrTh and never comes with found.
func FuzzParseTracestate(f *testing.F) {
	for _, s := range []string{"", "ot=th:c", "a=b,ot=rv:1234567890abcd;th:8", "ot=th:", "ot=th:ffffffffffffff", "ot=th:123456789abcdef", "ot=;;th:0;", ",,,=", "ot=th:C"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		th, found, err := ParseTracestate(in)
		if err != nil {
			if !errors.Is(err, ErrTh) || found {
				t.Fatalf("%q: found %v, err %v", in, found, err)
			}
			return
		}
		if !found {
			return
		}
		if th >= MaxThreshold {
			t.Fatalf("%q: threshold %x not below 2^56", in, th)
		}
		back, err := ParseTh([]byte(Encode(th)))
		if err != nil || back != th {
			t.Fatalf("%q: %x encodes to %q, read back %x %v", in, th, Encode(th), back, err)
		}
		if AdjustedCount(th) < 1 {
			t.Fatalf("%q: adjusted count %v below 1", in, AdjustedCount(th))
		}
	})
}
