package accesslog

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tinylib/msgp/msgp"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/hopscope/hopscope/collector/forward"
	"github.com/hopscope/hopscope/internal/testkit"
)

// delivery records, by record id (the record's bytes_in), what a receiver
// took delivery of.
type delivery struct {
	mu  sync.Mutex
	ids map[int64]int
	n   int
}

func (d *delivery) add(evs []forward.Event) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ids == nil {
		d.ids = map[int64]int{}
	}
	for _, ev := range evs {
		id, _ := ev.Record[KeyBytesIn].(int64)
		d.ids[id]++
		d.n++
	}
}

func (d *delivery) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.n
}

// ackingPeer is a Fluent forward receiver (the collector's decoder) that
// counts a request's records as delivered only once its ack is written, so
// that killing it cannot leave a record counted by both sides. kill closes
// the listener and every connection at once, like a crashed Fluent Bit.
type ackingPeer struct {
	ln    net.Listener
	got   *delivery
	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
	once  sync.Once
}

func startAckingPeer(t *testing.T, addr string, got *delivery) *ackingPeer {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	p := &ackingPeer{ln: ln, got: got, conns: map[net.Conn]struct{}{}}
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			p.conns[c] = struct{}{}
			p.mu.Unlock()
			p.wg.Go(func() { p.serve(c) })
		}
	})
	t.Cleanup(p.kill)
	return p
}

func (p *ackingPeer) serve(c net.Conn) {
	defer c.Close()
	r := msgp.NewReader(c)
	for {
		evs, chunk, err := forward.Decode(r)
		if err != nil {
			return
		}
		if chunk != "" {
			ack := msgp.AppendMapHeader(nil, 1)
			ack = msgp.AppendString(ack, "ack")
			ack = msgp.AppendString(ack, chunk)
			if _, err := c.Write(ack); err != nil {
				return
			}
		}
		p.got.add(evs)
	}
}

