package tracectx

import (
	"errors"
	"fmt"
)

// XRayRootLen is the length of an X-Ray Root: 1-<8 hex>-<24 hex>.
const XRayRootLen = 35

// Errors an X-Ray Root or id can fail with (errors.Is targets).
var (
	// ErrBadHex: a character that is not a hex digit.
	ErrBadHex = errors.New("not a hex string")
	// ErrZeroID: an id of all zeros, which no tracer sends.
	ErrZeroID = errors.New("id is all zeros")
	// ErrXRayVersion: a Root whose version is not 1.
	ErrXRayVersion = errors.New(`version is not "1"`)
)

// xrayRootFault is what is wrong with a Root: rootOK or the first fault
// found, so that ValidXRayRoot stays allocation-free and CheckXRayRoot
// can say why from the same walk.
type xrayRootFault uint8

const (
	rootOK xrayRootFault = iota
	rootLength
	rootVersion
	rootSeparator
	rootHex
	rootZero
)

func xrayRootCheck(r string) xrayRootFault {
	switch {
	case len(r) != XRayRootLen:
		return rootLength
	case r[0] != '1' || r[1] != '-':
		return rootVersion
	case r[10] != '-':
		return rootSeparator
	}
	zero := true
	for i := 2; i < XRayRootLen; i++ {
		if i == 10 {
			continue
		}
		n, ok := nibble(r[i])
		if !ok {
			return rootHex
		}
		if n != 0 {
			zero = false
		}
	}
	if zero {
		return rootZero
	}
	return rootOK
}

// ValidXRayRoot reports whether r is an AWS X-Ray Root, 1-<8 hex
// time>-<24 hex> (hex digits in either case, as AWS writes them in headers
// and ALB logs), whose trace id is not all zeros. It does not allocate.
func ValidXRayRoot(r string) bool { return xrayRootCheck(r) == rootOK }

// CheckXRayRoot is ValidXRayRoot with the reason: nil for a valid Root,
// else an error that quotes r and wraps ErrXRayVersion, ErrBadHex or
// ErrZeroID where one of them is the cause.
func CheckXRayRoot(r string) error {
	switch xrayRootCheck(r) {
	case rootLength:
		return fmt.Errorf("%q: want 1-<8 hex>-<24 hex> (%d characters), got %d characters", r, XRayRootLen, len(r))
	case rootVersion:
		return fmt.Errorf("%q: %w", r, ErrXRayVersion)
	case rootSeparator:
		return fmt.Errorf("%q: want '-' after the 8 hex digit time", r)
	case rootHex:
		return fmt.Errorf("%q: %w", r, ErrBadHex)
	case rootZero:
		return fmt.Errorf("%q: trace %w", r, ErrZeroID)
	}
	return nil
}

// XRayRootID returns the 128-bit trace id a valid X-Ray Root holds (its
// time, then its random part: the W3C trace id X-Ray maps it to), and
// false when r is not valid (ValidXRayRoot).
func XRayRootID(r string) ([16]byte, bool) {
	var id [16]byte
	if !ValidXRayRoot(r) {
		return id, false
	}
	var digits [32]byte
	copy(digits[:8], r[2:10])
	copy(digits[8:], r[11:])
	for i := range id {
		hi, _ := nibble(digits[2*i])
		lo, _ := nibble(digits[2*i+1])
		id[i] = hi<<4 | lo
	}
	return id, true
}

// XRayRootTraceID returns the 128-bit trace id a valid X-Ray Root
// (ValidXRayRoot) holds, as 32 lower-case hex digits: the time, then the
// random part, the W3C trace id X-Ray maps it to.
func XRayRootTraceID(r string) (string, bool) {
	if !ValidXRayRoot(r) {
		return "", false
	}
	var id [32]byte
	n := 0
	for i := 2; i < XRayRootLen; i++ {
		if i == 10 {
			continue
		}
		c := r[i]
		if 'A' <= c && c <= 'F' {
			c += 'a' - 'A'
		}
		id[n] = c
		n++
	}
	return string(id[:]), true
}

// CheckHexID checks that s is an id of exactly 2×n hex digits in either
// case (as X-Ray writes its Parent), not all zeros; the error quotes s.
func CheckHexID(s string, n int) error {
	if len(s) != 2*n {
		return fmt.Errorf("%q: want %d hex digits, got %d characters", s, 2*n, len(s))
	}
	zero := true
	for i := 0; i < len(s); i++ {
		v, ok := nibble(s[i])
		if !ok {
			return fmt.Errorf("%q: %w", s, ErrBadHex)
		}
		if v != 0 {
			zero = false
		}
	}
	if zero {
		return fmt.Errorf("%q: %w", s, ErrZeroID)
	}
	return nil
}

// DecodeHex decodes s, exactly 2×len(dst) hex digits in either case, into
// dst.
func DecodeHex(dst []byte, s string) bool {
	if len(s) != 2*len(dst) {
		return false
	}
	for i := range dst {
		hi, ok1 := nibble(s[2*i])
		lo, ok2 := nibble(s[2*i+1])
		if !ok1 || !ok2 {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

// nibble is a hex digit's value, either case.
func nibble(c byte) (byte, bool) {
	if 'A' <= c && c <= 'F' {
		c += 'a' - 'A'
	}
	return lowerNibble(c)
}

// XRayHeaderRoot returns the Root of an X-Amzn-Trace-Id value (the
// ';'-separated key=value fields, spaces and tabs around keys and values
// trimmed, keys case-sensitive) as written, when the first Root field holds
// a valid Root (ValidXRayRoot), else "". Unlike correlate/xray.Parse it
// ignores the other fields, so a bad Parent or Sampled does not lose the
// trace id: what the sidecar and the log parsers need to join on. It does
// not allocate.
func XRayHeaderRoot(h string) string {
	for h != "" {
		var field string
		field, h, _ = cut(h, ';')
		k, v, ok := cut(field, '=')
		if !ok || trimOWS(k) != "Root" {
			continue
		}
		if v = trimOWS(v); ValidXRayRoot(v) {
			return v
		}
	}
	return ""
}

func cut(s string, sep byte) (before, after string, found bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == sep {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// trimOWS removes RFC 9110's optional white space, spaces and tabs (not
// every Unicode space, as a header parser would not).
func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}
