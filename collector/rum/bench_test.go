package rum

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hopscope/hopscope/correlate"
)

// BenchmarkServeBeacon is one accepted beacon through the Handler, without
// the network.
func BenchmarkServeBeacon(b *testing.B) {
	h, _, _ := newTestHandler(b, func(c *Config) {
		c.Consume = beacons(func(correlate.BrowserTiming) {})
		c.OnResult = nil
		c.RatePerSecond, c.Burst = 1e9, 1<<30
	})
	body := strings.NewReader(testBeacon)
	r := post("")
	w := httptest.NewRecorder()
	b.SetBytes(int64(len(testBeacon)))
	b.ReportAllocs()
	for b.Loop() {
		body.Reset(testBeacon)
		r.Body, r.ContentLength = readCloser{body}, int64(len(testBeacon))
		w.Body.Reset()
		clear(w.Header())
		h.ServeHTTP(w, r)
		if w.Code != http.StatusNoContent {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}

type readCloser struct{ *strings.Reader }

func (readCloser) Close() error { return nil }
