package tracectx

import (
	"encoding/hex"
	"strings"
	"testing"
)

const (
	tid = "4bf92f3577b34da6a3ce929d0e0e4736"
	sid = "00f067aa0ba902b7"
)

func TestParseTraceparent(t *testing.T) {
	for _, tc := range []struct {
		in, err string
		sampled bool
	}{
		{"00-" + tid + "-" + sid + "-01", "", true},
		{"00-" + tid + "-" + sid + "-00", "", false},
		{"01-" + tid + "-" + sid + "-01-later-fields", "", true},
		{"01-" + tid + "-" + sid + "-01", "", true},
		{"00-" + tid + "-" + sid + "-01-x", "version 00 has trailing data", false},
		{"01-" + tid + "-" + sid + "-01x", "flags are not 2 hex digits", false},
		{"ff-" + tid + "-" + sid + "-01", "version ff is invalid", false},
		{"0g-" + tid + "-" + sid + "-01", `version "0g" is not 2 lowercase hex digits`, false},
		{"00-" + strings.ToUpper(tid) + "-" + sid + "-01", "trace id is not 32 lowercase hex digits", false},
		{"00-" + strings.Repeat("0", 32) + "-" + sid + "-01", "trace id is all zeros", false},
		{"00-" + tid + "-" + strings.Repeat("0", 16) + "-01", "parent id is all zeros", false},
		{"00-" + tid + "-" + sid + "-0G", "flags are not 2 lowercase hex digits", false},
		{" 00-" + tid + "-" + sid + "-01", "not a traceparent", false},
		{"00-" + tid + "-" + sid, "not a traceparent", false},
		{"", "not a traceparent", false},
	} {
		tp, err := ParseTraceparent(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || tp.TraceIDHex != tid || hex.EncodeToString(tp.TraceID[:]) != tid || hex.EncodeToString(tp.SpanID[:]) != sid || tp.Sampled() != tc.sampled {
			t.Errorf("%q: %+v, %v", tc.in, tp, err)
		}
	}
}

// FuzzParseTraceparent: what it accepts is what the specification's
// grammar accepts (a reference written from it), and the ids read back as
// written.
func FuzzParseTraceparent(f *testing.F) {
	for _, s := range []string{"00-" + tid + "-" + sid + "-01", "cc-" + tid + "-" + sid + "-01-what-ever", "ff-" + tid + "-" + sid + "-01", "00-" + tid + "-" + sid + "-01-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tp, err := ParseTraceparent(s)
		if (err == nil) != reference(s) {
			t.Fatalf("%q: ParseTraceparent error %v, the reference says %v", s, err, reference(s))
		}
		if err != nil {
			return
		}
		if hex.EncodeToString(tp.TraceID[:]) != s[3:35] || tp.TraceIDHex != s[3:35] || hex.EncodeToString(tp.SpanID[:]) != s[36:52] {
			t.Fatalf("%q: ids %+v", s, tp)
		}
	})
}

// reference is the W3C grammar read literally.
func reference(s string) bool {
	lower := func(x string) bool {
		for _, c := range x {
			if !strings.ContainsRune("0123456789abcdef", c) {
				return false
			}
		}
		return true
	}
	parts := strings.SplitN(s, "-", 5)
	if len(parts) < 4 || len(parts[0]) != 2 || len(parts[1]) != 32 || len(parts[2]) != 16 || len(parts[3]) != 2 {
		return false
	}
	if !lower(parts[0]) || !lower(parts[1]) || !lower(parts[2]) || !lower(parts[3]) || parts[0] == "ff" {
		return false
	}
	if parts[1] == strings.Repeat("0", 32) || parts[2] == strings.Repeat("0", 16) {
		return false
	}
	if parts[0] == "00" {
		return len(parts) == 4
	}
	return true
}

func TestValidTraceIDHex(t *testing.T) {
	for in, want := range map[string]bool{tid: true, strings.ToUpper(tid): false, strings.Repeat("0", 32): false, tid[:31]: false, tid + "0": false, "": false} {
		if ValidTraceIDHex(in) != want {
			t.Errorf("%q: %v, want %v", in, !want, want)
		}
	}
}
