package redisproxy

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"slices"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/hopscope/hopscope/sidecar/backend"
)

// benchCommands is what redis-benchmark -t get,set sends, plus an inline
// command and a pipeline's worth of others.
var benchCommands = strings.Repeat("*3\r\n$3\r\nSET\r\n$16\r\nkey:000000000042\r\n$3\r\nxxx\r\n*2\r\n$3\r\nGET\r\n$16\r\nkey:000000000042\r\n", 50) +
	"PING\r\n*5\r\n$4\r\nHSET\r\n$1\r\nh\r\n$1\r\nf\r\n$1\r\nv\r\n$1\r\nw\r\n"

var benchReplies = strings.Repeat("+OK\r\n$3\r\nxxx\r\n", 50) + "+PONG\r\n:1\r\n" +
	"*2\r\n$1\r\na\r\n$1\r\nb\r\n%1\r\n+k\r\n,1.5\r\n-WRONGTYPE Operation against a key\r\n"

// BenchmarkCommandDecoder: one op is one command.
func BenchmarkCommandDecoder(b *testing.B) {
	src := strings.NewReader(benchCommands)
	d := cmdDecoder{br: bufio.NewReaderSize(src, readerSize)}
	b.ReportAllocs()
	b.SetBytes(int64(len(benchCommands)) / 102)
	for b.Loop() {
		_, _, err := d.next()
		if err == io.EOF {
			src.Reset(benchCommands)
			d.br.Reset(src)
			_, _, err = d.next()
		}
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReplyDecoder: one op is one reply.
func BenchmarkReplyDecoder(b *testing.B) {
	src := strings.NewReader(benchReplies)
	d := replyDecoder{br: bufio.NewReaderSize(src, readerSize)}
	b.ReportAllocs()
	b.SetBytes(int64(len(benchReplies)) / 105)
	for b.Loop() {
		_, err := d.next()
		if err == io.EOF {
			src.Reset(benchReplies)
			d.br.Reset(src)
			_, err = d.next()
		}
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSession runs a pipeline of 100 GET/SET through both sides of a
// session (relay, decode, match, and the Recorder's Finish with metrics
// and a no-op tracer); one op is one command and its reply.
func BenchmarkSession(b *testing.B) {
	cmds := strings.Repeat("*3\r\n$3\r\nSET\r\n$16\r\nkey:000000000042\r\n$3\r\nxxx\r\n*2\r\n$3\r\nGET\r\n$16\r\nkey:000000000042\r\n", 50)
	replies := strings.Repeat("+OK\r\n$3\r\nxxx\r\n", 50)
	rec, err := backend.NewRecorder(backend.Options{})
	if err != nil {
		b.Fatal(err)
	}
	be := rec.Backend(backend.Config{Name: "bench", Kind: backend.KindRedis, Target: "127.0.0.1:6379"})
	var cs, rs strings.Reader
	b.ReportAllocs()
	for b.Loop() {
		cs.Reset(cmds)
		rs.Reset(replies)
		s := newSession(be)
		s.runCommands(io.Discard, &cs)
		s.runReplies(io.Discard, &rs)
		s.close()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100), "ns/command")
}

// BenchmarkSessionSpans is BenchmarkSession with an SDK tracer (spans to
// no exporter, every one recorded and ended) and a request in flight:
// "pipeline" makes one span per read of 16 commands (the sidecar's
// default), "every-call" one per command (Options.SpanEveryCall), as
// before pipelines had their span. One op is one command and its reply.
func BenchmarkSessionSpans(b *testing.B) {
	const perRead, reads = 16, 8
	read := strings.Repeat("*2\r\n$3\r\nGET\r\n$16\r\nkey:000000000042\r\n", perRead)
	replies := strings.Repeat("$3\r\nxxx\r\n", perRead*reads)
	for _, everyCall := range []bool{false, true} {
		name := "pipeline"
		if everyCall {
			name = "every-call"
		}
		b.Run(name, func(b *testing.B) {
			tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()))
			defer tp.Shutdown(context.Background())
			tracker := backend.NewTracker()
			rec, err := backend.NewRecorder(backend.Options{Tracer: tp.Tracer("bench"), Tracker: tracker, SpanEveryCall: everyCall})
			if err != nil {
				b.Fatal(err)
			}
			be := rec.Backend(backend.Config{Name: "bench", Kind: backend.KindRedis, Target: "127.0.0.1:6379"})
			sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{1}, TraceFlags: trace.FlagsSampled})
			leave := tracker.Enter(sc)
			defer leave()
			var rs strings.Reader
			b.ReportAllocs()
			for b.Loop() {
				rs.Reset(replies)
				cs := &readsReader{reads: slices.Repeat([]string{read}, reads)}
				s := newSession(be)
				s.runCommands(io.Discard, cs)
				s.runReplies(io.Discard, &rs)
				s.close()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*perRead*reads), "ns/command")
		})
	}
}

