package forward

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tinylib/msgp/msgp"
)

// TestRefusePausesConnections: while Refuse reports true the server stops
// reading its connections — a read under way completes, the next one
// waits — so a sender's writes back up in TCP instead of the collector's
// heap; each pause is counted once, however long; when Refuse turns false
// the server reads on and every record sent arrives, none lost, with its
// ack. The pause outlasting FirstByteTimeout and IdleTimeout closes
// nothing.
func TestRefusePausesConnections(t *testing.T) {
	var refusing atomic.Bool
	var mu sync.Mutex
	var paused []net.Addr
	var events atomic.Int64
	s := startServer(t, ServerConfig{
		IdleTimeout: 300 * time.Millisecond, FirstByteTimeout: 300 * time.Millisecond,
		Refuse:  refusing.Load,
		OnPause: func(a net.Addr) { mu.Lock(); paused = append(paused, a); mu.Unlock() },
	}, func(evs []Event) { events.Add(int64(len(evs))) })
	c := dial(t, s)
	r := msgp.NewReader(c)

	// Accepting: request 1 goes through.
	if _, err := c.Write(messageMode("t", t0, "c1", "m", "1")); err != nil {
		t.Fatal(err)
	}
	if got := readAck(t, r); got != "c1" {
		t.Fatalf("ack %q", got)
	}
	// Refusing begins while the server may already be in its next read
	// (then request 2 completes that read and the read after it pauses)
	// or not yet (then it pauses before request 2): either way it pauses
	// once, and request 2 is acked before the requests sent after it.
	refusing.Store(true)
	if _, err := c.Write(messageMode("t", t0, "c2", "m", "2")); err != nil {
		t.Fatal(err)
	}
	waitStats(t, s, func(st Stats) bool { return st.Pauses == 1 })

	// Far more than the socket buffers hold (a few MiB on loopback): the
	// writer blocks while the connection is paused.
	const requests, perRequest = 2000, 100
	entries := make([][]byte, perRequest)
	for i := range entries {
		entries[i] = entry(t0, false, "m", fmt.Sprintf("%0100d", i))
	}
	var stream []byte
	for i := range requests {
		chunk := ""
		if i == requests-1 {
			chunk = "last"
		}
		stream = append(stream, forwardMode("t", chunk, entries...)...)
	}
	written := make(chan error, 1)
	go func() { _, err := c.Write(stream); written <- err }()

	// Paused for three times the timeouts: nothing read, nothing closed.
	time.Sleep(time.Second)
	select {
	case err := <-written:
		t.Fatalf("%d bytes written to a paused connection (%v): it was read", len(stream), err)
	default:
	}
	if n := events.Load(); n != 1 && n != 2 {
		t.Fatalf("%d events handled while paused, want the 1 or 2 before", n)
	}
	if st := s.Stats(); st.OpenConnections != 1 || st.TimedOutConnections != 0 || st.Pauses != 1 {
		t.Fatalf("while paused: %+v", st)
	}

	refusing.Store(false)
	if err := <-written; err != nil {
		t.Fatalf("write after the pause: %v", err)
	}
	for _, want := range []string{"c2", "last"} {
		if got := readAck(t, r); got != want {
			t.Fatalf("ack %q, want %q", got, want)
		}
	}
	if n := events.Load(); n != 2+requests*perRequest {
		t.Fatalf("%d events, want %d: records lost", n, 2+requests*perRequest)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(paused) != 1 || paused[0].String() != c.LocalAddr().String() {
		t.Errorf("OnPause calls %v, want one for %v", paused, c.LocalAddr())
	}
}

// TestRefusePausesNewConnections: a connection accepted while refusing is
// not read until refusing ends, and then gets its full first-byte time;
// Shutdown ends a pause at once.
func TestRefusePausesNewConnections(t *testing.T) {
	var refusing atomic.Bool
	refusing.Store(true)
	var events atomic.Int64
	s := NewEventServer(ServerConfig{Listen: "127.0.0.1:0", FirstByteTimeout: 200 * time.Millisecond, Refuse: refusing.Load},
		func(evs []Event) { events.Add(int64(len(evs))) })
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	c := dial(t, s)
	if _, err := c.Write(messageMode("t", t0, "", "m", "1")); err != nil {
		t.Fatal(err)
	}
	waitStats(t, s, func(st Stats) bool { return st.Pauses == 1 })
	time.Sleep(400 * time.Millisecond) // twice FirstByteTimeout
	if st := s.Stats(); events.Load() != 0 || st.TimedOutConnections != 0 || st.OpenConnections != 1 {
		t.Fatalf("while paused: %d events, %+v", events.Load(), st)
	}
	refusing.Store(false)
	waitStats(t, s, func(Stats) bool { return events.Load() == 1 })

	// Paused again, on the next read; Shutdown does not wait for it.
	refusing.Store(true)
	if _, err := c.Write(messageMode("t", t0, "", "m", "2")); err != nil {
		t.Fatal(err)
	}
	waitStats(t, s, func(st Stats) bool { return st.Pauses == 2 })
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown with a paused connection: %v", err)
	}
	if st := s.Stats(); st.OpenConnections != 0 || st.TimedOutConnections != 0 {
		t.Errorf("after Shutdown: %+v", st)
	}
}
