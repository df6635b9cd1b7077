package rum

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/hopscope/hopscope/correlate"
)

func TestScript(t *testing.T) {
	h, rec, _ := newTestHandler(t, nil)
	w := serve(h, getReq(ScriptPath))
	if w.Code != http.StatusOK {
		t.Fatalf("GET %s = %d", ScriptPath, w.Code)
	}
	for k, want := range map[string]string{
		"Content-Type":                 "text/javascript; charset=utf-8",
		"Cache-Control":                "public, max-age=3600",
		"X-Content-Type-Options":       "nosniff",
		"Cross-Origin-Resource-Policy": "cross-origin",
	} {
		if got := w.Header().Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if !bytes.Equal(w.Body.Bytes(), Script()) || len(Script()) == 0 {
		t.Errorf("body is not the embedded script")
	}
	etag := w.Header().Get("ETag")
	if len(etag) < 4 || etag[0] != '"' {
		t.Fatalf("ETag = %q", etag)
	}
	for _, s := range []string{"sendBeacon", "keepalive: true", "data-endpoint", "'/v1/rum'", "type: 'text/plain'",
		"getEntriesByType('navigation')", "setTimeout(sendNav, 0)", "serverTiming", "currentScript", "v: 2",
		"PerformanceObserver", "type: 'resource', buffered: true", "'pagehide'", "'visibilitychange'", "MAX_RESOURCES = 200"} {
		if !bytes.Contains(Script(), []byte(s)) {
			t.Errorf("script lacks %q", s)
		}
	}

	r := getReq(ScriptPath)
	r.Header.Set("If-None-Match", etag)
	if w := serve(h, r); w.Code != http.StatusNotModified {
		t.Errorf("GET with If-None-Match = %d, want 304", w.Code)
	}
	r = getReq(ScriptPath)
	r.Method = http.MethodHead
	if w := serve(h, r); w.Code != http.StatusOK || w.Body.Len() != 0 {
		t.Errorf("HEAD = %d with %d bytes", w.Code, w.Body.Len())
	}
	r = getReq(ScriptPath)
	r.Method = http.MethodPost
	if w := serve(h, r); w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("POST %s = %d, Allow %q", ScriptPath, w.Code, w.Header().Get("Allow"))
	}
	if len(rec.Results()) != 0 {
		t.Errorf("script requests counted as beacons: %v", rec.Results())
	}
}

func getReq(path string) *http.Request {
	r, _ := http.NewRequest(http.MethodGet, "http://rum.example"+path, nil)
	r.RemoteAddr = "198.51.100.7:40000"
	return r
}

func TestNotFoundAndMethods(t *testing.T) {
	h, rec, _ := newTestHandler(t, nil)
	if w := serve(h, getReq("/v1/rum/x")); w.Code != http.StatusNotFound {
		t.Errorf("GET /v1/rum/x = %d, want 404", w.Code)
	}
	if w := serve(h, getReq("/api/v1/breakdowns")); w.Code != http.StatusNotFound {
		t.Errorf("the internal API must not be here: %d", w.Code)
	}
	w := serve(h, getReq(BeaconPath))
	if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "POST, OPTIONS" {
		t.Errorf("GET %s = %d, Allow %q", BeaconPath, w.Code, w.Header().Get("Allow"))
	}
	if e := errorOf(t, w); e.Error != "rum: GET /v1/rum: want POST" {
		t.Errorf("error = %q", e.Error)
	}
	if len(rec.Results()) != 0 {
		t.Errorf("counted: %v", rec.Results())
	}
}

