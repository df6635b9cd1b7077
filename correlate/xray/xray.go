package xray

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/hopscope/hopscope/internal/tracectx"
)

// HeaderName is the HTTP header that carries the X-Ray trace context.
const HeaderName = "X-Amzn-Trace-Id"

// Keys of the fields this package understands, spelled (case-sensitively) as
// AWS writes them.
const (
	KeyRoot    = "Root"
	KeyParent  = "Parent"
	KeySampled = "Sampled"
	KeySelf    = "Self"
	KeyLineage = "Lineage"
)

const (
	// rootLen is len("1-xxxxxxxx-yyyyyyyyyyyyyyyyyyyyyyyy").
	rootLen   = tracectx.XRayRootLen
	parentLen = 16
	// formatLen is the length of the string Format returns.
	formatLen = len("Root=") + rootLen + len(";Parent=") + parentLen + len(";Sampled=") + 1
)

// Header is a parsed X-Amzn-Trace-Id value. Every field holds the raw value
// as written in the header (surrounding spaces trimmed); a field that was
// absent is empty.
type Header struct {
	// Root is the trace id in X-Ray form: 1-<8 hex>-<24 hex>.
	Root string
	// Parent is the 16 hex digit id of the calling segment, or "".
	Parent string
	// Sampled is the sampling decision: "" (absent), "0", "1" or "?"
	// (the caller asks the receiver to decide).
	Sampled string
	// Self is the id an ALB adds for its own hop. It is not validated.
	Self string
	// Lineage is the Lambda recursion lineage. It is not validated.
	Lineage string
}

var (
	errEmpty   = errors.New("empty header")
	errNoRoot  = errors.New("no Root field")
	errDupKey  = errors.New("field given more than once")
	errSampled = errors.New(`must be "0", "1" or "?"`)
)

// Parse parses an X-Amzn-Trace-Id header value.
//
// Fields are separated by ';' and written key=value; spaces and tabs around
// fields, keys and values are trimmed. Keys are case-sensitive. Unknown
// keys, and fields without '=', are ignored. Root is required and must be
// 1-<8 hex>-<24 hex> with a trace id that is not all zeros; Parent, when
// present, must be 16 hex digits and not all zeros; Sampled, when present,
// must be "0", "1" or "?". Hex digits may be upper or lower case. A known
// key given twice is an error, since the header would be ambiguous.
func Parse(v string) (Header, error) {
	var h Header
	if trimOWS(v) == "" {
		return Header{}, fmt.Errorf("%s: %w", HeaderName, errEmpty)
	}
	var seen uint8
	for rest := v; rest != ""; {
		var field string
		field, rest, _ = strings.Cut(rest, ";")
		key, val, ok := strings.Cut(field, "=")
		if !ok {
			continue
		}
		key, val = trimOWS(key), trimOWS(val)
		var dst *string
		var bit uint8
		switch key {
		case KeyRoot:
			dst, bit = &h.Root, 1
		case KeyParent:
			dst, bit = &h.Parent, 2
		case KeySampled:
			dst, bit = &h.Sampled, 4
		case KeySelf:
			dst, bit = &h.Self, 8
		case KeyLineage:
			dst, bit = &h.Lineage, 16
		default:
			continue
		}
		if seen&bit != 0 {
			return Header{}, fmt.Errorf("%s: %s: %w", HeaderName, key, errDupKey)
		}
		seen |= bit
		*dst = val
	}
	if seen&1 == 0 {
		return Header{}, fmt.Errorf("%s: %w", HeaderName, errNoRoot)
	}
	if err := tracectx.CheckXRayRoot(h.Root); err != nil {
		return Header{}, fmt.Errorf("%s: %s: %w", HeaderName, KeyRoot, err)
	}
	if seen&2 != 0 {
		if err := tracectx.CheckHexID(h.Parent, parentLen/2); err != nil {
			return Header{}, fmt.Errorf("%s: %s: %w", HeaderName, KeyParent, err)
		}
	}
	if seen&4 != 0 {
		switch h.Sampled {
		case "0", "1", "?":
		default:
			return Header{}, fmt.Errorf("%s: %s: %q: %w", HeaderName, KeySampled, h.Sampled, errSampled)
		}
	}
	return h, nil
}

func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// TraceID returns the 128-bit trace id held in Root: its 8 hex digit time
// followed by its 24 hex digit random part. It returns the zero id when Root
// is not valid (a Header returned by Parse without error always has a valid
// Root).
func (h Header) TraceID() [16]byte {
	id, _ := tracectx.XRayRootID(h.Root)
	return id
}

// ParentID returns the 64-bit id held in Parent, and false when Parent is
// absent or not 16 hex digits.
func (h Header) ParentID() ([8]byte, bool) {
	var id [8]byte
	if !tracectx.DecodeHex(id[:], h.Parent) {
		return [8]byte{}, false
	}
	return id, true
}

// TraceIDHex returns TraceID as 32 lower-case hex digits, the form W3C
// traceparent and OpenTelemetry use, so it can be joined with them. It
// returns "" when Root is not valid.
func (h Header) TraceIDHex() string {
	id, _ := tracectx.XRayRootTraceID(h.Root)
	return id
}

// Format returns an X-Amzn-Trace-Id value for the given trace id, parent
// (segment or span) id and sampling decision:
//
//	Root=1-xxxxxxxx-yyyyyyyyyyyyyyyyyyyyyyyy;Parent=zzzzzzzzzzzzzzzz;Sampled=1
//
// Hex digits are lower case.
func Format(traceID [16]byte, parent [8]byte, sampled bool) string {
	var b [formatLen]byte
	n := copy(b[:], "Root=1-")
	hex.Encode(b[n:n+8], traceID[:4])
	n += 8
	b[n] = '-'
	n++
	hex.Encode(b[n:n+24], traceID[4:])
	n += 24
	n += copy(b[n:], ";Parent=")
	hex.Encode(b[n:n+16], parent[:])
	n += 16
	n += copy(b[n:], ";Sampled=")
	if sampled {
		b[n] = '1'
	} else {
		b[n] = '0'
	}
	return string(b[:])
}
