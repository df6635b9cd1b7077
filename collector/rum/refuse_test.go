package rum

import (
	"io"
	"net/http"
	"slices"
	"testing"
)

// errReader fails the test if the body is read.
type errReader struct{ t *testing.T }

func (r errReader) Read([]byte) (int, error) {
	r.t.Error("the body of a refused beacon was read")
	return 0, io.EOF
}

// TestRefuseMemoryLimit: while Refuse reports true a beacon from an
// allowed origin gets 429 with Retry-After and CORS headers, its body
// unread, and takes no token from the rate limits (Burst 1: the beacon
// after the refusal is accepted); a forbidden origin is still 403.
func TestRefuseMemoryLimit(t *testing.T) {
	refusing := true
	h, rec, _ := newTestHandler(t, func(c *Config) { c.Burst = 1; c.Refuse = func() bool { return refusing } })

	r := post("")
	r.Body = io.NopCloser(errReader{t})
	w := serve(h, r)
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "1" || w.Header().Get("Access-Control-Allow-Origin") != pageOrigin {
		t.Fatalf("refused beacon = %d, Retry-After %q, Access-Control-Allow-Origin %q", w.Code, w.Header().Get("Retry-After"), w.Header().Get("Access-Control-Allow-Origin"))
	}
	if e := errorOf(t, w); e.Error != "rum: the collector is over its memory limit; retry after 1s" {
		t.Errorf("error = %q", e.Error)
	}
	if w := serve(h, post(testBeacon, "Origin", "https://evil.example")); w.Code != http.StatusForbidden {
		t.Errorf("forbidden origin while refusing = %d, want 403", w.Code)
	}
	refusing = false
	if w := serve(h, post(testBeacon)); w.Code != http.StatusNoContent {
		t.Fatalf("after the refusal = %d %s", w.Code, w.Body)
	}
	want := []string{ResultMemoryLimit, ResultForbiddenOrigin, ResultAccepted}
	if got := rec.Results(); !slices.Equal(got, want) {
		t.Errorf("results = %v, want %v", got, want)
	}
	if n := len(rec.Consumed()); n != 1 {
		t.Errorf("%d beacons consumed, want 1", n)
	}
}
