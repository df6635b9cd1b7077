package xray

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
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
	rootVersion = "1"
	// rootLen is len("1-xxxxxxxx-yyyyyyyyyyyyyyyyyyyyyyyy").
	rootLen   = 1 + 1 + 8 + 1 + 24
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
	errZeroID  = errors.New("id is all zeros")
	errDupKey  = errors.New("field given more than once")
	errBadHex  = errors.New("not a hex string")
	errVersion = errors.New(`version is not "1"`)
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
	if err := validateRoot(h.Root); err != nil {
		return Header{}, fmt.Errorf("%s: %s: %w", HeaderName, KeyRoot, err)
	}
	if seen&2 != 0 {
		if err := validateHex(h.Parent, parentLen); err != nil {
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

// validateRoot checks the 1-<8 hex>-<24 hex> form and rejects an all-zero
// trace id.
func validateRoot(r string) error {
	if len(r) != rootLen {
		return fmt.Errorf("%q: want 1-<8 hex>-<24 hex> (%d characters), got %d characters", r, rootLen, len(r))
	}
	if r[:2] != rootVersion+"-" {
		return fmt.Errorf("%q: %w", r, errVersion)
	}
	if r[10] != '-' {
		return fmt.Errorf("%q: want '-' after the 8 hex digit time", r)
	}
	var zero byte = '0'
	for i := 2; i < rootLen; i++ {
		if i == 10 {
			continue
		}
		if !isHex(r[i]) {
			return fmt.Errorf("%q: %w", r, errBadHex)
		}
		zero |= r[i]
	}
	if zero == '0' {
		return fmt.Errorf("%q: trace %w", r, errZeroID)
	}
	return nil
}

func validateHex(s string, n int) error {
	if len(s) != n {
		return fmt.Errorf("%q: want %d hex digits, got %d characters", s, n, len(s))
	}
	var zero byte = '0'
	for i := 0; i < n; i++ {
		if !isHex(s[i]) {
			return fmt.Errorf("%q: %w", s, errBadHex)
		}
		zero |= s[i]
	}
	if zero == '0' {
		return fmt.Errorf("%q: %w", s, errZeroID)
	}
	return nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	default:
		return c - '0'
	}
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
	var id [16]byte
	if validateRootFast(h.Root) {
		hexPart := [32]byte{}
		copy(hexPart[:8], h.Root[2:10])
		copy(hexPart[8:], h.Root[11:])
		for i := range id {
			id[i] = unhex(hexPart[2*i])<<4 | unhex(hexPart[2*i+1])
		}
	}
	return id
}

// ParentID returns the 64-bit id held in Parent, and false when Parent is
// absent or not 16 hex digits.
func (h Header) ParentID() ([8]byte, bool) {
	var id [8]byte
	if len(h.Parent) != parentLen {
		return id, false
	}
	for i := 0; i < parentLen; i++ {
		if !isHex(h.Parent[i]) {
			return [8]byte{}, false
		}
	}
	for i := range id {
		id[i] = unhex(h.Parent[2*i])<<4 | unhex(h.Parent[2*i+1])
	}
	return id, true
}

// TraceIDHex returns TraceID as 32 lower-case hex digits, the form W3C
// traceparent and OpenTelemetry use, so it can be joined with them. It
// returns "" when Root is not valid.
func (h Header) TraceIDHex() string {
	if !validateRootFast(h.Root) {
		return ""
	}
	id := h.TraceID()
	return hex.EncodeToString(id[:])
}

// validateRootFast reports whether r has the Root shape, without building an
// error.
func validateRootFast(r string) bool {
	if len(r) != rootLen || r[0] != '1' || r[1] != '-' || r[10] != '-' {
		return false
	}
	for i := 2; i < rootLen; i++ {
		if i != 10 && !isHex(r[i]) {
			return false
		}
	}
	return true
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