// TestRefusals covers every refusal of a beacon POST.
func TestRefusals(t *testing.T) {
	big := strings.Repeat(" ", DefaultMaxBodyBytes) + testBeacon
	tests := []struct {
		name    string
		req     *http.Request
		status  int
		result  string
		msg     string
		field   string
		noACAO  bool // refused before the origin was accepted
		headers map[string]string
	}{
		{
			name: "forbidden origin", req: post(testBeacon, "Origin", "https://evil.example"),
			status: 403, result: ResultForbiddenOrigin, noACAO: true,
			msg: `rum: origin "https://evil.example" may not send beacons: it is not in the collector's allowed origins`,
		},
		{
			name: "opaque origin not listed", req: post(testBeacon, "Origin", "null"),
			status: 403, result: ResultForbiddenOrigin, noACAO: true,
			msg: `rum: origin "null" may not send beacons: it is not in the collector's allowed origins`,
		},
		{
			name: "origin differs only in port", req: post(testBeacon, "Origin", pageOrigin+":8443"),
			status: 403, result: ResultForbiddenOrigin, noACAO: true,
			msg: `rum: origin "https://shop.example:8443" may not send beacons: it is not in the collector's allowed origins`,
		},
		{
			name: "form content type", req: post(testBeacon, "Content-Type", "application/x-www-form-urlencoded"),
			status: 415, result: ResultBadContentType,
			msg: `rum: Content-Type "application/x-www-form-urlencoded": want text/plain or application/json`,
		},
		{
			name: "no content type", req: post(testBeacon, "Content-Type", ""),
			status: 415, result: ResultBadContentType, msg: "rum: no Content-Type: want text/plain or application/json",
		},
		{
			name: "latin-1", req: post(testBeacon, "Content-Type", "text/plain; charset=iso-8859-1"),
			status: 415, result: ResultBadContentType, msg: `rum: Content-Type "text/plain; charset=iso-8859-1": want charset utf-8`,
		},
		{
			name: "malformed content type", req: post(testBeacon, "Content-Type", "text/plain; charset"),
			status: 415, result: ResultBadContentType,
			msg: `rum: Content-Type "text/plain; charset": mime: invalid media parameter: want text/plain or application/json`,
		},
		{
			name: "too large by Content-Length", req: post(big),
			status: 413, result: ResultTooLarge, msg: "rum: body larger than 65536 bytes",
		},
		{
			name: "too large, length unknown", req: func() *http.Request {
				r := post("")
				r.Body = io.NopCloser(strings.NewReader(big))
				r.ContentLength = -1
				return r
			}(),
			status: 413, result: ResultTooLarge, msg: "rum: body larger than 65536 bytes",
		},
		{
			name: "body read fails", req: func() *http.Request {
				r := post("")
				r.Body = io.NopCloser(iotest.ErrReader(io.ErrUnexpectedEOF))
				r.ContentLength = -1
				return r
			}(),
			status: 400, result: ResultInvalid, msg: "rum: reading the body: unexpected EOF",
		},
		{
			name: "invalid beacon", req: post(strings.Replace(testBeacon, `"responseEnd":176.5`, `"responseEnd":170`, 1)),
			status: 400, result: ResultInvalid, field: "nav.responseEnd",
			msg: "beacon: nav.responseEnd: before responseStart (170 < 171.90000000002328)",
		},
		{
			name: "no traceparent", req: post(strings.Replace(testBeacon, `"name":"traceparent"`, `"name":"tp"`, 1)),
			status: 400, result: ResultInvalid,
			msg: "beacon: no traceparent: the page's response carried no Server-Timing traceparent (is Timing-Allow-Origin set?)",
		},
		{
			name: "not JSON", req: post("hello"),
			status: 400, result: ResultInvalid,
			msg: "beacon: not valid JSON at byte 1: invalid character 'h' looking for beginning of value",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, rec, _ := newTestHandler(t, nil)
			w := serve(h, tt.req)
			if w.Code != tt.status {
				t.Fatalf("status = %d, want %d; body %s", w.Code, tt.status, w.Body)
			}
			e := errorOf(t, w)
			if e.Error != tt.msg || e.Field != tt.field {
				t.Errorf("error = %q field %q\n want %q field %q", e.Error, e.Field, tt.msg, tt.field)
			}
			if got := rec.Results(); !slices.Equal(got, []string{tt.result}) {
				t.Errorf("results = %v, want [%s]", got, tt.result)
			}
			if len(rec.Consumed()) != 0 {
				t.Errorf("consumed a refused beacon")
			}
			acao := w.Header().Get("Access-Control-Allow-Origin")
			if tt.noACAO && acao != "" || !tt.noACAO && acao != pageOrigin {
				t.Errorf("Access-Control-Allow-Origin = %q", acao)
			}
			if w.Header().Get("Vary") != "Origin" {
				t.Errorf("Vary = %q, want Origin", w.Header().Get("Vary"))
			}
		})
	}
}

