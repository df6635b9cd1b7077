package pgproxy

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/hopscope/hopscope/sidecar/backend"
	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// chunked reads data n bytes at a time (n ≥ 1), as a socket might.
type chunked struct {
	data []byte
	n    int
}

func (c *chunked) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	k := min(c.n, len(p), len(c.data))
	copy(p, c.data[:k])
	c.data = c.data[k:]
	return k, nil
}

func clientStream() []byte {
	var b []byte
	for _, st := range conversation {
		b = append(b, st.client...)
	}
	return b
}

func serverStream() []byte {
	var b []byte
	for _, st := range conversation {
		b = append(b, st.server...)
	}
	return b
}

// fuzzBackend records into an SDK tracer that keeps no span and a
// registry of its own: a long fuzzing run does not pile them up.
func fuzzBackend(f *testing.F) *backend.Backend {
	rec, err := backend.NewRecorder(backend.Options{
		Tracer:     sdktrace.NewTracerProvider().Tracer("fuzz"),
		Tracker:    backend.NewTracker(),
		Registerer: prometheus.NewRegistry(),
	})
	if err != nil {
		f.Fatal(err)
	}
	return rec.Backend(backend.Config{Name: "db", Kind: backend.KindPostgres, Target: "127.0.0.1:5432"})
}

// FuzzFrontend: any client byte stream, however cut, goes through the
// relay unchanged and never panics the decoder.
func FuzzFrontend(f *testing.F) {
	f.Add(clientStream(), uint8(7), true)
	f.Add(clientStream()[len(startupMsg("postgres", "shop")):], uint8(1), false)
	f.Add(cat(parseMsg("", "SELECT $1"), bindMsg("", "", "x"), executeMsg(""), syncMsg()), uint8(3), false)
	b := fuzzBackend(f)
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8, startup bool) {
		s := newSession(b)
		s.fe.f.startup = startup
		var out bytes.Buffer
		pump(&out, &chunked{data: data, n: int(chunk)%64 + 1}, make([]byte, 64), s.clientBytes, nil)
		s.abandon(time.Now())
		if !bytes.Equal(out.Bytes(), data) {
			t.Fatalf("relayed %d bytes, want the %d read, unchanged", out.Len(), len(data))
		}
		if n := Normalize(nil, data); len(n) > MaxText {
			t.Fatalf("normalised to %d bytes", len(n))
		}
		StatementKind(data)
		CommentTraceContext(data)
	})
}

// FuzzBackend: any server byte stream, after a client's calls are in
// flight, goes through the relay unchanged and never panics the decoder.
func FuzzBackend(f *testing.F) {
	f.Add(serverStream(), uint8(5))
	f.Add(cat(serverHello(), errorMsg("ERROR", "22012", "x"), readyMsg(), msg('G', []byte{0}, i16(0)), readyMsg()), uint8(1))
	f.Add(cat(serverHello(), msg('E', []byte{'C'}), readyMsg()), uint8(2))
	client := clientStream()
	b := fuzzBackend(f)
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8) {
		s := newSession(b)
		s.clientBytes(client)
		var out bytes.Buffer
		pump(&out, &chunked{data: data, n: int(chunk)%64 + 1}, make([]byte, 64), s.serverBytes, s.finish)
		s.abandon(time.Now())
		if !bytes.Equal(out.Bytes(), data) {
			t.Fatalf("relayed %d bytes, want the %d read, unchanged", out.Len(), len(data))
		}
	})
}

// FuzzNormalizeHidesLiterals: whatever a string literal holds, quoted as a
// client library quotes it — '…' (with backslashes doubled too when the
// session has standard_conforming_strings off), E'…', $q$…$q$ — or a SET
// value, the normalised statement is exactly the statement with ? in its
// place: no byte of the value is kept and nothing after it is swallowed.
func FuzzNormalizeHidesLiterals(f *testing.F) {
	for _, s := range []string{"s3cret", "it's", `back\slash`, `\'; DROP TABLE t; --`, "$q$", "é\x00\xff", "*/ 1", "''"} {
		f.Add(s, true)
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, secret string, standard bool) {
		quote := func(s string, backslash bool) string {
			if backslash {
				s = strings.ReplaceAll(s, `\`, `\\`)
			}
			return "'" + strings.ReplaceAll(s, "'", "''") + "'"
		}
		cases := []struct{ sql, want string }{
			{"SELECT * FROM t WHERE a = " + quote(secret, !standard) + " AND b = 1", "SELECT * FROM t WHERE a = ? AND b = ?"},
			{"SELECT E" + quote(secret, true) + ", c FROM t", "SELECT ?, c FROM t"},
			{"SET app.api_key TO " + quote(secret, !standard) + "; SELECT c FROM t", "SET app.api_key TO ?; SELECT c FROM t"},
		}
		if strings.Index(secret+"$q$", "$q$") == len(secret) { // a client picks a tag its text does not hold
			cases = append(cases, struct{ sql, want string }{"SELECT $q$" + secret + "$q$, c", "SELECT ?, c"})
		}
		if isWord(secret) {
			cases = append(cases, struct{ sql, want string }{"SET app.api_key = " + secret, "SET app.api_key = ?"})
		}
		for _, tc := range cases {
			if got := string(NormalizeSession(nil, []byte(tc.sql), standard)); got != tc.want {
				t.Fatalf("NormalizeSession(%q, standard %v) = %q, want %q", tc.sql, standard, got, tc.want)
			}
		}
	})
}

// isWord reports whether s is one unquoted SQL identifier.
func isWord(s string) bool {
	if s == "" || !isIdentStart(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isIdentPart(s[i]) {
			return false
		}
	}
	return true
}
