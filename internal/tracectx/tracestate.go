package tracectx

import (
	"errors"
	"strconv"
	"strings"
)

// Limits of a tracestate as W3C Trace Context
// (https://www.w3.org/TR/trace-context/#tracestate-header) sets them.
const (
	// TracestateMaxMembers is the most list members a tracestate may
	// have; with more, the header is invalid.
	TracestateMaxMembers = 32
	// TracestatePropagateLen is the combined length a participant
	// propagates at least; a longer tracestate is cut to it by the
	// spec's rule (see ParseTracestate).
	TracestatePropagateLen = 512
	// tracestateLongMember is the length above which a member is dropped
	// first when the header must be cut.
	tracestateLongMember = 128
	// tracestateMaxKey and tracestateMaxValue are the longest key and
	// value.
	tracestateMaxKey   = 256
	tracestateMaxValue = 256
)

// ParseTracestate reads the tracestate header values of one request (all
// of them, in order: the spec combines repeated headers as one list) and
// returns the tracestate a participant propagates, the empty string when
// there is none. It applies the spec's rules as the W3C test suite checks
// them (test/test.py at acab820, STRICT_LEVEL 2):
//
//   - list members are separated by commas with optional white space
//     (spaces, tabs) around them; empty members are skipped;
//   - each member is key=value; a key is a lower-case letter or digit then
//     at most 255 of a-z 0-9 _ - * / @; a value is 1 to 256 printable
//     ASCII characters other than , and =, not ending in a space;
//   - one invalid member, or more than 32 members, makes the whole
//     header invalid: the error says why and the caller propagates none;
//   - a key repeated keeps its first (leftmost) member, the later ones are
//     dropped (the spec lets a receiver drop or keep them);
//   - a result longer than 512 characters is cut as the spec says:
//     members longer than 128 characters are removed first, from the
//     right, then members from the right, until it fits.
//
// A single header that needs no change is returned as it is, without
// allocating.
func ParseTracestate(values []string) (string, error) {
	var members [TracestateMaxMembers]string
	n, changed := 0, len(values) > 1
	for _, v := range values {
		for rest := v; ; {
			m, tail, more := strings.Cut(rest, ",")
			t := strings.Trim(m, " \t")
			if len(t) != len(m) {
				changed = true
			}
			if t == "" {
				if more || v != "" {
					changed = true
				}
			} else {
				key, err := checkMember(t)
				if err != nil {
					return "", err
				}
				dup := false
				for _, prev := range members[:n] {
					if k, _, _ := strings.Cut(prev, "="); k == key {
						dup = true
						break
					}
				}
				if dup {
					changed = true
				} else {
					if n == TracestateMaxMembers {
						return "", errors.New("tracestate has more than " + strconv.Itoa(TracestateMaxMembers) + " list members")
					}
					members[n] = t
					n++
				}
			}
			if !more {
				break
			}
			rest = tail
		}
	}
	if n == 0 {
		return "", nil
	}
	size := n - 1
	for _, m := range members[:n] {
		size += len(m)
	}
	if !changed && size <= TracestatePropagateLen {
		return values[0], nil
	}
	keep := members[:n]
	for size > TracestatePropagateLen { // long members first, from the right
		i := len(keep) - 1
		for i >= 0 && len(keep[i]) <= tracestateLongMember {
			i--
		}
		if i < 0 {
			break
		}
		size -= len(keep[i]) + 1
		keep = append(keep[:i], keep[i+1:]...)
	}
	for size > TracestatePropagateLen && len(keep) > 0 {
		size -= len(keep[len(keep)-1]) + 1
		keep = keep[:len(keep)-1]
	}
	return strings.Join(keep, ","), nil
}

// checkMember checks one list member, trimmed, and returns its key.
func checkMember(m string) (string, error) {
	key, value, ok := strings.Cut(m, "=")
	if !ok {
		return "", errors.New("tracestate member " + strconv.Quote(cutForError(m)) + " is not key=value")
	}
	if !validTracestateKey(key) {
		return "", errors.New("tracestate key " + strconv.Quote(cutForError(key)) + " is not a lower-case letter or digit followed by at most 255 of a-z 0-9 _ - * / @")
	}
	if !validTracestateValue(value) {
		return "", errors.New("tracestate value of " + strconv.Quote(cutForError(key)) + " is not 1 to 256 printable characters other than , and =, ending in a non-space")
	}
	return key, nil
}

func validTracestateKey(k string) bool {
	if len(k) == 0 || len(k) > tracestateMaxKey {
		return false
	}
	if c := k[0]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9') {
		return false
	}
	for i := 1; i < len(k); i++ {
		switch c := k[i]; {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '_', c == '-', c == '*', c == '/', c == '@':
		default:
			return false
		}
	}
	return true
}

func validTracestateValue(v string) bool {
	if len(v) == 0 || len(v) > tracestateMaxValue || v[len(v)-1] == ' ' {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c > 0x7e || c == ',' || c == '=' {
			return false
		}
	}
	return true
}

// cutForError keeps an error message short whatever the input.
func cutForError(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