func TestRateLimited(t *testing.T) {
	h, rec, clk := newTestHandler(t, func(c *Config) { c.RatePerSecond = 0.5; c.Burst = 2 })
	for i := range 2 {
		if w := serve(h, post(testBeacon)); w.Code != http.StatusNoContent {
			t.Fatalf("beacon %d = %d %s", i, w.Code, w.Body)
		}
	}
	w := serve(h, post(testBeacon))
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "2" {
		t.Fatalf("third beacon = %d, Retry-After %q", w.Code, w.Header().Get("Retry-After"))
	}
	if e := errorOf(t, w); e.Error != "rum: too many beacons from this client; retry after 2s" {
		t.Errorf("error = %q", e.Error)
	}
	// Another client is not affected.
	if w := serve(h, post(testBeacon, "X-Forwarded-For", "203.0.113.9")); w.Code != http.StatusTooManyRequests {
		t.Errorf("X-Forwarded-For is not trusted by default, yet it escaped the limit: %d", w.Code)
	}
	r := post(testBeacon)
	r.RemoteAddr = "198.51.100.8:40000"
	if w := serve(h, r); w.Code != http.StatusNoContent {
		t.Errorf("another client = %d", w.Code)
	}
	clk.Advance(1500 * time.Millisecond) // 0.75 token
	if w := serve(h, post(testBeacon)); w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "1" {
		t.Errorf("after 1.5s = %d, Retry-After %q, want 429 after 1", w.Code, w.Header().Get("Retry-After"))
	}
	clk.Advance(500 * time.Millisecond)
	if w := serve(h, post(testBeacon)); w.Code != http.StatusNoContent {
		t.Errorf("after 2s = %d, want 204", w.Code)
	}
	want := []string{ResultAccepted, ResultAccepted, ResultRateLimited, ResultRateLimited, ResultAccepted,
		ResultRateLimited, ResultAccepted}
	if got := rec.Results(); !slices.Equal(got, want) {
		t.Errorf("results = %v\nwant %v", got, want)
	}
}