// TestDecodersDoNotAllocate pins the benchmarks' claim: decoding a command
// or a reply allocates nothing.
func TestDecodersDoNotAllocate(t *testing.T) {
	cmds := []byte(benchCommands)
	cr := bytes.NewReader(cmds)
	cd := cmdDecoder{br: bufio.NewReaderSize(cr, readerSize)}
	rr := strings.NewReader(benchReplies)
	rd := replyDecoder{br: bufio.NewReaderSize(rr, readerSize), stack: make([]frame, 0, 8)}
	allocs := testing.AllocsPerRun(20, func() {
		cr.Reset(cmds)
		cd.br.Reset(cr)
		for {
			if _, _, err := cd.next(); err != nil {
				break
			}
		}
		rr.Reset(benchReplies)
		rd.br.Reset(rr)
		for {
			if _, err := rd.next(); err != nil {
				break
			}
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations decoding %d bytes of commands and replies", allocs, len(cmds)+len(benchReplies))
	}
}

// BenchmarkRewriterRelay: a cluster backend's replies through the
// rewriter when they name no node (the common case: every reply but a
// topology command's and a redirection's); one op is one reply.
func BenchmarkRewriterRelay(b *testing.B) {
	rec, err := backend.NewRecorder(backend.Options{})
	if err != nil {
		b.Fatal(err)
	}
	be := rec.Backend(backend.Config{Name: "bench", Kind: backend.KindRedis, Target: "127.0.0.1:6379"})
	rw := &rewriter{b: be, local: func(string, int64) (int, bool) { return 0, false }, host: "127.0.0.1", topo: &topoQueue{}}
	src := strings.NewReader(benchReplies)
	br := bufio.NewReaderSize(src, readerSize)
	bw := bufio.NewWriterSize(io.Discard, readerSize)
	b.ReportAllocs()
	b.SetBytes(int64(len(benchReplies)) / 105)
	n := 0
	for b.Loop() {
		if n%105 == 0 {
			src.Reset(benchReplies)
			br.Reset(src)
		}
		n++
		if err := copyValue(br, bw, 0); err != nil {
			b.Fatal(err)
		}
		rw.topo.take(uint64(n))
	}
}

// TestRewriterDoesNotAllocate pins BenchmarkRewriterRelay's claim: a reply
// that names no node goes through the rewriter without allocating.
func TestRewriterDoesNotAllocate(t *testing.T) {
	q := &topoQueue{}
	src := strings.NewReader(benchReplies)
	br := bufio.NewReaderSize(src, readerSize)
	bw := bufio.NewWriterSize(io.Discard, readerSize)
	n := uint64(0)
	allocs := testing.AllocsPerRun(20, func() {
		src.Reset(benchReplies)
		br.Reset(src)
		for {
			if err := copyValue(br, bw, 0); err != nil {
				break
			}
			n++
			q.take(n)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations relaying %d bytes of replies", allocs, len(benchReplies))
	}
}
