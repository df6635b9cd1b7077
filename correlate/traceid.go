package correlate

import (
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/hopscope/hopscope/internal/tracectx"
)

// TraceID is a W3C trace id: 16 bytes, never all zero once known. It is
// binary everywhere inside the collector; its text form (32 lower-case hex
// digits) appears only at the edges: JSON, logs, the UI and API paths.
type TraceID [16]byte

// ErrBadTraceID is returned by ParseTraceID for anything but 32 hex
// digits that are not all zero.
var ErrBadTraceID = errors.New("not a trace id: want 32 hex digits, not all zero")

// ParseTraceID reads a trace id written as 32 hex digits (either case).
func ParseTraceID(s string) (TraceID, error) {
	var id TraceID
	if !tracectx.DecodeHex(id[:], s) || id.IsZero() {
		return TraceID{}, fmt.Errorf("%q: %w", s, ErrBadTraceID)
	}
	return id, nil
}

// TraceIDFromXRayRoot returns the trace id an X-Ray Root maps to (its
// time, then its random part), false when root is not a valid Root.
func TraceIDFromXRayRoot(root string) (TraceID, bool) {
	id, ok := tracectx.XRayRootID(root)
	if !ok || TraceID(id).IsZero() {
		return TraceID{}, false
	}
	return id, true
}

// IsZero reports whether id is unknown (all zero).
func (id TraceID) IsZero() bool { return id == TraceID{} }

// String is id as 32 lower-case hex digits ("" for the zero id).
func (id TraceID) String() string {
	if id.IsZero() {
		return ""
	}
	var b [32]byte
	hex.Encode(b[:], id[:])
	return string(b[:])
}

// AppendHex appends id's 32 lower-case hex digits to b.
func (id TraceID) AppendHex(b []byte) []byte { return hex.AppendEncode(b, id[:]) }

// MarshalJSON writes id as its hex string, as the API always has ("" for
// the zero id).
func (id TraceID) MarshalJSON() ([]byte, error) { return marshalHex(id[:], id.IsZero()), nil }

// UnmarshalJSON reads the hex string MarshalJSON writes.
func (id *TraceID) UnmarshalJSON(b []byte) error {
	v, err := unmarshalHex("trace id", b, ParseTraceID)
	if err == nil {
		*id = v
	}
	return err
}
