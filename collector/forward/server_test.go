package forward

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fluent/fluent-logger-golang/fluent"
	"github.com/hopscope/hopscope/internal/testkit"
	"github.com/tinylib/msgp/msgp"
)

// collector gathers the events a Server hands over.
type collector struct {
	mu     sync.Mutex
	events []Event
	notify chan struct{}
}

func newCollector() *collector { return &collector{notify: make(chan struct{}, 1)} }

func (c *collector) handle(evs []Event) {
	c.mu.Lock()
	c.events = append(c.events, evs...)
	c.mu.Unlock()
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

// wait returns once n events arrived, or fails the test after a timeout.
func (c *collector) wait(t *testing.T, n int) []Event {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		c.mu.Lock()
		if len(c.events) >= n {
			out := append([]Event(nil), c.events...)
			c.mu.Unlock()
			return out
		}
		c.mu.Unlock()
		select {
		case <-c.notify:
		case <-deadline:
			t.Fatalf("timed out waiting for %d events", n)
		}
	}
}

func startServer(t *testing.T, cfg ServerConfig, handle func([]Event)) *Server {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	s := NewEventServer(cfg, handle)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return s
}

func dial(t *testing.T, s *Server) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", s.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	return c
}

func readAck(t *testing.T, r *msgp.Reader) string {
	t.Helper()
	n, err := r.ReadMapHeader()
	if err != nil {
		t.Fatalf("read ack: %v", err)
	}
	if n != 1 {
		t.Fatalf("ack map has %d keys", n)
	}
	if k, err := r.ReadString(); err != nil || k != "ack" {
		t.Fatalf("ack key %q, %v", k, err)
	}
	v, err := r.ReadString()
	if err != nil {
		t.Fatalf("ack value: %v", err)
	}
	return v
}

func TestServerModesAndAcks(t *testing.T) {
	col := newCollector()
	s := startServer(t, ServerConfig{}, col.handle)
	c := dial(t, s)
	r := msgp.NewReader(c)

	stream := concat(entry(t0, false, "m", "p1"), entry(t1, true, "m", "p2"))
	requests := []struct {
		name   string
		in     []byte
		chunk  string
		events int
	}{
		{"message", messageMode("tag.m", t0, "ck-1", "m", "msg"), "ck-1", 1},
		{"heartbeat", msgp.AppendNil(nil), "", 0},
		{"message without ack", messageMode("tag.m", t0, "", "m", "msg2"), "", 1},
		{"forward", forwardMode("tag.f", "ck-2", entry(t0, false, "m", "f1"), entry(t1, true, "m", "f2")), "ck-2", 2},
		{"packed", packedMode("tag.p", stream, false, "chunk", "ck-3"), "ck-3", 2},
		{"compressed", packedMode("tag.c", gzipBytes(t, stream), false, "compressed", "gzip", "chunk", "ck-4"), "ck-4", 2},
	}
	total := 0
	for _, rq := range requests {
		if _, err := c.Write(rq.in); err != nil {
			t.Fatalf("%s: write: %v", rq.name, err)
		}
		total += rq.events
		if rq.chunk != "" {
			if got := readAck(t, r); got != rq.chunk {
				t.Errorf("%s: ack %q, want %q", rq.name, got, rq.chunk)
			}
		}
	}
	evs := col.wait(t, total)
	var tags []string
	for _, e := range evs {
		tags = append(tags, e.Tag+"="+e.Record["m"].(string))
	}
	want := "tag.m=msg,tag.m=msg2,tag.f=f1,tag.f=f2,tag.p=p1,tag.p=p2,tag.c=p1,tag.c=p2"
	if got := strings.Join(tags, ","); got != want {
		t.Errorf("events %s\nwant %s", got, want)
	}
	// The counter of an ack moves just after the client could read it.
	waitStats(t, s, func(st Stats) bool {
		return st.AcceptedEvents == uint64(total) && st.Acks == 4 &&
			st.AcceptedRequests == uint64(len(requests)) && st.RejectedRequests == 0
	})
}

func TestServerZeroTimeGetsArrivalTime(t *testing.T) {
	col := newCollector()
	s := startServer(t, ServerConfig{}, col.handle)
	c := dial(t, s)
	in := concat(msgp.AppendArrayHeader(nil, 3), msgp.AppendString(nil, "z"), msgp.AppendInt(nil, 0), appendRecord(nil, "k", "v"))
	before := time.Now()
	if _, err := c.Write(in); err != nil {
		t.Fatal(err)
	}
	ev := col.wait(t, 1)[0]
	if ev.Time.Before(before.Add(-time.Second)) || ev.Time.After(time.Now().Add(time.Second)) {
		t.Fatalf("time %v not the arrival time", ev.Time)
	}
}