func (p *ackingPeer) kill() {
	p.once.Do(func() {
		p.ln.Close()
		p.mu.Lock()
		for c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
}

// silentPeer reads and discards everything and never answers: a receiver
// that ignores the chunk option.
func silentPeer(t *testing.T) string {
	return testkit.Serve(t, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })
}

// TestFluentEveryRecordDeliveredOrCounted logs records to receivers that
// work, never read, read but never acknowledge, or go away mid-stream, and
// checks that every record is either delivered (once) or counted as
// dropped: delivered + dropped == logged, exactly. Bytes written into a
// connection that is then abandoned must not pass for delivered.
func TestFluentEveryRecordDeliveredOrCounted(t *testing.T) {
	type receiver struct {
		addr string
		got  *delivery // nil: the receiver delivers nothing
		// midway, if set, runs once half the records are logged, after
		// the receiver took delivery of some.
		midway func()
		// stop, if set, stops the receiver once the Logger is shut down,
		// before its deliveries are counted.
		stop func()
	}
	tests := []struct {
		name  string
		start func(t *testing.T) receiver
		// paced: Log waits while the queue is full, so nothing is
		// dropped for want of room and every record must arrive.
		paced bool
		// ackTimeout is short for receivers that never answer (the test
		// then takes less time) and the default for those that do: a
		// receiver that took a chunk but answered after the timeout would
		// have it counted both delivered and dropped, as at-least-once
		// delivery must.
		ackTimeout time.Duration
	}{
		{
			name:  "collector forward receiver",
			paced: true,
			start: func(t *testing.T) receiver {
				got := &delivery{}
				srv := startCollector(t, got.add)
				// startCollector's cleanup shuts it down; a chunk counts as
				// delivered only once handled, so nothing is left to wait for.
				return receiver{addr: srv.Addr().String(), got: got}
			},
		},
		{
			name:       "black hole: accepts, never reads",
			start:      func(t *testing.T) receiver { return receiver{addr: stalledPeer(t)} },
			ackTimeout: 300 * time.Millisecond,
		},
		{
			name:       "reads, never acknowledges",
			start:      func(t *testing.T) receiver { return receiver{addr: silentPeer(t)} },
			ackTimeout: 300 * time.Millisecond,
		},
		{
			name: "collector forward receiver shut down mid-stream",
			start: func(t *testing.T) receiver {
				got := &delivery{}
				srv := forward.NewEventServer(forward.ServerConfig{Listen: "127.0.0.1:0"}, got.add)
				if err := srv.Start(context.Background()); err != nil {
					t.Fatal(err)
				}
				stop := func() {
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					defer cancel()
					if err := srv.Shutdown(ctx); err != nil {
						t.Errorf("receiver Shutdown: %v", err)
					}
				}
				var once sync.Once
				t.Cleanup(func() { once.Do(stop) })
				return receiver{addr: srv.Addr().String(), got: got, midway: func() { once.Do(stop) }, stop: func() { once.Do(stop) }}
			},
		},
		{
			name: "receiver killed mid-stream",
			start: func(t *testing.T) receiver {
				got := &delivery{}
				p := startAckingPeer(t, "127.0.0.1:0", got)
				return receiver{addr: p.ln.Addr().String(), got: got, midway: p.kill, stop: p.kill}
			},
		},
		{
			name: "receiver killed mid-stream and back on the same port",
			start: func(t *testing.T) receiver {
				got := &delivery{}
				p := startAckingPeer(t, "127.0.0.1:0", got)
				addr := p.ln.Addr().String()
				cur := p
				return receiver{addr: addr, got: got, stop: func() { cur.kill() }, midway: func() {
					p.kill()
					cur = startAckingPeer(t, addr, got)
				}}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rcv := tt.start(t)
			var dropped atomic.Int64
			l, err := New(Config{
				FluentAddress:     rcv.addr,
				FluentBufferLimit: 2000,
				FluentAckTimeout:  tt.ackTimeout,
				FlushInterval:     20 * time.Millisecond,
				Logger:            zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)),
				OnDrop: func(sink string, n int) {
					if sink != SinkFluent {
						t.Errorf("drop from sink %q", sink)
					}
					dropped.Add(int64(n))
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			const total = 20_000
			r := fullRecord()
			for i := range total {
				if i == total/2 && rcv.midway != nil {
					testkit.Eventually(t, "a first delivery", 10*time.Second, func() bool { return rcv.got.count() > 0 })
					rcv.midway()
				}
				if tt.paced {
					testkit.Eventually(t, "room in the queue", 10*time.Second, func() bool { return !l.ship.full() })
				}
				r.BytesIn = int64(i)
				l.Log(r)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			serr := l.Shutdown(ctx)
			if rcv.stop != nil {
				rcv.stop()
			}

			delivered := 0
			if rcv.got != nil {
				rcv.got.mu.Lock()
				for id, n := range rcv.got.ids {
					if n != 1 || id < 0 || id >= total {
						t.Errorf("record %d delivered %d times", id, n)
					}
				}
				delivered = rcv.got.n
				rcv.got.mu.Unlock()
			}
			d := int(dropped.Load())
			t.Logf("logged %d, delivered %d, dropped %d; Shutdown: %v", total, delivered, d, serr)
			if delivered+d != total {
				t.Errorf("delivered %d + dropped %d = %d, want the %d logged", delivered, d, delivered+d, total)
			}
			if tt.paced && delivered != total {
				t.Errorf("delivered %d of %d with a working receiver", delivered, total)
			}
			if records, held := l.ship.usage(); records != 0 || held != 0 {
				t.Errorf("after Shutdown the queue holds %d records in %d bytes", records, held)
			}
			// What the sidecar reports (hopscope_telemetry_sent_total,
			// _queued) matches what the receiver got.
			if sent, queued := l.FluentCounts(); int(sent) != delivered || queued != 0 {
				t.Errorf("FluentCounts = %d sent, %d queued; the receiver got %d", sent, queued, delivered)
			}
		})
	}
}

// TestFluentBufferBytesBound logs records of every size, some larger than a
// chunk, to a receiver that never reads: the bytes the queue holds never
// exceed FluentBufferBytes nor the records FluentBufferLimit, and every
// record is delivered or counted.
func TestFluentBufferBytesBound(t *testing.T) {
	tests := []struct {
		name    string
		bytes   int
		records int
		uaSizes []int
	}{
		{name: "small records, the record limit binds", bytes: 1 << 20, records: 100, uaSizes: []int{10}},
		{name: "mixed sizes, the byte limit binds", bytes: 256 << 10, records: 100_000, uaSizes: []int{10, 2 << 10, 30 << 10, 70 << 10}},
		{name: "records larger than the whole limit", bytes: MinFluentBufferBytes, records: 1000, uaSizes: []int{20 << 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var dropped atomic.Int64
			l, err := New(Config{
				FluentAddress:     stalledPeer(t),
				FluentBufferLimit: tt.records,
				FluentBufferBytes: tt.bytes,
				FluentAckTimeout:  200 * time.Millisecond,
				FlushInterval:     time.Millisecond,
				OnDrop:            func(_ string, n int) { dropped.Add(int64(n)) },
			})
			if err != nil {
				t.Fatal(err)
			}
			r := fullRecord()
			const total = 3000
			maxHeld, maxRecords := 0, 0
			for i := range total {
				r.UserAgent = strings.Repeat("u", tt.uaSizes[i%len(tt.uaSizes)])
				r.BytesIn = int64(i)
				l.Log(r)
				records, held := l.ship.usage()
				maxHeld, maxRecords = max(maxHeld, held), max(maxRecords, records)
				if held > tt.bytes || records > tt.records {
					t.Fatalf("after record %d: %d records in %d bytes, limits %d records, %d bytes", i, records, held, tt.records, tt.bytes)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_ = l.Shutdown(ctx)
			t.Logf("peak %d records in %d bytes; dropped %d", maxRecords, maxHeld, dropped.Load())
			if n := dropped.Load(); n != total {
				t.Errorf("dropped %d, want all %d (nothing can be delivered)", n, total)
			}
		})
	}
}

// TestFluentAckMismatch: an ack for another chunk is no ack.
func TestFluentAckMismatch(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				r := msgp.NewReader(c)
				for {
					if _, _, err := forward.Decode(r); err != nil {
						return
					}
					ack := msgp.AppendMapHeader(nil, 1)
					ack = msgp.AppendString(ack, "ack")
					ack = msgp.AppendString(ack, "not-the-chunk")
					if _, err := c.Write(ack); err != nil {
						return
					}
				}
			})
		}
	})
	var dropped atomic.Int64
	l, err := New(Config{FluentAddress: ln.Addr().String(), FlushInterval: time.Millisecond,
		OnDrop: func(_ string, n int) { dropped.Add(int64(n)) }})
	if err != nil {
		t.Fatal(err)
	}
	l.Log(fullRecord())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := l.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatal(err)
	}
	if n := dropped.Load(); n != 1 {
		t.Errorf("dropped %d, want 1", n)
	}
}
