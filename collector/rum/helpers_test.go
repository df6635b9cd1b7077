package rum

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hopscope/hopscope/collector/consumer"
	"github.com/hopscope/hopscope/correlate"
)

const (
	pageOrigin = "https://shop.example"
	traceID    = "0af7651916cd43dd8448eb211c80319c"
)

// testBeacon is a beacon as rum.js builds it (see testdata).
const testBeacon = `{"v":1,"page":"https://shop.example/orders/42","time_origin":1764142209123.4,` +
	`"nav":{"fetchStart":2.199999999953434,"domainLookupStart":5.5,"domainLookupEnd":27.300000000046566,` +
	`"connectStart":27.300000000046566,"secureConnectionStart":44.09999999997672,"connectEnd":68.40000000002328,` +
	`"requestStart":68.59999999997672,"responseStart":171.90000000002328,"responseEnd":176.5,` +
	`"type":"navigate","transferSize":7634},` +
	`"server_timing":[{"name":"traceparent","duration":0,"description":"00-` + traceID + `-b7ad6b7169203331-01"},` +
	`{"name":"app","duration":84.512,"description":""}]}`

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2025, 11, 26, 7, 30, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// recorder collects what the Handler hands out.
type recorder struct {
	mu       sync.Mutex
	consumed []correlate.BrowserTiming
	results  []string
	ch       chan correlate.BrowserTiming
}

// beacons adapts a function of beacons to the Consumer a Config takes.
func beacons(f func(correlate.BrowserTiming)) consumer.Consumer {
	return consumer.Func(func(_ context.Context, in consumer.Input) error {
		f(*in.Record.(*correlate.BrowserTiming))
		return nil
	})
}

func (r *recorder) consume(bt correlate.BrowserTiming) {
	r.mu.Lock()
	r.consumed = append(r.consumed, bt)
	r.mu.Unlock()
	if r.ch != nil {
		select {
		case r.ch <- bt:
		default:
		}
	}
}

func (r *recorder) onResult(s string) {
	r.mu.Lock()
	r.results = append(r.results, s)
	r.mu.Unlock()
}

func (r *recorder) Results() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.results...)
}

func (r *recorder) Consumed() []correlate.BrowserTiming {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]correlate.BrowserTiming(nil), r.consumed...)
}

// newTestHandler returns a Handler allowing pageOrigin, with a fake clock,
// after edit changed its config.
func newTestHandler(t testing.TB, edit func(*Config)) (*Handler, *recorder, *fakeClock) {
	t.Helper()
	rec := &recorder{}
	clk := newFakeClock()
	cfg := DefaultConfig()
	cfg.AllowedOrigins = []string{pageOrigin}
	cfg.Now = clk.Now
	cfg.Consume = beacons(rec.consume)
	cfg.OnResult = rec.onResult
	if edit != nil {
		edit(&cfg)
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h, rec, clk
}

// post builds a beacon request from pageOrigin.
func post(body string, kv ...string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, BeaconPath, strings.NewReader(body))
	r.RemoteAddr = "198.51.100.7:40000"
	r.Header.Set("Content-Type", "text/plain")
	r.Header.Set("Origin", pageOrigin)
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == "" {
			r.Header.Del(kv[i])
		} else {
			r.Header.Set(kv[i], kv[i+1])
		}
	}
	return r
}

func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// errorOf decodes a refusal's JSON body.
func errorOf(t testing.TB, w *httptest.ResponseRecorder) errorBody {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("error Content-Type = %q, want application/json", ct)
	}
	var e errorBody
	if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil {
		t.Fatalf("error body %q: %v", w.Body.String(), err)
	}
	return e
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// chromiumTraceID is the trace id of the page TestChromium serves.
const chromiumTraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
