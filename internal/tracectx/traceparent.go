package tracectx

import (
	"errors"
	"strconv"
)

// TraceparentLen is the length of a version 00 traceparent:
// 00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>.
const TraceparentLen = 55

// Traceparent is a parsed traceparent header.
type Traceparent struct {
	Version byte
	TraceID [16]byte
	SpanID  [8]byte
	Flags   byte
	// TraceIDHex is the trace id as it was written: 32 lower-case hex
	// digits, a substring of the parsed value.
	TraceIDHex string
}

// Sampled reports the sampled flag.
func (t Traceparent) Sampled() bool { return t.Flags&1 == 1 }

var errShape = errors.New("not a traceparent (want 00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>)")

// ParseTraceparent parses a traceparent value as the W3C specification
// reads it: hex digits in lower case only, version ff refused, version 00
// exactly 55 characters, a later version possibly followed by "-" and more
// fields, neither id all zeros. White space is not trimmed. The error says
// what is wrong in words fit for a rejection log.
func ParseTraceparent(s string) (Traceparent, error) {
	var t Traceparent
	if len(s) < TraceparentLen || s[2] != '-' || s[35] != '-' || s[52] != '-' {
		return t, errShape
	}
	version, trace, parent, flags := s[0:2], s[3:35], s[36:52], s[53:55]
	var v, f [1]byte
	switch {
	case !DecodeLowerHex(v[:], version):
		return t, errors.New("traceparent version " + strconv.Quote(version) + " is not 2 lowercase hex digits")
	case v[0] == 0xff:
		return t, errors.New("traceparent version ff is invalid")
	case v[0] == 0 && len(s) != TraceparentLen:
		return t, errors.New("traceparent version 00 has trailing data")
	case len(s) > TraceparentLen && s[TraceparentLen] != '-':
		return t, errors.New("traceparent flags are not 2 hex digits")
	case !DecodeLowerHex(t.TraceID[:], trace):
		return t, errors.New("traceparent trace id is not 32 lowercase hex digits")
	case t.TraceID == [16]byte{}:
		return t, errors.New("traceparent trace id is all zeros")
	case !DecodeLowerHex(t.SpanID[:], parent):
		return t, errors.New("traceparent parent id is not 16 lowercase hex digits")
	case t.SpanID == [8]byte{}:
		return t, errors.New("traceparent parent id is all zeros")
	case !DecodeLowerHex(f[:], flags):
		return t, errors.New("traceparent flags are not 2 lowercase hex digits")
	}
	t.Version, t.Flags, t.TraceIDHex = v[0], f[0], trace
	return t, nil
}

// DecodeLowerHex decodes s, exactly 2×len(dst) lower-case hex digits,
// into dst.
func DecodeLowerHex(dst []byte, s string) bool {
	if len(s) != 2*len(dst) {
		return false
	}
	for i := range dst {
		hi, ok1 := lowerNibble(s[2*i])
		lo, ok2 := lowerNibble(s[2*i+1])
		if !ok1 || !ok2 {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

// IsLowerHex reports whether s holds lower-case hex digits only.
func IsLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if _, ok := lowerNibble(s[i]); !ok {
			return false
		}
	}
	return true
}

func lowerNibble(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// ValidTraceIDHex reports whether s is a trace id as W3C writes it: 32
// lower-case hex digits, not all zeros.
func ValidTraceIDHex(s string) bool {
	var id [16]byte
	return DecodeLowerHex(id[:], s) && id != [16]byte{}
}
