package pgproxy

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"github.com/hopscope/hopscope/sidecar/backend"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// exchange sends each request on one connection to addr and reads what
// comes back after each (up to want bytes, or until the server closes).
func exchange(t *testing.T, addr string, requests [][]byte, want []int) [][]byte {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	var answers [][]byte
	for i, req := range requests {
		if _, err := c.Write(req); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		buf := make([]byte, want[i])
		n, err := io.ReadFull(c, buf)
		if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
			t.Fatalf("answer %d: %v", i, err)
		}
		answers = append(answers, buf[:n])
	}
	return answers
}

// TestNegotiation drives the first messages by hand against the real
// server: requests for encryption answered N by the proxy (or by the
// server, byte for byte, with passthrough), and a protocol the proxy
// does not speak relayed as it is, counted as a decode failure.
func TestNegotiation(t *testing.T) {
	dbURL := postgresURL(t)
	target := targetOf(t, dbURL)
	gssenc, ssl := cat(i32(8), i32(gssencRequest)), cat(i32(8), i32(sslRequest))

	t.Run("GSSENCRequest and SSLRequest answered N, then a session", func(t *testing.T) {
		f := newFixture(t, target, "")
		got := exchange(t, f.addr, [][]byte{gssenc, ssl, startupMsg("postgres", "postgres"), queryMsg("SELECT 40 + 2")}, []int{1, 1, 9, 1})
		if string(got[0]) != "N" || string(got[1]) != "N" {
			t.Fatalf("answers %q %q, want N N", got[0], got[1])
		}
		if !bytes.HasPrefix(got[2], msg('R', i32(0))) {
			t.Fatalf("after the startup packet: %q, want AuthenticationOk", got[2])
		}
		s := f.waitSpans(1)[0]
		if c := calls([]sdktrace.ReadOnlySpan{s})[0]; c != (call{"SELECT", "SELECT ? + ?", ""}) {
			t.Errorf("call %v", c)
		}
	})

	t.Run("passthrough: the server's own answers", func(t *testing.T) {
		f := newFixture(t, target, backend.TLSPassthrough)
		for _, req := range [][]byte{gssenc, ssl} {
			direct := exchange(t, target, [][]byte{req}, []int{1})
			proxied := exchange(t, f.addr, [][]byte{req}, []int{1})
			t.Logf("request %x: server answers %q", req, direct[0])
			if !bytes.Equal(direct[0], proxied[0]) {
				t.Fatalf("request %x: through the proxy %q, directly %q", req, proxied[0], direct[0])
			}
		}
	})

	t.Run("protocol 2.0 relayed as it is", func(t *testing.T) {
		f := newFixture(t, target, "")
		v2 := cat(i32(296), i32(2<<16), make([]byte, 288))
		direct := exchange(t, target, [][]byte{v2}, []int{512})
		proxied := exchange(t, f.addr, [][]byte{v2}, []int{512})
		if len(direct) == 0 || direct[0][0] != 'E' || !bytes.Equal(direct[0], proxied[0]) {
			t.Fatalf("through the proxy %q, directly %q", proxied[0], direct[0])
		}
		if f.decodeErrors() != 1 {
			t.Errorf("decode errors %v, want 1", f.decodeErrors())
		}
	})
}
