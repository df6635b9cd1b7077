package correlate

import (
	"encoding/hex"
	"fmt"
)

// marshalHex is the JSON string of an id's lower-case hex digits, ""
// for the zero id: how TraceID and SpanID are written.
func marshalHex(id []byte, zero bool) []byte {
	b := make([]byte, 0, 2*len(id)+2)
	b = append(b, '"')
	if !zero {
		b = hex.AppendEncode(b, id)
	}
	return append(b, '"')
}

// unmarshalHex reads what marshalHex writes, the digits with parse; ""
// is the zero id. what names the id in errors.
func unmarshalHex[T any](what string, b []byte, parse func(string) (T, error)) (T, error) {
	var zero T
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return zero, fmt.Errorf("%s: want a JSON string, got %s", what, b)
	}
	s := string(b[1 : len(b)-1])
	if s == "" {
		return zero, nil
	}
	return parse(s)
}
