package correlate

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestParseTraceID(t *testing.T) {
	for _, tt := range []struct {
		in, want string
		err      bool
	}{
		{"4bf92f3577b34da6a3ce929d0e0e4736", "4bf92f3577b34da6a3ce929d0e0e4736", false},
		{"4BF92F3577B34DA6A3CE929D0E0E4736", "4bf92f3577b34da6a3ce929d0e0e4736", false},
		{"00000000000000000000000000000000", "", true},
		{"4bf92f3577b34da6a3ce929d0e0e473", "", true},
		{"4bf92f3577b34da6a3ce929d0e0e473g", "", true},
		{"", "", true},
	} {
		id, err := ParseTraceID(tt.in)
		if (err != nil) != tt.err || id.String() != tt.want {
			t.Errorf("ParseTraceID(%q) = %q, %v; want %q, error %v", tt.in, id, err, tt.want, tt.err)
		}
		if err != nil && !errors.Is(err, ErrBadTraceID) {
			t.Errorf("ParseTraceID(%q): %v does not wrap ErrBadTraceID", tt.in, err)
		}
	}
}

// TestTraceIDJSON: the JSON form is the 32-character hex string the API
// has always returned, "" for an unknown id, and it reads back.
func TestTraceIDJSON(t *testing.T) {
	id, _ := ParseTraceID(traceID)
	for _, tt := range []struct {
		in   TraceID
		want string
	}{{id, `"` + traceID + `"`}, {TraceID{}, `""`}} {
		b, err := json.Marshal(tt.in)
		if err != nil || string(b) != tt.want {
			t.Fatalf("Marshal(%v) = %s, %v; want %s", tt.in, b, err, tt.want)
		}
		var back TraceID
		if err := json.Unmarshal(b, &back); err != nil || back != tt.in {
			t.Fatalf("Unmarshal(%s) = %v, %v", b, back, err)
		}
	}
	var bad TraceID
	for _, in := range []string{`"xyz"`, `12`, `"00000000000000000000000000000000"`} {
		if err := json.Unmarshal([]byte(in), &bad); err == nil {
			t.Errorf("Unmarshal(%s): no error", in)
		}
	}
}
