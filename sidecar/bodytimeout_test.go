package sidecar

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/hopscope/hopscope/internal/testkit"
)

// appConns counts an upstream server's connections opened and closed.
type appConns struct {
	mu             sync.Mutex
	opened, closed int
}

func (c *appConns) track(_ net.Conn, s http.ConnState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch s {
	case http.StateNew:
		c.opened++
	case http.StateClosed, http.StateHijacked:
		c.closed++
	}
}

func (c *appConns) counts() (opened, closed int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.opened, c.closed
}

// TestRequestBodyTimeout: a client that sends its headers and then stops
// sending its body (issue 19, item 16: it held a sidecar connection and an
// app connection with no bound) is cut once --request-body-timeout passes
// without a body byte: the request to the app is cancelled and the app's
// connection closed, the client gets 408 request_body_timeout and its
// connection is closed (or, when the response had begun, sees it break
// off), and the request is counted in
// hopscope_requests_rejected_total{reason="request_body_timeout"} and
// recorded as 408, the client's fault: error.type request_body_timeout, no
// Error span status. A body that keeps coming, however slowly, in pieces
// closer together than the timeout, is never cut, whatever its total time.
func TestRequestBodyTimeout(t *testing.T) {
	const timeout = 200 * time.Millisecond
	steadyCL := make([]string, 20)
	steadyChunked := make([]string, 11)
	for i := range steadyCL {
		steadyCL[i] = "x"
	}
	for i := range steadyChunked {
		steadyChunked[i] = "1\r\nx\r\n"
	}
	steadyChunked[10] = "0\r\n\r\n"
	for _, tc := range []struct {
		name  string
		head  string        // framing header
		parts []string      // body pieces sent gap apart; the client then stalls (or is done)
		gap   time.Duration // between parts
		// appFirst: the app answers (a first body chunk, flushed) before
		// reading the request body.
		appFirst bool
		wantCode int  // the client's status, as recorded
		stalls   bool // the client stops mid-body
		cut      bool // the response had begun: the client sees it break off, no 408
		appReads bool // the app got the request (and, when stalls, its body read fails)
		wantBody string
	}{
		{name: "content-length, 10 of 100 bytes", head: "Content-Length: 100", parts: []string{strings.Repeat("x", 10)},
			wantCode: 408, stalls: true},
		{name: "content-length past the in-line size, 20000 of 40000 bytes", head: "Content-Length: 40000", parts: []string{strings.Repeat("x", 20000)},
			wantCode: 408, stalls: true, appReads: true},
		{name: "chunked, stalled mid-chunk", head: "Transfer-Encoding: chunked", parts: []string{"a\r\n01234"},
			wantCode: 408, stalls: true, appReads: true},
		{name: "chunked, stalled after the response began", head: "Transfer-Encoding: chunked", parts: []string{"5\r\nhello\r\n"},
			appFirst: true, wantCode: 408, stalls: true, cut: true, appReads: true},
		{name: "content-length, slow but steady", head: "Content-Length: 20", parts: steadyCL, gap: 50 * time.Millisecond,
			wantCode: 200, appReads: true, wantBody: "got 20 bytes"},
		{name: "chunked, slow but steady", head: "Transfer-Encoding: chunked", parts: steadyChunked, gap: 50 * time.Millisecond,
			wantCode: 200, appReads: true, wantBody: "got 10 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			appErr := make(chan error, 1)
			conns := &appConns{}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			app := &http.Server{ConnState: conns.track, ReadHeaderTimeout: 5 * time.Second,
				Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if tc.appFirst {
						// Else net/http reads the body before the head leaves.
						http.NewResponseController(w).EnableFullDuplex()
						io.WriteString(w, "started\n")
						w.(http.Flusher).Flush()
					}
					b, err := io.ReadAll(r.Body)
					appErr <- err
					if err == nil {
						fmt.Fprintf(w, "got %d bytes", len(b))
					}
				})}
			go app.Serve(ln)
			t.Cleanup(func() { app.Close() })

			sink := newOTLPSink(t)
			h := startSidecar(t, "http://"+ln.Addr().String(), func(c *Config) {
				c.RequestBodyTimeout = timeout
				c.OTLPEndpoint = sink.url
			})
			c, err := net.DialTimeout("tcp", strings.TrimPrefix(h.url, "http://"), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			// The head goes with the first part in one write: written
			// apart, a loaded machine (CI's race run) could hold this
			// goroutine between them past the timeout, and the sidecar
			// would rightly time out before any body byte, with nothing
			// yet sent to the app.
			head := fmt.Sprintf("POST /upload HTTP/1.1\r\nHost: app.test\r\n%s\r\n\r\n", tc.head)
			for i, p := range tc.parts {
				if i > 0 {
					time.Sleep(tc.gap)
				} else {
					p = head + p
				}
				if _, err := io.WriteString(c, p); err != nil {
					t.Fatalf("sending part %d: %v", i, err)
				}
			}
			c.SetReadDeadline(time.Now().Add(3 * time.Second))

			if !tc.stalls {
				res, err := http.ReadResponse(bufio.NewReader(c), nil)
				if err != nil {
					t.Fatalf("no response: %v", err)
				}
				body, _ := io.ReadAll(res.Body)
				if res.StatusCode != tc.wantCode || string(body) != tc.wantBody {
					t.Errorf("response %d %q, want %d %q", res.StatusCode, body, tc.wantCode, tc.wantBody)
				}
			} else {
				resp, err := io.ReadAll(c) // to the close: the connection must not stay open
				if err != nil {
					t.Fatalf("the connection was not closed within 3 s (%v); got %q", err, resp)
				}
				head, body, _ := strings.Cut(string(resp), "\r\n\r\n")
				status, _, _ := strings.Cut(head, "\r\n")
				if tc.cut {
					if status != "HTTP/1.1 200 OK" || !strings.Contains(body, "started") || strings.HasSuffix(body, "0\r\n\r\n") {
						t.Errorf("response %q, want the app's 200 with its first chunk, broken off (no last chunk)", resp)
					}
				} else {
					var eb errorBody
					if status != "HTTP/1.1 408 Request Timeout" || !strings.Contains(head, "Connection: close") {
						t.Errorf("response %q, want 408 with Connection: close", resp)
					} else if err := json.Unmarshal([]byte(body), &eb); err != nil || eb.Status != 408 || eb.Error != ErrorRequestBodyTimeout {
						t.Errorf("body %q, want a JSON request_body_timeout error", body)
					}
				}
			}

			if tc.appReads {
				select {
				case err := <-appErr:
					if tc.stalls && err == nil {
						t.Error("the app read a complete body")
					} else if !tc.stalls && err != nil {
						t.Errorf("the app's body read failed: %v", err)
					}
				case <-time.After(3 * time.Second):
					t.Error("the app's body read did not end within 3 s")
				}
			}
			if tc.stalls {
				testkit.Eventually(t, "the app's connections to be closed", 10*time.Second, func() bool {
					opened, closed := conns.counts()
					return opened > 0 && closed == opened
				})
			}

			want := 0.0
			if tc.stalls {
				want = 1
			}
			testkit.Eventually(t, "the access line", 10*time.Second, func() bool { return len(h.logs.Lines()) == 1 })
			if got := h.counter(h.sc.metrics.rejected, ReasonRequestBodyTimeout); got != want {
				t.Errorf("rejected_total{reason=%q} = %v, want %v", ReasonRequestBodyTimeout, got, want)
			}
			if line := h.logs.Lines()[0]; !strings.Contains(line, fmt.Sprintf(`"status":%d`, tc.wantCode)) {
				t.Errorf("access line %s, want status %d", line, tc.wantCode)
			}
			h.shutdown()
			spans := sink.Spans()
			if len(spans) != 1 {
				t.Fatalf("%d spans, want 1", len(spans))
			}
			a := attrs(spans[0])
			wantErr := ""
			if tc.stalls {
				wantErr = ErrorRequestBodyTimeout
			}
			if a["http.response.status_code"] != fmt.Sprint(tc.wantCode) || a["error.type"] != wantErr ||
				spans[0].Status.GetCode() == tracepb.Status_STATUS_CODE_ERROR {
				t.Errorf("span status_code %s, error.type %q, status %v; want %d, %q, not Error",
					a["http.response.status_code"], a["error.type"], spans[0].Status.GetCode(), tc.wantCode, wantErr)
			}
		})
	}
}