func TestClientAddr(t *testing.T) {
	tests := []struct {
		trust  bool
		hops   int
		remote string
		xff    []string
		want   string
	}{
		{false, 1, "198.51.100.7:40000", []string{"203.0.113.9"}, "198.51.100.7"},
		// The right-most address is the one the trusted proxy added.
		{true, 1, "10.0.0.5:40000", []string{"203.0.113.9"}, "203.0.113.9"},
		{true, 1, "10.0.0.5:40000", []string{"1.2.3.4, 203.0.113.9"}, "203.0.113.9"},
		{true, 1, "10.0.0.5:40000", []string{" 1.2.3.4:5555 ,10.0.0.1", "192.0.2.1"}, "192.0.2.1"},
		{true, 1, "10.0.0.5:40000", []string{"[2001:db8::1]:443"}, "2001:db8::1"},
		{true, 1, "10.0.0.5:40000", []string{"1.2.3.4, [2001:db8::1]"}, "2001:db8::1"},
		{true, 1, "10.0.0.5:40000", []string{"unknown, 203.0.113.9"}, "203.0.113.9"},
		{true, 1, "10.0.0.5:40000", []string{"203.0.113.9, unknown"}, "10.0.0.5"},
		{true, 1, "10.0.0.5:40000", []string{"203.0.113.9,"}, "203.0.113.9"},
		// A CDN then an ingress: the CDN's entry is the client's.
		{true, 2, "10.0.0.5:40000", []string{"1.2.3.4, 203.0.113.9, 198.51.100.1"}, "203.0.113.9"},
		{true, 2, "10.0.0.5:40000", []string{"1.2.3.4, 203.0.113.9", "198.51.100.1"}, "203.0.113.9"},
		{true, 2, "10.0.0.5:40000", []string{"203.0.113.9"}, "203.0.113.9"},
		{true, 1, "10.0.0.5:40000", nil, "10.0.0.5"},
		{true, 1, "10.0.0.5:40000", []string{" , "}, "10.0.0.5"},
		{false, 1, "[2001:db8::7]:40000", nil, "2001:db8::7"},
		{false, 1, "@", nil, "invalid IP"},
	}
	for _, tt := range tests {
		h, _, _ := newTestHandler(t, func(c *Config) { c.TrustForwardedFor, c.TrustedHops = tt.trust, tt.hops })
		r := post(testBeacon)
		r.RemoteAddr = tt.remote
		for _, v := range tt.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := h.clientAddr(r).String(); got != tt.want {
			t.Errorf("trust=%v hops=%d remote %q XFF %q: %s, want %s", tt.trust, tt.hops, tt.remote, tt.xff, got, tt.want)
		}
	}
}

// TestForwardedForRotationLimited replays issue 19 item 8: behind an
// ingress, one client rotating the first X-Forwarded-For address got
// 104,770 beacons accepted in 5 s (each rotation a fresh bucket). The
// address the ingress appended is the one limited now, and a global cap
// holds when the right-most addresses themselves vary.
func TestForwardedForRotationLimited(t *testing.T) {
	h, rec, _ := newTestHandler(t, func(c *Config) { c.TrustForwardedFor = true })
	accepted := 0
	for i := range 5000 {
		r := post(testBeacon, "X-Forwarded-For", fmt.Sprintf("10.%d.%d.%d, 203.0.113.9", i>>16&255, i>>8&255, i&255))
		r.RemoteAddr = "10.0.0.5:40000" // the ingress
		if serve(h, r).Code == http.StatusNoContent {
			accepted++
		}
	}
	if accepted != DefaultBurst {
		t.Errorf("rotating the first hop: %d of 5000 beacons accepted, want the burst, %d", accepted, DefaultBurst)
	}
	if got := len(rec.Consumed()); got != accepted {
		t.Errorf("%d consumed", got)
	}

	// Distinct right-most addresses (many clients, or a proxy that
	// forwards a forged header as is): the global cap.
	h, rec, clk := newTestHandler(t, func(c *Config) { c.TrustForwardedFor = true; c.GlobalRatePerSecond = 100 })
	accepted = 0
	for i := range 5000 {
		r := post(testBeacon, "X-Forwarded-For", fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255))
		if serve(h, r).Code == http.StatusNoContent {
			accepted++
		}
		if i%1000 == 999 {
			clk.Advance(time.Second)
		}
	}
	if accepted != 500 {
		t.Errorf("5000 addresses over 5 s under a global 100/s: %d accepted, want 500", accepted)
	}
	if n := slices.Index(rec.Results(), ResultGlobalRateLimited); n != 100 {
		t.Errorf("first %s at beacon %d, want 100", ResultGlobalRateLimited, n)
	}
}

func TestClientKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.1":                        "192.0.2.1",
		"::ffff:192.0.2.1":                 "192.0.2.1",
		"2001:db8:1:2:aaaa:bbbb:cccc:dddd": "2001:db8:1:2::",
		"2001:db8:1:2::1":                  "2001:db8:1:2::",
		"fe80::1%eth0":                     "fe80::",
	} {
		a, ok := parseAddr(in)
		if !ok {
			t.Fatalf("parseAddr(%q) failed", in)
		}
		if got := clientKey(a).String(); got != want {
			t.Errorf("clientKey(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestLimiter(t *testing.T) {
	clk := newFakeClock()
	l := newLimiter(2, 3, 10, clk.Now)
	a := netipMust("192.0.2.1")
	for i := range 3 {
		if ok, _ := l.allow(a); !ok {
			t.Fatalf("burst token %d refused", i)
		}
	}
	ok, wait := l.allow(a)
	if ok || wait != 500*time.Millisecond {
		t.Fatalf("empty bucket: ok=%v wait=%v, want false 500ms", ok, wait)
	}
	clk.Advance(250 * time.Millisecond)
	if ok, wait := l.allow(a); ok || wait != 250*time.Millisecond {
		t.Fatalf("half a token: ok=%v wait=%v", ok, wait)
	}
	clk.Advance(250 * time.Millisecond)
	if ok, _ := l.allow(a); !ok {
		t.Fatal("refilled token refused")
	}
	// A long pause refills to the burst, not beyond.
	clk.Advance(time.Hour)
	for i := range 3 {
		if ok, _ := l.allow(a); !ok {
			t.Fatalf("after an hour, token %d refused", i)
		}
	}
	if ok, _ := l.allow(a); ok {
		t.Fatal("bucket held more than the burst")
	}
	// A clock that goes back neither refills nor breaks the bucket.
	clk.Advance(-time.Minute)
	if ok, wait := l.allow(a); ok || wait <= 0 || wait > 500*time.Millisecond {
		t.Fatalf("clock went back: ok=%v wait=%v", ok, wait)
	}
}

// TestLimiterBound floods the limiter with addresses: the map stays within
// MaxClients, the least recently seen go first, and the survivors keep
// their state.
func TestLimiterBound(t *testing.T) {
	clk := newFakeClock()
	l := newLimiter(1, 1, 100, clk.Now)
	hot := netipMust("192.0.2.1")
	if ok, _ := l.allow(hot); !ok {
		t.Fatal("first token refused")
	}
	for i := range 100_000 {
		a := netipMust("10." + strconv.Itoa(i>>16&255) + "." + strconv.Itoa(i>>8&255) + "." + strconv.Itoa(i&255))
		l.allow(a)
		if i%50 == 0 {
			if ok, _ := l.allow(hot); ok { // seen often: still tracked, still empty
				t.Fatalf("at %d the hot client was forgotten and refilled", i)
			}
		}
		if n := l.len(); n > 100 {
			t.Fatalf("%d buckets, bound 100", n)
		}
	}
	if n, m := l.len(), l.lru.Len(); n != 100 || m != 100 {
		t.Fatalf("%d buckets, %d in the list, want 100", n, m)
	}
	// The oldest of the flood is gone: it comes back with a full bucket.
	if ok, _ := l.allow(netipMust("10.0.0.0")); !ok {
		t.Error("an evicted client did not start afresh")
	}
}

func TestHandlerBucketBound(t *testing.T) {
	h, _, _ := newTestHandler(t, func(c *Config) { c.MaxClients = 8; c.TrustForwardedFor = true })
	for i := range 1000 {
		r := post(testBeacon, "X-Forwarded-For", "2001:db8:"+strconv.FormatInt(int64(i), 16)+"::1")
		if w := serve(h, r); w.Code != http.StatusNoContent {
			t.Fatalf("beacon %d = %d %s", i, w.Code, w.Body)
		}
	}
	if n := h.limiter.len(); n != 8 {
		t.Fatalf("%d buckets after 1000 clients, want the bound 8", n)
	}
}

func netipMust(s string) netip.Addr {
	a, ok := parseAddr(s)
	if !ok {
		panic(s)
	}
	return a
}

func TestPreflight(t *testing.T) {
	h, rec, _ := newTestHandler(t, nil)
	r := post("", "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "content-type",
		"Access-Control-Request-Private-Network", "true")
	r.Method = http.MethodOptions
	w := serve(h, r)
	if w.Code != http.StatusNoContent {
		t.Fatalf("preflight = %d", w.Code)
	}
	for k, want := range map[string]string{
		"Access-Control-Allow-Origin":          pageOrigin,
		"Access-Control-Allow-Methods":         "POST",
		"Access-Control-Allow-Headers":         "Content-Type",
		"Access-Control-Max-Age":               "86400",
		"Access-Control-Allow-Private-Network": "true",
	} {
		if got := w.Header().Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if v := w.Header().Values("Vary"); !slices.Contains(v, "Origin") {
		t.Errorf("Vary = %q", v)
	}

	r = post("", "Origin", "https://evil.example", "Access-Control-Request-Method", "POST")
	r.Method = http.MethodOptions
	w = serve(h, r)
	if w.Code != http.StatusForbidden || w.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("preflight from a forbidden origin = %d, ACAO %q", w.Code, w.Header().Get("Access-Control-Allow-Origin"))
	}
	if e := errorOf(t, w); !strings.Contains(e.Error, `origin "https://evil.example" may not send beacons`) {
		t.Errorf("error = %q", e.Error)
	}

	r = post("", "Origin", "")
	r.Method = http.MethodOptions
	w = serve(h, r)
	if w.Code != http.StatusNoContent || w.Header().Get("Allow") != "POST, OPTIONS" || w.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("OPTIONS without Origin = %d, Allow %q", w.Code, w.Header().Get("Allow"))
	}
	if got := rec.Results(); !slices.Equal(got, []string{ResultForbiddenOrigin}) {
		t.Errorf("results = %v", got)
	}
}

func TestOrigins(t *testing.T) {
	h, _, _ := newTestHandler(t, func(c *Config) { c.AllowedOrigins = []string{"*"} })
	w := serve(h, post(testBeacon, "Origin", "https://anyone.example"))
	if w.Code != http.StatusNoContent || w.Header().Get("Access-Control-Allow-Origin") != "https://anyone.example" {
		t.Errorf(`"*": %d, ACAO %q`, w.Code, w.Header().Get("Access-Control-Allow-Origin"))
	}
	h, _, _ = newTestHandler(t, func(c *Config) { c.AllowedOrigins = []string{"http://localhost:3000", "null"} })
	for _, o := range []string{"http://localhost:3000", "null"} {
		if w := serve(h, post(testBeacon, "Origin", o)); w.Code != http.StatusNoContent {
			t.Errorf("%q: %d", o, w.Code)
		}
	}
	// No Origin header: not a browser; accepted, no CORS headers.
	w = serve(h, post(testBeacon, "Origin", ""))
	if w.Code != http.StatusNoContent || w.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("no Origin: %d, ACAO %q", w.Code, w.Header().Get("Access-Control-Allow-Origin"))
	}
}

