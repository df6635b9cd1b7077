package accesslog

import (
	"context"
	"io"
	"net"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tinylib/msgp/msgp"

	"github.com/hopscope/hopscope/internal/testkit"
)

func BenchmarkLogStdout(b *testing.B) {
	l, err := New(Config{Stdout: io.Discard})
	if err != nil {
		b.Fatal(err)
	}
	r := fullRecord()
	b.ReportAllocs()
	for b.Loop() {
		l.Log(r)
	}
	b.StopTimer()
	if err := l.Shutdown(context.Background()); err != nil {
		b.Fatal(err)
	}
}

func BenchmarkLogStdoutParallel(b *testing.B) {
	l, err := New(Config{Stdout: io.Discard})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		r := fullRecord()
		for pb.Next() {
			l.Log(r)
		}
	})
	b.StopTimer()
	if err := l.Shutdown(context.Background()); err != nil {
		b.Fatal(err)
	}
}

// discardPeer accepts connections, skips every PackedForward request
// without decoding its records and acknowledges it: a Fluent Bit that
// costs the benchmark next to nothing.
func discardPeer(b *testing.B) string { return testkit.Serve(b, skimAndAck) }

// BenchmarkLogFluent measures sustained Fluent shipping against a peer
// that reads as fast as it can: the loop waits while the queue is full,
// so every record is encoded and sent (drops/op stays 0) and ns/op is the
// cost of Log plus the sender goroutine's share.
func BenchmarkLogFluent(b *testing.B) {
	benchFluent(b, discardPeer(b), true)
}

// BenchmarkLogFluentDown measures Log while Fluent Bit is down: the queue
// is full and every record is a cheap drop.
func BenchmarkLogFluentDown(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	benchFluent(b, addr, false)
}

func benchFluent(b *testing.B, addr string, paced bool) {
	var drops atomic.Int64
	l, err := New(Config{
		FluentAddress: addr,
		OnDrop:        func(_ string, n int) { drops.Add(int64(n)) },
	})
	if err != nil {
		b.Fatal(err)
	}
	r := fullRecord()
	b.ReportAllocs()
	for b.Loop() {
		for paced && l.ship.full() {
			runtime.Gosched()
		}
		l.Log(r)
	}
	b.StopTimer()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = l.Shutdown(ctx) // a dead peer ends at the deadline; nothing to check
	b.ReportMetric(float64(drops.Load())/float64(b.N), "drops/op")
}

func BenchmarkMarshalMsg(b *testing.B) {
	r := fullRecord()
	buf := make([]byte, 0, r.Msgsize())
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = r.MarshalMsg(buf[:0])
	}
}

// skimAndAck reads [tag, bin, {"chunk": id, ...}] requests from c, skipping
// the entries, and answers each with {"ack": id}.
func skimAndAck(c net.Conn) {
	r := msgp.NewReaderSize(c, 64<<10)
	var ack []byte
	for {
		if _, err := r.ReadArrayHeader(); err != nil {
			return
		}
		if err := r.Skip(); err != nil { // tag
			return
		}
		if err := r.Skip(); err != nil { // entries
			return
		}
		n, err := r.ReadMapHeader()
		if err != nil {
			return
		}
		chunk := ""
		for range n {
			k, err := r.ReadString()
			if err != nil {
				return
			}
			if k == "chunk" {
				if chunk, err = r.ReadString(); err != nil {
					return
				}
			} else if err := r.Skip(); err != nil {
				return
			}
		}
		ack = msgp.AppendMapHeader(ack[:0], 1)
		ack = msgp.AppendString(ack, "ack")
		ack = msgp.AppendString(ack, chunk)
		if _, err := c.Write(ack); err != nil {
			return
		}
	}
}
