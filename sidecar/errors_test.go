package sidecar

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hopscope/hopscope/internal/testkit"
)

// TestClientBodyCutShort: a client that goes away mid-upload must not leave
// the app waiting for the rest of the body nor the request unrecorded.
func TestClientBodyCutShort(t *testing.T) {
	appErr := make(chan error, 1)
	reading := make(chan struct{})
	up, _ := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var first [1]byte
		_, err := io.ReadFull(r.Body, first[:])
		close(reading) // the body is on its way to the app
		if err == nil {
			_, err = io.Copy(io.Discard, r.Body)
		}
		appErr <- err
	}))
	h := startSidecar(t, up, nil)
	c, err := net.DialTimeout("tcp", strings.TrimPrefix(h.url, "http://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "POST /upload HTTP/1.1\r\nHost: app.test\r\nContent-Length: %d\r\n\r\n", 1<<20)
	c.Write(make([]byte, 100<<10))
	select {
	case <-reading:
	case <-time.After(5 * time.Second):
		t.Fatal("the app got no body byte")
	}
	c.Close()
	select {
	case err := <-appErr:
		if err == nil {
			t.Error("the app read a whole body the client never sent")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the app still waits for the rest of the body")
	}
	testkit.Eventually(t, "the access line", 10*time.Second, func() bool { return len(h.logs.Lines()) == 1 })
	if line := h.logs.Lines()[0]; !strings.Contains(line, `"status":499`) {
		t.Errorf("an upload the client cut short is the client's 499, not the app's fault: %s", line)
	}
}

// TestMalformedChunkedBodyIs400: a chunked body net/http cannot parse is
// the client's mistake while the client is still there: it gets 400
// bad_request_body and the connection is closed (the framing is lost),
// recorded as 400, and the app is not handed a request it could take for
// a complete one (issue 19, item 10: the client got 200 OK with an empty
// body, recorded as a 499 "client gone"). A client that closes its side
// mid-body is still a 499 and gets no invented answer.
func TestMalformedChunkedBodyIs400(t *testing.T) {
	appGot := make(chan string, 10)
	up, _ := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err == nil {
			appGot <- string(b)
		}
	}))
	h := startSidecar(t, up, nil)
	for i, tc := range []struct {
		name, body string
		halfClose  bool
		want       string // status line; "" = nothing
		wantStatus int    // in the access log
	}{
		{"bad chunk size", "zz\r\nabc\r\n0\r\n\r\n", false, "HTTP/1.1 400 Bad Request", 400},
		{"chunk size too long", strings.Repeat("f", 20) + "\r\nabc\r\n0\r\n\r\n", false, "HTTP/1.1 400 Bad Request", 400},
		{"no CRLF after data", "3\r\nabcXY\r\n0\r\n\r\n", false, "HTTP/1.1 400 Bad Request", 400},
		{"after a good chunk", "3\r\nabc\r\n-1\r\n\r\n", false, "HTTP/1.1 400 Bad Request", 400},
		{"client closes mid-body", "3\r\nabc\r\n", true, "", 499},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.DialTimeout("tcp", strings.TrimPrefix(h.url, "http://"), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			fmt.Fprintf(c, "POST /upload HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\n\r\n%s", tc.body)
			if tc.halfClose {
				c.(*net.TCPConn).CloseWrite()
			}
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			resp, _ := io.ReadAll(c) // to the close: the connection must not stay open
			head, body, _ := strings.Cut(string(resp), "\r\n\r\n")
			status, _, _ := strings.Cut(head, "\r\n")
			if status != tc.want {
				t.Errorf("status line %q, want %q (response %q)", status, tc.want, resp)
			}
			if tc.want != "" {
				var eb errorBody
				if err := json.Unmarshal([]byte(body), &eb); err != nil || eb.Status != 400 || eb.Error != "bad_request_body" || !strings.Contains(head, "Connection: close") {
					t.Errorf("response %q, want a JSON bad_request_body error and Connection: close", resp)
				}
			}
			testkit.Eventually(t, "the access line", 10*time.Second, func() bool { return len(h.logs.Lines()) == i+1 })
			if line := h.logs.Lines()[i]; !strings.Contains(line, fmt.Sprintf(`"status":%d`, tc.wantStatus)) {
				t.Errorf("access line %s, want status %d", line, tc.wantStatus)
			}
			select {
			case b := <-appGot:
				t.Errorf("the app read a complete body %q", b)
			default:
			}
		})
	}
}
