package forward

import (
	"testing"
	"time"

	"github.com/hopscope/hopscope/internal/contract"
)

func TestBytesToStrings(t *testing.T) {
	in := map[string]any{"request_time": []byte("0.015"), "nested": []any{[]byte("x"), map[string]any{"k": []byte("v")}}, "n": int64(1)}
	out := bytesToStrings(in).(map[string]any)
	if out["request_time"] != "0.015" || out["nested"].([]any)[0] != "x" || out["nested"].([]any)[1].(map[string]any)["k"] != "v" || out["n"] != int64(1) {
		t.Fatalf("%#v", out)
	}
}

// TestAccessLogSpanID: the access log's span id is parsed once, here at
// the edge; one that is not 16 hex digits is none, and the record is
// still made (joined by its trace id).
func TestAccessLogSpanID(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"hex", "00f067aa0ba902b7", "00f067aa0ba902b7"},
		{"upper case", "00F067AA0BA902B7", "00f067aa0ba902b7"},
		{"absent", "", ""},
		{"not hex", "not-a-span-id", ""},
		{"all zero", "0000000000000000", ""},
	} {
		r := map[string]any{contract.LogTraceID: "4bf92f3577b34da6a3ce929d0e0e4736", contract.LogDurationMS: 3.5}
		if tc.in != "" {
			r[contract.LogSpanID] = tc.in
		}
		sp, err := sidecarFromAccessLog(r, time.Unix(1, 0))
		if err != nil || sp.SpanID.String() != tc.want {
			t.Errorf("%s: %+v, %v; want span id %q", tc.name, sp, err, tc.want)
		}
	}
}