// TestRoundTrip posts the body rum.js sent from Chromium 156 (recorded by
// TestChromium with HOPSCOPE_RECORD_BEACON=1) to a real loopback server
// and checks what Consume got.
func TestRoundTrip(t *testing.T) {
	body := readTestdata(t, "beacon-from-rumjs-chromium.json")
	rec := &recorder{}
	cfg := DefaultConfig()
	cfg.AllowedOrigins = []string{"http://127.0.0.1:38999"} // the page's origin when it was recorded
	cfg.Consume = beacons(rec.consume)
	cfg.OnResult = rec.onResult
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, h)
	client := newClient(t)

	for _, ct := range []string{"text/plain", "text/plain;charset=UTF-8", "application/json"} {
		req, err := http.NewRequest(http.MethodPost, srv+BeaconPath, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", ct)
		req.Header.Set("Origin", "http://127.0.0.1:38999")
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusNoContent || len(b) != 0 {
			t.Fatalf("%s: status %d, body %q", ct, res.StatusCode, b)
		}
		if got := res.Header.Get("Access-Control-Allow-Origin"); got != "http://127.0.0.1:38999" {
			t.Errorf("ACAO = %q", got)
		}
	}
	got := rec.Consumed()
	if len(got) != 3 {
		t.Fatalf("consumed %d beacons, want 3", len(got))
	}
	want := correlate.BrowserTiming{
		Keys:          correlate.Keys{TraceID: chromiumTraceID},
		Page:          "http://127.0.0.1:38999/orders/42",
		Initiator:     correlate.InitiatorNavigation,
		Start:         time.UnixMicro(1795660517257200 + 2500),
		Total:         53400 * time.Microsecond,
		ServerTime:    40700 * time.Microsecond,
		Download:      2400 * time.Microsecond,
		RequestStart:  10300 * time.Microsecond,
		ResponseStart: 51000 * time.Microsecond,
	}
	bt := got[0]
	if !bt.Start.Equal(want.Start) {
		t.Errorf("Start = %v, want %v", bt.Start, want.Start)
	}
	bt.Start, want.Start = time.Time{}, time.Time{}
	if bt != want {
		t.Errorf("consumed\n%+v\nwant\n%+v", bt, want)
	}
	if r := rec.Results(); !slices.Equal(r, []string{ResultAccepted, ResultAccepted, ResultAccepted}) {
		t.Errorf("results = %v", r)
	}
}

