package forward

import "testing"

func TestBytesToStrings(t *testing.T) {
	in := map[string]any{"request_time": []byte("0.015"), "nested": []any{[]byte("x"), map[string]any{"k": []byte("v")}}, "n": int64(1)}
	out := bytesToStrings(in).(map[string]any)
	if out["request_time"] != "0.015" || out["nested"].([]any)[0] != "x" || out["nested"].([]any)[1].(map[string]any)["k"] != "v" || out["n"] != int64(1) {
		t.Fatalf("%#v", out)
	}
}
