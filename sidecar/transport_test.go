package sidecar

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hopscope/hopscope/internal/testkit"
)

// TestFastPathWireCases drives the HTTP/1.1 fast path with the request and
// response shapes a real app produces.
func TestFastPathWireCases(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	up, conns := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/echo":
			b, _ := io.ReadAll(r.Body)
			sum := sha256.Sum256(b)
			fmt.Fprintf(w, "%d %x %s", len(b), sum[:4], strings.Join(r.TransferEncoding, ","))
		case "/big":
			w.Header().Set("Content-Length", fmt.Sprint(len(big)))
			w.Write(big)
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		case "/untyped":
			w.Header()["Content-Type"] = nil
			io.WriteString(w, "<html>no type</html>")
		case "/close":
			w.Header().Set("Connection", "close")
			io.WriteString(w, "bye")
		case "/head":
			w.Header().Set("Content-Length", "1234")
		case "/continue":
			b, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, "got %d", len(b))
		case "/reqtrailer":
			b, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, "%d %s", len(b), r.Trailer.Get("X-Sum"))
		case "/trailer":
			w.Header().Set("Trailer", "X-Checksum")
			io.WriteString(w, "body")
			w.Header().Set("X-Checksum", "abc")
		}
	}))
	h := startSidecar(t, up, nil)
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}

	do := func(method, path string, body io.Reader, mutate func(*http.Request)) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(method, h.url+path, body)
		if mutate != nil {
			mutate(req)
		}
		res, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		return res, string(b)
	}

	payload := bytes.Repeat([]byte("x"), 300<<10)
	sum := sha256.Sum256(payload)
	want := fmt.Sprintf("%d %x ", len(payload), sum[:4])
	if _, got := do("POST", "/echo", bytes.NewReader(payload), nil); got != want {
		t.Errorf("content-length body: %q, want %q", got, want)
	}
	// Unknown length inbound: forwarded chunked.
	if _, got := do("POST", "/echo", io.MultiReader(bytes.NewReader(payload)), func(r *http.Request) { r.ContentLength = -1 }); got != want+"chunked" {
		t.Errorf("chunked body: %q, want %q", got, want+"chunked")
	}
	if res, got := do("GET", "/big", nil, nil); got != string(big) || res.ContentLength != int64(len(big)) {
		t.Errorf("big body: %d bytes, content-length %d", len(got), res.ContentLength)
	}
	if res, got := do("GET", "/empty", nil, nil); res.StatusCode != 204 || got != "" {
		t.Errorf("204: %d %q", res.StatusCode, got)
	}
	if res, got := do("GET", "/untyped", nil, nil); got != "<html>no type</html>" || res.Header["Content-Type"] != nil {
		t.Errorf("the sidecar invented a Content-Type: %q", res.Header["Content-Type"])
	}
	if res, got := do("HEAD", "/head", nil, nil); res.StatusCode != 200 || got != "" || res.ContentLength != 1234 {
		t.Errorf("HEAD: %d %q %d", res.StatusCode, got, res.ContentLength)
	}
	if _, got := do("POST", "/continue", strings.NewReader("hello"), func(r *http.Request) { r.Header.Set("Expect", "100-continue") }); got != "got 5" {
		t.Errorf("100-continue: %q", got)
	}
	// Request trailers reach the app (ReverseProxy alone drops them).
	if _, got := do("POST", "/reqtrailer", io.MultiReader(strings.NewReader("hello")), func(r *http.Request) {
		r.ContentLength = -1
		r.Trailer = http.Header{"X-Sum": {"5d41402a"}}
	}); got != "5 5d41402a" {
		t.Errorf("request trailer: the app saw %q, want %q", got, "5 5d41402a")
	}
	if res, got := do("GET", "/trailer", nil, nil); got != "body" || res.Trailer.Get("X-Checksum") != "abc" {
		t.Errorf("trailer: %q %v", got, res.Trailer)
	}
	before := conns.count()
	if _, got := do("GET", "/close", nil, nil); got != "bye" {
		t.Errorf("close: %q", got)
	}
	if _, got := do("GET", "/empty", nil, nil); got != "" {
		t.Errorf("after close: %q", got)
	}
	if conns.count() != before+1 {
		t.Errorf("Connection: close from the app not honoured: %d new conns", conns.count()-before)
	}
}

// TestFastPathRetriesStaleConnection: the app closes an idle keep-alive
// connection; the next GET must not fail.
func TestFastPathRetriesStaleConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }),
		IdleTimeout: 50 * time.Millisecond}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	h := startSidecar(t, "http://"+ln.Addr().String(), nil)
	for i := 0; i < 3; i++ {
		res, err := http.Get(h.url + "/")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || string(b) != "ok" {
			t.Fatalf("request %d after the app closed the idle connection: %d %q", i, res.StatusCode, b)
		}
		time.Sleep(150 * time.Millisecond) // longer than the app's idle timeout
	}
}

// bodyDigest is what the test apps answer for a request body: its length
// and SHA-256, so a test checks that every byte arrived in order.
func bodyDigest(b []byte) string {
	sum := sha256.Sum256(b)
	return fmt.Sprintf("%d %x", len(b), sum)
}

// digestHandler answers 200 with the method and the digest of the body.
var digestHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	io.WriteString(w, r.Method+" "+bodyDigest(b))
})