// newClient returns a client of its own. Call it after startServer: its
// cleanup, which closes the idle connections, then runs before the
// server's Shutdown, which would otherwise wait for connections the
// client dialed but never used.
func newClient(t testing.TB) *http.Client {
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// startServer serves h on a free loopback port until the test ends and
// returns its base URL.
func startServer(t testing.TB, h http.Handler) string {
	t.Helper()
	return serveOn(t, listenLoopback(t), h)
}

// listenLoopback listens on a free loopback port.
func listenLoopback(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// serveOn serves h on ln until the test ends and returns its base URL.
func serveOn(t testing.TB, ln net.Listener, h http.Handler) string {
	t.Helper()
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
			_ = srv.Close()
		}
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("server did not stop")
		}
	})
	return "http://" + ln.Addr().String()
}

func TestConcurrent(t *testing.T) {
	h, rec, _ := newTestHandler(t, func(c *Config) { c.MaxClients = 16; c.TrustForwardedFor = true })
	srv := startServer(t, h)
	client := newClient(t)
	const n = 200
	errs := make(chan error, n)
	for i := range n {
		go func() {
			req, _ := http.NewRequest(http.MethodPost, srv+BeaconPath, strings.NewReader(testBeacon))
			req.Header.Set("Content-Type", "text/plain")
			req.Header.Set("Origin", pageOrigin)
			req.Header.Set("X-Forwarded-For", "192.0.2."+strconv.Itoa(i%64))
			res, err := client.Do(req)
			if err == nil {
				res.Body.Close()
				if res.StatusCode != http.StatusNoContent {
					err = &statusError{res.StatusCode}
				}
			}
			errs <- err
		}()
	}
	timeout := time.After(20 * time.Second)
	for range n {
		select {
		case err := <-errs:
			if err != nil {
				t.Error(err)
			}
		case <-timeout:
			t.Fatal("requests did not finish")
		}
	}
	if got := len(rec.Consumed()); got != n {
		t.Errorf("consumed %d, want %d", got, n)
	}
	if h.limiter.len() > 16 {
		t.Errorf("%d buckets, bound 16", h.limiter.len())
	}
}

type statusError struct{ code int }

func (e *statusError) Error() string { return "status " + strconv.Itoa(e.code) }
