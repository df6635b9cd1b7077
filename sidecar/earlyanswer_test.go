package sidecar

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hopscope/hopscope/internal/testkit"
)

// rawApp serves each connection with serve, bounded in time; done is
// closed and the connections with it when the test ends.
func rawApp(t *testing.T, serve func(c net.Conn, br *bufio.Reader, done <-chan struct{})) string {
	t.Helper()
	done := make(chan struct{})
	addr := testkit.Serve(t, func(c net.Conn) {
		defer c.Close()
		c.SetDeadline(time.Now().Add(20 * time.Second))
		serve(c, bufio.NewReader(c), done)
	})
	t.Cleanup(func() { close(done) }) // runs first: handlers waiting on done return
	return addr
}

// rawExchange sends a request as curl does: the body is written while the
// response is read, so an early answer is seen even when the server stops
// reading the body; with Expect: 100-continue the body waits for a 100
// Continue. It returns the final response, its body and whether a 100 came.
func rawExchange(t *testing.T, addr, method string, hdr map[string]string, body []byte) (*http.Response, string, bool) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(15 * time.Second))
	var head strings.Builder
	fmt.Fprintf(&head, "%s /upload HTTP/1.1\r\nHost: app.test\r\nContent-Length: %d\r\n", method, len(body))
	expect := false
	for k, v := range hdr {
		fmt.Fprintf(&head, "%s: %s\r\n", k, v)
		expect = expect || strings.EqualFold(k, "Expect")
	}
	head.WriteString("\r\n")
	if _, err := io.WriteString(c, head.String()); err != nil {
		t.Fatal(err)
	}
	wrote := make(chan struct{})
	sent := false
	send := func() {
		if !sent {
			sent = true
			go func() {
				defer close(wrote)
				c.Write(body) // fails once the server gives up on the body: fine
			}()
		}
	}
	br := bufio.NewReader(c)
	if !expect {
		send()
	} else {
		// Like curl: the body goes anyway after a second without an answer.
		c.SetReadDeadline(time.Now().Add(time.Second))
		if _, err := br.Peek(1); err != nil {
			if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
				t.Fatalf("waiting for 100 Continue: %v", err)
			}
			send()
		}
		c.SetReadDeadline(time.Now().Add(15 * time.Second))
	}
	got100 := false
	var res *http.Response
	for {
		res, err = http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("reading the response: %v (got 100 Continue: %v)", err, got100)
		}
		if res.StatusCode != http.StatusContinue {
			break
		}
		got100 = true
		send()
	}
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("reading the %d response body: %v", res.StatusCode, err)
	}
	c.Close()
	if sent {
		<-wrote
	}
	return res, string(b), got100
}

// TestFastPathEarlyAnswer: an app that answers before it has read the
// request body (413, 401) must have its answer reach the client, whether
// it then closes the connection or just stops reading; a normal large
// upload still arrives byte for byte. Each case runs against the app
// directly first, so the client's behaviour is checked too.
func TestFastPathEarlyAnswer(t *testing.T) {
	answerNow := func(code int) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, http.StatusText(code), code)
		})
	}
	goApp := func(h http.Handler) func(t *testing.T) string {
		return func(t *testing.T) string { u, _ := upstream(t, h); return strings.TrimPrefix(u, "http://") }
	}
	// An app that answers 401 after the request head and then neither reads
	// the body nor closes the connection.
	stopsReading := func(t *testing.T) string {
		return rawApp(t, func(c net.Conn, br *bufio.Reader, done <-chan struct{}) {
			if _, err := http.ReadRequest(br); err != nil {
				return
			}
			io.WriteString(c, "HTTP/1.1 401 Unauthorized\r\nContent-Length: 13\r\n\r\nUnauthorized\n")
			<-done // until the test ends: not reading, not closing
		})
	}
	// An app that ignores Expect: it never sends 100 Continue, it waits for
	// the body.
	ignoresExpect := func(t *testing.T) string {
		return rawApp(t, func(c net.Conn, br *bufio.Reader, _ <-chan struct{}) {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			b, _ := io.ReadAll(req.Body)
			d := "POST " + bodyDigest(b)
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(d), d)
		})
	}
	expect := map[string]string{"Expect": "100-continue"}

	for _, tc := range []struct {
		name     string
		app      func(t *testing.T) string
		hdr      map[string]string
		code     int
		body     string // the answer's body; "" = not checked
		echo     bool   // the answer's body is "POST <digest of the upload>"
		check100 bool   // whether the client is asked for the body is checked…
		want100  bool   // …against this
	}{
		{name: "413 at once, app closes", app: goApp(answerNow(413)), code: 413, body: "Request Entity Too Large\n"},
		{name: "401 before reading, app closes", app: goApp(answerNow(401)), code: 401, body: "Unauthorized\n"},
		{name: "401 before reading, app stops reading", app: stopsReading, code: 401, body: "Unauthorized\n"},
		{name: "413 at once to Expect: 100-continue", app: goApp(answerNow(413)), hdr: expect, code: 413, check100: true, want100: false},
		{name: "upload", app: goApp(digestHandler), code: 200, echo: true},
		{name: "upload with Expect: 100-continue", app: goApp(digestHandler), hdr: expect, code: 200, echo: true, check100: true, want100: true},
		{name: "Expect: 100-continue to an app that ignores it", app: ignoresExpect, hdr: expect, code: 200, echo: true},
	} {
		// 8 MiB: written concurrently with reading the answer; 4 KiB: in line.
		for _, size := range []int{8 << 20, 4 << 10} {
			payload := bytes.Repeat([]byte("abcdefghijklmnop"), size/16)
			want := tc.body
			if tc.echo {
				want = "POST " + bodyDigest(payload)
			}
			t.Run(fmt.Sprintf("%s, %d KiB", tc.name, size>>10), func(t *testing.T) {
				addr := tc.app(t)
				h := startSidecar(t, "http://"+addr, nil)
				for _, via := range []struct{ name, addr string }{{"direct", addr}, {"sidecar", strings.TrimPrefix(h.url, "http://")}} {
					start := time.Now()
					res, body, got100 := rawExchange(t, via.addr, "POST", tc.hdr, payload)
					if res.StatusCode != tc.code || (want != "" && body != want) {
						t.Fatalf("%s: %d %q, want %d %q", via.name, res.StatusCode, body, tc.code, want)
					}
					if tc.check100 && got100 != tc.want100 {
						t.Errorf("%s: 100 Continue sent: %v, want %v", via.name, got100, tc.want100)
					}
					if took := time.Since(start); took > 5*time.Second {
						t.Errorf("%s: took %v", via.name, took)
					}
				}
				if tc.echo && tc.hdr == nil {
					// A chunked upload (unknown length) is always written
					// concurrently.
					req, _ := http.NewRequest("POST", h.url+"/upload", io.MultiReader(bytes.NewReader(payload)))
					req.ContentLength = -1
					res, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
					if err != nil {
						t.Fatal(err)
					}
					b, _ := io.ReadAll(res.Body)
					res.Body.Close()
					if res.StatusCode != 200 || string(b) != want {
						t.Fatalf("chunked: %d %q", res.StatusCode, b)
					}
				}
			})
		}
	}
}
