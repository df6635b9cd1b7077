package redisproxy

import (
	"bufio"
	"bytes"
	"io"
	"testing"
	"testing/iotest"

	"github.com/hopscope/hopscope/sidecar/backend"
)

// chunked returns data in reads of at most size bytes (all at once for 0).
func chunked(data []byte, size uint8) io.Reader {
	r := io.Reader(bytes.NewReader(data))
	if size > 0 {
		r = &chunkReader{r: r, n: int(size)}
	}
	return r
}

type chunkReader struct {
	r io.Reader
	n int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(p) > c.n {
		p = p[:c.n]
	}
	return c.r.Read(p)
}

// FuzzCommands: the command decoder never panics, and what the session
// relays is exactly what the app sent, whatever it sent.
func FuzzCommands(f *testing.F) {
	f.Add([]byte(pipeline), uint8(0))
	f.Add([]byte(pipeline), uint8(3))
	f.Add([]byte("SET \"a\\x41\" 'b\\'c' d\r\n\r\n  \n*0\r\nGET\x00k\r\n"), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, size uint8) {
		// The decoder alone, without the session's recover.
		d := cmdDecoder{br: bufio.NewReaderSize(iotest.HalfReader(bytes.NewReader(data)), 16)}
		for range len(data) + 1 {
			if _, _, err := d.next(); err != nil {
				break
			}
		}
		r := newFuzzRig(t)
		s := newSession(r)
		var out bytes.Buffer
		s.runCommands(&out, chunked(data, size))
		var rout bytes.Buffer
		s.runReplies(&rout, bytes.NewReader(nil))
		s.close()
		if !bytes.Equal(out.Bytes(), data) {
			t.Fatalf("relayed %q, sent %q", out.Bytes(), data)
		}
	})
}

// FuzzReplies: the reply decoder never panics, and the session relays the
// server's bytes unchanged, whatever commands they answer.
func FuzzReplies(f *testing.F) {
	f.Add([]byte("GET k\r\nSUBSCRIBE a b\r\nHELLO 3\r\n"), []byte(replyStream), uint8(0))
	f.Add([]byte("SUBSCRIBE a\r\nUNSUBSCRIBE\r\nPING\r\n"), []byte("*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$1\r\nm\r\n*3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:0\r\n+PONG\r\n"), uint8(5))
	f.Fuzz(func(t *testing.T, cmds, replies []byte, size uint8) {
		d := replyDecoder{br: bufio.NewReaderSize(iotest.HalfReader(bytes.NewReader(replies)), 16)}
		for range len(replies) + 1 {
			if _, err := d.next(); err != nil {
				break
			}
		}
		r := newFuzzRig(t)
		s := newSession(r)
		var cout, rout bytes.Buffer
		s.runCommands(&cout, bytes.NewReader(cmds))
		s.runReplies(&rout, chunked(replies, size))
		s.close()
		if !bytes.Equal(cout.Bytes(), cmds) {
			t.Fatalf("relayed commands %q, sent %q", cout.Bytes(), cmds)
		}
		if !bytes.Equal(rout.Bytes(), replies) {
			t.Fatalf("relayed replies %q, sent %q", rout.Bytes(), replies)
		}
	})
}

var fuzzBackend *backend.Backend

// newFuzzRig returns a backend whose telemetry goes nowhere (no tracer,
// unregistered metrics): the fuzz targets check the bytes, not the calls.
func newFuzzRig(t *testing.T) *backend.Backend {
	if fuzzBackend == nil {
		rec, err := backend.NewRecorder(backend.Options{})
		if err != nil {
			t.Fatal(err)
		}
		fuzzBackend = rec.Backend(backend.Config{Name: "fuzz", Kind: backend.KindRedis, Target: "127.0.0.1:6379"})
	}
	return fuzzBackend
}
