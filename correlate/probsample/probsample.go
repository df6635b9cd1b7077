package probsample

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// MaxThreshold is 2^56: thresholds and randomness are 56-bit numbers, and
// a threshold is below it.
const MaxThreshold = uint64(1) << 56

// maxDigits is the most hex digits a th value has.
const maxDigits = 14

// ThresholdOf is the rejection threshold of probability p in (0, 1]:
// 2^56 − round(p·2^56), at most 2^56 − 1 so that some trace is kept
// (p ≤ 0 gives that too: a sampler of probability 0 keeps nothing and
// writes no threshold).
func ThresholdOf(p float64) uint64 {
	keep := uint64(0)
	if p > 0 {
		keep = uint64(math.Round(math.Min(p, 1) * float64(MaxThreshold)))
	}
	keep = min(max(keep, 1), MaxThreshold)
	return MaxThreshold - keep
}

// Encode writes t (< 2^56) as a th value: 14 hex digits, trailing zeros
// removed, "0" for 0.
func Encode(t uint64) string {
	if t == 0 {
		return "0"
	}
	return strings.TrimRight(fmt.Sprintf("%014x", t&(MaxThreshold-1)), "0")
}

// AdjustedCount is the number of traces one kept with threshold t stands
// for: 2^56/(2^56−t) = 1/p; 1 for t = 0 (p = 1).
func AdjustedCount(t uint64) float64 {
	if t >= MaxThreshold {
		return math.Inf(1)
	}
	return float64(MaxThreshold) / float64(MaxThreshold-t)
}

// Errors of ParseTracestate, wrapped with the text at fault.
var (
	ErrTh = errors.New("ot entry's th is not 1 to 14 lower-case hex digits")
)

// ParseTracestate finds the threshold in a W3C tracestate header value
// ("k1=v1,k2=v2"): the th sub-key of the first ot entry's value (sub-keys
// separated by ';', each key:value). found is false, with no error, when
// there is no ot entry or it has no th; err is set when th is there but
// not a valid value (1 to 14 lower-case hex digits: the caller should
// then treat the span as unweighted). It does not allocate unless it
// returns an error.
func ParseTracestate(ts []byte) (t uint64, found bool, err error) {
	for len(ts) > 0 {
		var member []byte
		if i := indexByte(ts, ','); i >= 0 {
			member, ts = ts[:i], ts[i+1:]
		} else {
			member, ts = ts, nil
		}
		member = trimOWS(member)
		eq := indexByte(member, '=')
		if eq < 0 || string(member[:eq]) != "ot" {
			continue
		}
		return parseOT(member[eq+1:])
	}
	return 0, false, nil
}

// parseOT reads th out of an ot entry's value.
func parseOT(v []byte) (uint64, bool, error) {
	for len(v) > 0 {
		var kv []byte
		if i := indexByte(v, ';'); i >= 0 {
			kv, v = v[:i], v[i+1:]
		} else {
			kv, v = v, nil
		}
		if len(kv) < 3 || kv[0] != 't' || kv[1] != 'h' || kv[2] != ':' {
			continue
		}
		t, err := ParseTh(kv[3:])
		return t, err == nil, err
	}
	return 0, false, nil
}

// ParseTh reads a th value: 1 to 14 lower-case hex digits, the missing
// trailing ones zero.
func ParseTh(v []byte) (uint64, error) {
	if len(v) == 0 || len(v) > maxDigits {
		return 0, fmt.Errorf("%w: %q", ErrTh, v)
	}
	var t uint64
	for _, c := range v {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		default:
			return 0, fmt.Errorf("%w: %q", ErrTh, v)
		}
		t = t<<4 | uint64(d)
	}
	return t << (4 * (maxDigits - len(v))), nil
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

// trimOWS removes the spaces and tabs W3C allows around list members.
func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}
