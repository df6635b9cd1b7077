package pgproxy

import (
	"bytes"
	"io"
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
