package sidecar

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestSmugglingShapesCloseTheConnection: a request with both
// Content-Length and Transfer-Encoding is answered (Transfer-Encoding
// wins, as RFC 9112 §6.3 says) and its connection closed after the
// response; a Transfer-Encoding folded over two lines (obs-fold) is refused
// with 400 and the connection closed; a plain chunked request keeps its
// connection (issue 19, item 16).
func TestSmugglingShapesCloseTheConnection(t *testing.T) {
	appGot := make(chan string, 10)
	up, _ := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		appGot <- string(b)
		io.WriteString(w, "ok")
	}))
	h := startSidecar(t, up, func(c *Config) { c.AccessLog = "off" })
	const chunked = "POST /a HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
	for _, tc := range []struct {
		name     string
		requests []string // sent one after the other on one connection
		statuses []int    // the responses, the last one then the connection's end
		closed   bool     // the connection ends after the last response
		appBody  string   // what the app got last ("" = nothing)
	}{
		{"chunked keeps alive", []string{chunked}, []int{200}, false, "abc"},
		{"CL and TE", []string{"POST /a HTTP/1.1\r\nHost: app.test\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"},
			[]int{200}, true, "abc"},
		{"TE and CL, lower case, after a request on the same connection", []string{chunked,
			"POST /a HTTP/1.1\r\nhost: app.test\r\ntransfer-encoding: chunked\r\ncontent-length: 3\r\n\r\n3\r\nxyz\r\n0\r\n\r\n"},
			[]int{200, 200}, true, "xyz"},
		{"obs-fold in TE", []string{"POST /a HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding:\r\n chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"},
			[]int{400}, true, ""},
		{"obs-fold in TE, tab", []string{"POST /a HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding:\r\n\tchunked\r\nX-A: 1\r\n\r\n3\r\nabc\r\n0\r\n\r\n"},
			[]int{400}, true, ""},
		// net/http refuses this one itself (the folded value is not
		// "chunked"): 501, closed.
		{"obs-fold after TE's value", []string{"POST /a HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\n\t\r\n\r\n3\r\nabc\r\n0\r\n\r\n"},
			[]int{501}, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for len(appGot) > 0 {
				<-appGot
			}
			c, err := net.DialTimeout("tcp", strings.TrimPrefix(h.url, "http://"), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			br := bufio.NewReader(c)
			var last *http.Response
			for i, req := range tc.requests {
				io.WriteString(c, req)
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				res, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatalf("response %d: %v", i, err)
				}
				io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != tc.statuses[i] {
					t.Errorf("response %d: %d, want %d", i, res.StatusCode, tc.statuses[i])
				}
				last = res
			}
			// The connection's end: EOF soon when closed, a timeout when kept.
			c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			_, err = br.ReadByte()
			closed := err == io.EOF
			if closed != tc.closed || last.Close != tc.closed {
				t.Errorf("connection closed %v (read: %v, Connection: close %v), want %v", closed, err, last.Close, tc.closed)
			}
			got := ""
			for len(appGot) > 0 {
				got = <-appGot
			}
			if got != tc.appBody {
				t.Errorf("the app got %q last, want %q", got, tc.appBody)
			}
		})
	}
}

func TestInspectHead(t *testing.T) {
	for _, tc := range []struct {
		head string
		want rawHead
	}{
		{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", headPlain},
		{"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", headBothSizes},
		{"POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\nCONTENT-LENGTH : 3\r\n\r\n", headBothSizes},
		{"POST / HTTP/1.1\nTransfer-Encoding: chunked\nContent-Length: 3\n\n", headBothSizes}, // bare LF
		{"POST / HTTP/1.1\r\nTransfer-Encoding:\r\n chunked\r\n\r\n", headFoldedTE},
		{"POST / HTTP/1.1\r\nX-A: 1\r\n 2\r\nTransfer-Encoding: chunked\r\n\r\n", headPlain}, // another header folded: net/http's to join
		{"POST / HTTP/1.1\r\nX-Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", headPlain},
		{"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nContent-Length: 3\r\n", headPlain}, // in the body
	} {
		if got := inspectHead([]byte(tc.head)); got != tc.want {
			t.Errorf("inspectHead(%q) = %d, want %d", tc.head, got, tc.want)
		}
	}
}

// bytesConn is a net.Conn reading data n bytes at a time.
type bytesConn struct {
	net.Conn
	data []byte
	n    int
}

func (c *bytesConn) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	k := min(c.n, len(p), len(c.data))
	copy(p, c.data[:k])
	c.data = c.data[k:]
	return k, nil
}

// FuzzRawHead: whatever bytes arrive, however cut, a headConn records a
// prefix of them that ends at the first blank line (then the head is
// complete) or at its limit, and judges it as a line-by-line reading
// does.
func FuzzRawHead(f *testing.F) {
	for _, s := range []string{
		"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"POST / HTTP/1.1\r\nTransfer-Encoding:\r\n\tchunked\r\n\r\n",
		"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
		"GET / HTTP/1.1\r\n\r",
	} {
		f.Add([]byte(s), uint8(7))
	}
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8) {
		const limit = 256
		c := &headConn{Conn: &bytesConn{data: data, n: int(chunk)%32 + 1}, max: limit, recording: true}
		buf := make([]byte, 64)
		for {
			if _, err := c.Read(buf); err != nil {
				break
			}
		}
		if c.h2 {
			if !bytes.HasPrefix(data, h2Preface) {
				t.Fatalf("%q taken for HTTP/2", data)
			}
			return
		}
		if !bytes.HasPrefix(data, c.rec) {
			t.Fatalf("recorded %q, not a prefix of %q", c.rec, data)
		}
		end := bytes.Index(data, []byte("\r\n\r\n"))
		switch {
		case end >= 0 && end+4 <= limit:
			if !c.done || len(c.rec) != end+4 {
				t.Fatalf("recorded %q (done %v) of %q, want the head up to its blank line", c.rec, c.done, data)
			}
		case c.done:
			t.Fatalf("head of %q complete at %q", data, c.rec)
		}
		got := inspectHead(c.rec)
		// The reference: header lines up to the first empty one.
		want := headPlain
		lines := strings.Split(strings.ReplaceAll(string(c.rec), "\r\n", "\n"), "\n")
		prevTE := false
		for _, l := range lines[min(1, len(lines)):] {
			l = strings.TrimSuffix(l, "\r")
			if l == "" {
				break
			}
			if l[0] == ' ' || l[0] == '\t' {
				if prevTE {
					want = headFoldedTE
					break
				}
				continue
			}
			name, _, _ := strings.Cut(l, ":")
			name = strings.TrimRight(name, " \t")
			prevTE = strings.EqualFold(name, "transfer-encoding")
			if strings.EqualFold(name, "content-length") {
				want = headBothSizes
			}
		}
		if got != want {
			t.Fatalf("inspectHead(%q) = %d, want %d", c.rec, got, want)
		}
	})
}
