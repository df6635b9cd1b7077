package correlate

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestParseSpanID(t *testing.T) {
	for _, tt := range []struct {
		in, want string
		err      bool
	}{
		{"00f067aa0ba902b7", "00f067aa0ba902b7", false},
		{"00F067AA0BA902B7", "00f067aa0ba902b7", false},
		{"0000000000000000", "", true},
		{"00f067aa0ba902b", "", true},
		{"00f067aa0ba902bg", "", true},
		{"00f067aa0ba902b700", "", true},
		{"", "", true},
	} {
		id, err := ParseSpanID(tt.in)
		if (err != nil) != tt.err || id.String() != tt.want {
			t.Errorf("ParseSpanID(%q) = %q, %v; want %q, error %v", tt.in, id, err, tt.want, tt.err)
		}
		if err != nil && !errors.Is(err, ErrBadSpanID) {
			t.Errorf("ParseSpanID(%q): %v does not wrap ErrBadSpanID", tt.in, err)
		}
	}
}

func TestSpanIDOf(t *testing.T) {
	for _, tt := range []struct {
		name string
		in   []byte
		want string
	}{
		{"8 bytes", []byte{0, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7}, "00f067aa0ba902b7"},
		{"none", nil, ""},
		{"too short", []byte{1, 2, 3}, ""},
		{"too long", make([]byte, 16), ""},
	} {
		id := SpanIDOf(tt.in)
		if id.String() != tt.want || (tt.want == "") != (id.Bytes() == nil) {
			t.Errorf("%s: SpanIDOf = %q (bytes %x), want %q", tt.name, id, id.Bytes(), tt.want)
		}
	}
}

// TestSpanIDJSON: the JSON form is the 16-character hex string the
// records had as text, "" for an unknown id, and it reads back.
func TestSpanIDJSON(t *testing.T) {
	id, _ := ParseSpanID("00f067aa0ba902b7")
	for _, tt := range []struct {
		in   SpanID
		want string
	}{{id, `"00f067aa0ba902b7"`}, {SpanID{}, `""`}} {
		b, err := json.Marshal(tt.in)
		if err != nil || string(b) != tt.want {
			t.Fatalf("Marshal(%v) = %s, %v; want %s", tt.in, b, err, tt.want)
		}
		var back SpanID
		if err := json.Unmarshal(b, &back); err != nil || back != tt.in {
			t.Fatalf("Unmarshal(%s) = %v, %v", b, back, err)
		}
	}
	var bad SpanID
	for _, in := range []string{`"xyz"`, `12`, `"0000000000000000"`} {
		if err := json.Unmarshal([]byte(in), &bad); err == nil {
			t.Errorf("Unmarshal(%s): no error", in)
		}
	}
}

// FuzzParseSpanID: a span id read from a log line either fails or is 16
// hex digits that print back as the input, lower-cased.
func FuzzParseSpanID(f *testing.F) {
	for _, s := range []string{"00f067aa0ba902b7", "00F067AA0BA902B7", "0000000000000000", "", "zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseSpanID(s)
		if err != nil {
			if !id.IsZero() {
				t.Fatalf("ParseSpanID(%q): error %v with id %v", s, err, id)
			}
			return
		}
		if id.IsZero() || id.String() != strings.ToLower(s) {
			t.Fatalf("ParseSpanID(%q) = %q", s, id)
		}
	})
}

// sid is a test span id spelled by a short label (its bytes, zero-padded).
func sid(label string) SpanID {
	var id SpanID
	copy(id[:], label)
	return id
}

// hexSpanID is the span id written as 16 hex digits.
func hexSpanID(s string) SpanID {
	id, err := ParseSpanID(s)
	if err != nil {
		panic(err)
	}
	return id
}