func TestServerMalformedClosesOnlyThatConnection(t *testing.T) {
	col := newCollector()
	var mu sync.Mutex
	var rejects []error
	s := startServer(t, ServerConfig{OnReject: func(_ net.Addr, err error) {
		mu.Lock()
		rejects = append(rejects, err)
		mu.Unlock()
	}}, col.handle)

	good := dial(t, s)
	bad := dial(t, s)
	goodR := msgp.NewReader(good)

	if _, err := good.Write(messageMode("a", t0, "g1", "k", "v")); err != nil {
		t.Fatal(err)
	}
	if got := readAck(t, goodR); got != "g1" {
		t.Fatalf("ack %q", got)
	}

	if _, err := bad.Write([]byte("GET / HTTP/1.1\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	// The server closes the bad connection: the read ends with EOF or reset.
	buf := make([]byte, 16)
	if n, err := bad.Read(buf); err == nil {
		t.Fatalf("bad connection still open, read %q", buf[:n])
	} else if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
		t.Fatalf("bad connection not closed: %v", err)
	}

	// The good connection goes on.
	if _, err := good.Write(forwardMode("a", "g2", entry(t1, true, "k", "v2"))); err != nil {
		t.Fatal(err)
	}
	if got := readAck(t, goodR); got != "g2" {
		t.Fatalf("ack %q", got)
	}
	col.wait(t, 2)
	waitStats(t, s, func(st Stats) bool { return st.RejectedRequests == 1 && st.AcceptedEvents == 2 })
	mu.Lock()
	defer mu.Unlock()
	if len(rejects) != 1 || !strings.HasPrefix(rejects[0].Error(), "forward: request: expected array") {
		t.Errorf("rejects %v", rejects)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestServerLimitRejects(t *testing.T) {
	s := startServer(t, ServerConfig{Limits: Limits{MaxEntryBytes: 512}}, nil)
	c := dial(t, s)
	if _, err := c.Write(messageMode("a", t0, "x", "k", strings.Repeat("v", 1024))); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(c); err != nil && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("read: %v", err)
	}
	waitStats(t, s, func(st Stats) bool { return st.RejectedRequests == 1 })
}

func TestServerMaxConnections(t *testing.T) {
	s := startServer(t, ServerConfig{MaxConnections: 1}, nil)
	first := dial(t, s)
	if _, err := first.Write(messageMode("a", t0, "1", "k", "v")); err != nil {
		t.Fatal(err)
	}
	if got := readAck(t, msgp.NewReader(first)); got != "1" {
		t.Fatalf("ack %q", got)
	}
	second := dial(t, s)
	if _, err := io.ReadAll(second); err != nil && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("second connection: %v", err)
	}
	waitStats(t, s, func(st Stats) bool { return st.RefusedConnections == 1 && st.OpenConnections == 1 })
}

func TestServerShutdownClosesIdleConnections(t *testing.T) {
	s := NewEventServer(ServerConfig{Listen: "127.0.0.1:0"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err == nil {
		t.Error("second Start: no error")
	}
	c := dial(t, s)
	if _, err := c.Write(messageMode("a", t0, "1", "k", "v")); err != nil {
		t.Fatal(err)
	}
	if got := readAck(t, msgp.NewReader(c)); got != "1" {
		t.Fatalf("ack %q", got)
	}
	start := time.Now()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Shutdown took %v", d)
	}
	if _, err := io.ReadAll(c); err != nil && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("connection after shutdown: %v", err)
	}
	if st := s.Stats(); st.OpenConnections != 0 || st.RejectedRequests != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestServerStartError(t *testing.T) {
	s := NewEventServer(ServerConfig{Listen: "127.0.0.1:notaport"}, nil)
	err := s.Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), `forward: listen on "127.0.0.1:notaport"`) {
		t.Fatalf("Start: %v", err)
	}
	if s.Addr() != nil {
		t.Error("Addr before a successful Start is not nil")
	}
}