// TestFastPathBodyAfterAppClosedIdleConnection: the app closes idle
// keep-alive connections quickly (Node, gunicorn do); a request with a body
// that cannot be replayed must still reach it after every idle period.
func TestFastPathBodyAfterAppClosedIdleConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns := &connCounter{}
	srv := &http.Server{Handler: digestHandler, IdleTimeout: 50 * time.Millisecond,
		ReadHeaderTimeout: 5 * time.Second, ConnState: conns.track}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	h := startSidecar(t, "http://"+ln.Addr().String(), nil)
	client := &http.Client{Timeout: 10 * time.Second}

	for _, tc := range []struct {
		method  string
		size    int // 64 KiB: written concurrently with reading; 1 KiB: in line
		chunked bool
	}{
		{"POST", 64 << 10, false},
		{"POST", 1 << 10, false},
		{"PUT", 64 << 10, false},
		{"PUT", 1 << 10, false},
		{"PATCH", 1 << 10, false},
		{"DELETE", 1 << 10, false},
		{"POST", 64 << 10, true},
	} {
		payload := bytes.Repeat([]byte("0123456789abcdef"), tc.size/16)
		name := fmt.Sprintf("%s %d KiB", tc.method, tc.size>>10)
		if tc.chunked {
			name += " chunked"
		}
		t.Run(name, func(t *testing.T) {
			for i := 0; i < 3; i++ {
				var body io.Reader = bytes.NewReader(payload)
				if tc.chunked {
					body = io.MultiReader(body) // unknown length
				}
				req, _ := http.NewRequest(tc.method, h.url+"/upload", body)
				if tc.chunked {
					req.ContentLength = -1
				}
				res, err := client.Do(req)
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				got, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if want := tc.method + " " + bodyDigest(payload); res.StatusCode != 200 || string(got) != want {
					t.Fatalf("request %d after the app closed the idle connection: %d %q, want 200 %q", i, res.StatusCode, got, want)
				}
				time.Sleep(150 * time.Millisecond) // longer than the app's idle timeout
			}
		})
	}
	if n := conns.count(); n < 14 {
		t.Errorf("the app saw %d connections: its idle timeout did not close them, the test proves nothing", n)
	}
}

// TestHeaderTimeoutIsNotRetried: --upstream-timeout on a reused connection
// is a 504, not a stale connection to replay the request on.
func TestHeaderTimeoutIsNotRetried(t *testing.T) {
	var mu sync.Mutex
	slow := 0
	up, _ := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			mu.Lock()
			slow++
			mu.Unlock()
			select {
			case <-time.After(3 * time.Second):
			case <-r.Context().Done():
			}
		}
		io.WriteString(w, "ok")
	}))
	h := startSidecar(t, up, func(c *Config) { c.UpstreamTimeout = 200 * time.Millisecond })
	client := &http.Client{Timeout: 10 * time.Second}
	for _, path := range []string{"/fast", "/slow"} {
		res, err := client.Get(h.url + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if want := map[string]int{"/fast": 200, "/slow": 504}[path]; res.StatusCode != want {
			t.Fatalf("%s: %d, want %d", path, res.StatusCode, want)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if slow != 1 {
		t.Fatalf("the app got the timed-out GET %d times", slow)
	}
}

// TestDialFailureHasNoAppTime: when the app could not be reached the app
// spent no time: no app;dur in Server-Timing, app_ms 0 in the access log,
// hopscope.app_duration_ms 0 and no hopscope.app_start_ms on the span.
func TestDialFailureHasNoAppTime(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		hdr    http.Header
	}{
		{name: "fast path"},
		{name: "stock transport (upgrade)", hdr: http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}}},
		{name: "h2c", mutate: func(c *Config) { c.UpstreamProtocol = "h2c" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sink := newOTLPSink(t)
			h := startSidecar(t, "http://"+deadAddr(t), func(c *Config) {
				c.OTLPEndpoint = sink.url
				if tc.mutate != nil {
					tc.mutate(c)
				}
			})
			req, _ := http.NewRequest("GET", h.url+"/x", nil)
			for k, v := range tc.hdr {
				req.Header[k] = v
			}
			res, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			st := res.Header.Get("Server-Timing")
			if res.StatusCode != 502 || strings.Contains(st, "app;dur") || !strings.Contains(st, "sidecar;dur=") {
				t.Errorf("%d Server-Timing %q: want 502 without app;dur", res.StatusCode, st)
			}
			h.shutdown()
			lines := h.logs.Lines()
			if len(lines) != 1 {
				t.Fatalf("%d access lines", len(lines))
			}
			var rec map[string]any
			if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
				t.Fatal(err)
			}
			if v, ok := rec["app_ms"]; ok && v != float64(0) {
				t.Errorf("access log app_ms = %v, want 0", v)
			}
			testkit.Eventually(t, "the span", 10*time.Second, func() bool { return len(sink.Spans()) == 1 })
			a := attrs(sink.Spans()[0])
			if v, ok := a[AttrAppDuration]; ok && v != "0" {
				t.Errorf("%s = %s, want 0", AttrAppDuration, v)
			}
			if v, ok := a[AttrAppStart]; ok {
				t.Errorf("%s = %s for an app never reached", AttrAppStart, v)
			}
		})
	}
}
