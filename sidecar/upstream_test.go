package sidecar

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
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

func TestSanitizeHeaderValue(t *testing.T) {
	if got := sanitizeHeaderValue("a\r\nX-Evil: 1"); got != "a  X-Evil: 1" {
		t.Fatalf("%q", got)
	}
	if got := sanitizeHeaderValue("plain"); got != "plain" {
		t.Fatalf("%q", got)
	}
}

// TestReadDeadlineKeepsCancellation: setting the header timeout after the
// client went away must not undo the past deadline that unblocks the read
// (that race hung a request until the app answered).
func TestReadDeadlineKeepsCancellation(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	a.SetDeadline(aLongTimeAgo) // what the AfterFunc did
	setReadDeadline(ctx, a, time.Now().Add(time.Hour))
	done := make(chan error, 1)
	go func() { _, err := a.Read(make([]byte, 1)); done <- err }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("read succeeded")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("read blocked: the cancellation deadline was overwritten")
	}
}
