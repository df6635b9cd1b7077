package queuetime

import (
	"math"
	"time"
)

// Unit thresholds. The unit of a timestamp is decided by the magnitude of its
// integer part n:
//
//	n <  1e11            seconds       (1e11 s  is the year 5138)
//	1e11 <= n < 1e14     milliseconds  (1e11 ms is 1973-03-03, 1e14 ms is 5138)
//	1e14 <= n < 1e17     microseconds  (1e14 µs is 1973-03-03, 1e17 µs is 5138)
//	n >= 1e17            nanoseconds   (1e17 ns is 1973-03-03)
//
// Each unit therefore covers 1973-03-03 to 5138 (nanoseconds only to 2262,
// the end of int64), and any instant between the years 2000 and 2100 written
// in any of the four units falls at least a factor 9 away from the
// thresholds, so it is read in the unit it was written in. Whatever the
// unit, the result is then compared with now: see MaxAge.
const (
	thresholdMillis = 1e11
	thresholdMicros = 1e14
	thresholdNanos  = 1e17
)

// MaxAge is the largest queue time Parse accepts. A start further in the past
// than this is taken to be a misconfigured or replayed header, or a unit
// mistake, rather than real queueing: no proxy holds a request for an hour.
const MaxAge = time.Hour

// maxFracDigits is the number of fraction digits kept; further digits are
// below a nanosecond even for seconds and are ignored.
const maxFracDigits = 9

// Parse reads an X-Request-Start or X-Queue-Start value and returns now minus
// the start time it holds.
//
// Accepted: optional spaces or tabs, an optional "t=" prefix, decimal digits
// with an optional fraction ("1512379167.574"), then optional spaces or tabs.
// Anything after a space that follows the number is ignored, so Apache's
// "t=1512379167574123 D=1234" form is accepted. The unit is decided by the
// magnitude of the integer part (see the thresholds above).
//
// It returns (0, false) for an empty or malformed value, a sign, a zero
// timestamp, a start after now, and a start more than MaxAge before now.
// A start equal to now returns (0, true).
//
// Parse does not allocate.
func Parse(v string, now time.Time) (time.Duration, bool) {
	v = trimOWS(v)
	if len(v) >= 2 && v[0] == 't' && v[1] == '=' {
		v = v[2:]
	}

	// Integer part.
	var n int64
	i := 0
	for ; i < len(v) && isDigit(v[i]); i++ {
		d := int64(v[i] - '0')
		if n > (math.MaxInt64-d)/10 {
			return 0, false // does not fit in an int64: past the year 2262
		}
		n = n*10 + d
	}
	if i == 0 {
		return 0, false
	}

	// Fraction, kept to nanosecond digits.
	var frac int64
	fracScale := int64(1) // 10^(number of fraction digits kept)
	fracDigits := 0
	if i < len(v) && v[i] == '.' {
		i++
		start := i
		for ; i < len(v) && isDigit(v[i]); i++ {
			if fracDigits < maxFracDigits {
				frac = frac*10 + int64(v[i]-'0')
				fracScale *= 10
				fracDigits++
			}
		}
		if i == start {
			return 0, false
		}
	}

	// Only trailing whitespace, or whitespace followed by other fields.
	if i < len(v) && v[i] != ' ' && v[i] != '\t' {
		return 0, false
	}
	if n == 0 && frac == 0 {
		return 0, false
	}

	var unit int64 // nanoseconds per unit
	switch {
	case n < thresholdMillis:
		unit = int64(time.Second)
	case n < thresholdMicros:
		unit = int64(time.Millisecond)
	case n < thresholdNanos:
		unit = int64(time.Microsecond)
	default:
		unit = 1
	}

	// Split n into whole seconds and nanoseconds without overflowing.
	perSec := int64(time.Second) / unit
	sec := n / perSec
	nsec := (n % perSec) * unit
	if unit > 1 {
		// frac < 1e9 and unit <= 1e9, so the product fits in an int64.
		nsec += frac * unit / fracScale
	}
	start := time.Unix(sec, nsec)

	d := now.Sub(start)
	if d < 0 || d > MaxAge {
		return 0, false
	}
	return d, true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}