// TestServerFluentLoggerClient checks interoperability with a client we
// did not write: fluent-logger-golang in sync mode with acks requested.
func TestServerFluentLoggerClient(t *testing.T) {
	col := newCollector()
	s := startServer(t, ServerConfig{}, col.handle)
	addr := s.Addr().(*net.TCPAddr)
	for _, subSecond := range []bool{false, true} {
		f, err := fluent.New(fluent.Config{
			FluentHost:         addr.IP.String(),
			FluentPort:         addr.Port,
			RequestAck:         true,
			SubSecondPrecision: subSecond,
			Timeout:            5 * time.Second,
			ReadTimeout:        5 * time.Second,
			WriteTimeout:       5 * time.Second,
			MaxRetry:           1,
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := f.PostWithTime("client.test", t0, map[string]any{"n": 1, "s": "x"}); err != nil {
			t.Fatalf("Post: %v", err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	evs := col.wait(t, 2)
	if evs[0].Time != t0.Truncate(time.Second) || evs[1].Time != t0 {
		t.Errorf("times %v, %v", evs[0].Time, evs[1].Time)
	}
	for _, e := range evs {
		if e.Tag != "client.test" || e.Record["n"] != int64(1) || e.Record["s"] != "x" {
			t.Errorf("event %+v", e)
		}
	}
	waitStats(t, s, func(st Stats) bool { return st.Acks == 2 })
}

// waitStats waits until ok holds for the server's counters.
func waitStats(t *testing.T, s *Server, ok func(Stats) bool) {
	t.Helper()
	testkit.Eventually(t, "the server's counters", 5*time.Second, func() bool { return ok(s.Stats()) },
		func() string { return fmt.Sprintf("stats %+v", s.Stats()) })
}

// reasons records the OnConnClosed calls.
type reasons struct {
	mu sync.Mutex
	by map[string]int
}

func (r *reasons) note(reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.by == nil {
		r.by = map[string]int{}
	}
	r.by[reason]++
}

func (r *reasons) get(reason string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.by[reason]
}

// TestServerIdleConnectionsCannotLockOut replays issue 19 item 7: 1,024
// connections that send nothing used to fill the default connection limit
// and refuse every Fluent sender (uncounted). The silent ones are now
// evicted for the sender, and every eviction is reported.
func TestServerIdleConnectionsCannotLockOut(t *testing.T) {
	var rs reasons
	s := startServer(t, ServerConfig{OnConnClosed: rs.note}, nil)
	idle := make([]net.Conn, DefaultMaxConnections)
	for i := range idle {
		idle[i] = dial(t, s)
	}
	waitStats(t, s, func(st Stats) bool { return st.OpenConnections == DefaultMaxConnections })
	for i := range 3 {
		c := dial(t, s)
		chunk := string(rune('a' + i))
		if _, err := c.Write(messageMode("app", t0, chunk, "k", "v")); err != nil {
			t.Fatal(err)
		}
		if got := readAck(t, msgp.NewReader(c)); got != chunk {
			t.Fatalf("sender %d: ack %q", i, got)
		}
	}
	waitStats(t, s, func(st Stats) bool {
		return st.EvictedConnections == 3 && st.RefusedConnections == 0 && st.OpenConnections == DefaultMaxConnections
	})
	if got := rs.get(ReasonEvicted); got != 3 {
		t.Errorf("OnConnClosed(%s) %d times, want 3", ReasonEvicted, got)
	}
	// The oldest silent connections went first.
	for i, c := range idle[:3] {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil || isTimeout(err) {
			t.Errorf("idle connection %d not closed: %v", i, err)
		}
	}
}

// TestServerConnectionTimeoutsCounted: a connection silent past
// FirstByteTimeout, one idle past IdleTimeout after a request, one whose
// request stops half-way, and one refused because every open connection
// has spoken, each closed and reported with its reason.
func TestServerConnectionTimeoutsCounted(t *testing.T) {
	var rs reasons
	s := startServer(t, ServerConfig{MaxConnections: 3, FirstByteTimeout: 100 * time.Millisecond,
		IdleTimeout: 400 * time.Millisecond, OnConnClosed: rs.note}, nil)
	start := time.Now()
	silent := dial(t, s)
	if _, err := io.ReadAll(silent); err != nil && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("silent connection: %v", err)
	}
	if d := time.Since(start); d > 350*time.Millisecond {
		t.Errorf("silent connection closed after %v, want the first-byte timeout", d)
	}
	waitStats(t, s, func(st Stats) bool { return st.TimedOutConnections == 1 })

	// Three connections that spoke fill the server; a fourth is refused.
	var spoke []net.Conn
	for i := range 3 {
		c := dial(t, s)
		msg := messageMode("app", t0, "x", "k", "v")
		if i == 2 {
			msg = msg[:len(msg)-3] // half a request
		}
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		if i < 2 {
			readAck(t, msgp.NewReader(c))
		}
		spoke = append(spoke, c)
	}
	waitStats(t, s, func(st Stats) bool { return st.OpenConnections == 3 })
	testkit.Eventually(t, "3 connections that spoke", 5*time.Second, func() bool { return spokeCount(s) >= 3 },
		func() string { return fmt.Sprintf("%d connections spoke", spokeCount(s)) })
	refused := dial(t, s)
	if _, err := io.ReadAll(refused); err != nil && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("refused connection: %v", err)
	}
	waitStats(t, s, func(st Stats) bool { return st.RefusedConnections == 1 })
	// The three then time out: two idle after their request, one mid-request.
	waitStats(t, s, func(st Stats) bool { return st.TimedOutConnections == 4 && st.OpenConnections == 0 })
	want := map[string]int{ReasonIdleTimeout: 3, ReasonReadTimeout: 1, ReasonConnLimit: 1, ReasonEvicted: 0}
	for reason, n := range want {
		if got := rs.get(reason); got != n {
			t.Errorf("OnConnClosed(%s) %d times, want %d", reason, got, n)
		}
	}
}

// spokeCount is the number of open connections that have sent a byte.
func spokeCount(s *Server) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, st := range s.conns {
		if st.spoke {
			n++
		}
	}
	return n
}
