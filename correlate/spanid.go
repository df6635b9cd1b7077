package correlate

import (
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/hopscope/hopscope/internal/tracectx"
)

// SpanID is a W3C span id: 8 bytes, all zero when unknown. Like TraceID it
// is binary inside the collector (records, the store's duplicate check);
// its text form (16 lower-case hex digits) appears only at the edges: log
// sources are parsed once (ParseSpanID), JSON and logs write it back.
type SpanID [8]byte

// ErrBadSpanID is returned by ParseSpanID for anything but 16 hex digits
// that are not all zero.
var ErrBadSpanID = errors.New("not a span id: want 16 hex digits, not all zero")

// ParseSpanID reads a span id written as 16 hex digits (either case).
func ParseSpanID(s string) (SpanID, error) {
	var id SpanID
	if !tracectx.DecodeHex(id[:], s) || id.IsZero() {
		return SpanID{}, fmt.Errorf("%q: %w", s, ErrBadSpanID)
	}
	return id, nil
}

// SpanIDOf is b as a span id when it is 8 bytes (an OTLP span's id or
// parent id), else the zero id.
func SpanIDOf(b []byte) SpanID {
	if len(b) != len(SpanID{}) {
		return SpanID{}
	}
	return SpanID(b)
}

// IsZero reports whether id is unknown (all zero).
func (id SpanID) IsZero() bool { return id == SpanID{} }

// Bytes is id as OTLP carries it: its 8 bytes, nil for the zero id.
func (id SpanID) Bytes() []byte {
	if id.IsZero() {
		return nil
	}
	return id[:]
}

// String is id as 16 lower-case hex digits ("" for the zero id).
func (id SpanID) String() string {
	if id.IsZero() {
		return ""
	}
	var b [16]byte
	hex.Encode(b[:], id[:])
	return string(b[:])
}

// AppendHex appends id's 16 lower-case hex digits to b.
func (id SpanID) AppendHex(b []byte) []byte { return hex.AppendEncode(b, id[:]) }

// MarshalJSON writes id as its hex string ("" for the zero id).
func (id SpanID) MarshalJSON() ([]byte, error) { return marshalHex(id[:], id.IsZero()), nil }

// UnmarshalJSON reads the hex string MarshalJSON writes.
func (id *SpanID) UnmarshalJSON(b []byte) error {
	v, err := unmarshalHex("span id", b, ParseSpanID)
	if err == nil {
		*id = v
	}
	return err
}
