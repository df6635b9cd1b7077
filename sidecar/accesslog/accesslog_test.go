package accesslog

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tinylib/msgp/msgp"

	"github.com/hopscope/hopscope/collector/forward"
	"github.com/hopscope/hopscope/internal/testkit"
)

var berlin = time.FixedZone("CEST", 2*3600)

// fullRecord has every field set, in a non-UTC zone.
func fullRecord() *Record {
	return &Record{
		Time:         time.Date(2024, 5, 6, 9, 8, 9, 123456789, berlin),
		Service:      "shop",
		TraceID:      "4bf92f3577b34da6a3ce929d0e0e4736",
		SpanID:       "00f067aa0ba902b7",
		RequestID:    "req-1",
		Method:       "GET",
		Path:         "/orders/42",
		Query:        "page=2&token=REDACTED",
		Route:        "/orders/{id}",
		Proto:        "HTTP/1.1",
		Status:       200,
		BytesIn:      12,
		BytesOut:     3456789012,
		Duration:     183200 * time.Microsecond,
		AppDuration:  180123456 * time.Nanosecond, // rounds to 180.123 ms
		Overhead:     3076544 * time.Nanosecond,   // rounds to 3.077 ms
		QueueTime:    1500 * time.Microsecond,
		HasQueueTime: true,
		ClientAddr:   "10.0.0.7:51234",
		UserAgent:    "curl/8.5.0 \"quoted\"\nsecond line",
	}
}

// wantFields is what fullRecord looks like once decoded, with numbers as
// float64 (JSON) and int64/float64 (msgpack) normalised to float64.
func wantFields(r *Record) map[string]any {
	m := map[string]any{
		KeyTime:       r.Time.UTC().Format(time.RFC3339Nano),
		KeyService:    r.Service,
		KeyTraceID:    r.TraceID,
		KeySpanID:     r.SpanID,
		KeyRequestID:  r.RequestID,
		KeyMethod:     r.Method,
		KeyPath:       r.Path,
		KeyRoute:      r.Route,
		KeyProto:      r.Proto,
		KeyStatus:     int64(r.Status),
		KeyBytesIn:    r.BytesIn,
		KeyBytesOut:   r.BytesOut,
		KeyDurationMS: Millis(r.Duration),
		KeyAppMS:      Millis(r.AppDuration),
		KeyOverheadMS: Millis(r.Overhead),
		KeyClientAddr: r.ClientAddr,
		KeyUserAgent:  r.UserAgent,
	}
	if r.Query != "" {
		m[KeyQuery] = r.Query
	}
	if r.HasQueueTime {
		m[KeyQueueMS] = Millis(r.QueueTime)
	}
	return m
}

// decodeJSONLine decodes one line with *_ms numbers as float64 and other
// integers as int64.
func decodeJSONLine(t *testing.T, line string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(line))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("line %q: %v", line, err)
	}
	for k, v := range m {
		if n, ok := v.(json.Number); ok {
			// JSON has one number type: "5" is a whole float for *_ms keys.
			if i, err := n.Int64(); err == nil && !strings.HasSuffix(k, "_ms") {
				m[k] = i
			} else if f, err := n.Float64(); err == nil {
				m[k] = f
			}
		}
	}
	return m
}

func TestMillis(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want float64
	}{
		{0, 0},
		{time.Microsecond, 0.001},
		{499 * time.Nanosecond, 0},
		{500 * time.Nanosecond, 0.001},
		{1234567 * time.Nanosecond, 1.235},
		{183200 * time.Microsecond, 183.2},
		{2 * time.Second, 2000},
		{-1500 * time.Microsecond, -1.5},
	}
	for _, tt := range tests {
		if got := Millis(tt.d); got != tt.want {
			t.Errorf("Millis(%v) = %v, want %v", tt.d, got, tt.want)
		}
	}
}

func TestStdoutJSONLine(t *testing.T) {
	minimal := &Record{
		Time:    time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC),
		Service: "api", Method: "POST", Path: "/", Route: "/", Proto: "HTTP/2.0",
		Status: 503, Duration: 5 * time.Millisecond,
	}
	tests := []struct {
		name       string
		rec        *Record
		wantPrefix string
		absent     []string
	}{
		{name: "all fields", rec: fullRecord(), wantPrefix: `{"time":"2024-05-06T07:08:09.123456789Z","service":"shop","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736",`},
		{name: "optional keys omitted", rec: minimal, wantPrefix: `{"time":"2024-01-02T03:04:05Z","service":"api",`, absent: []string{KeyQuery, KeyQueueMS}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out testkit.SyncBuffer
			l, err := New(Config{Stdout: &out})
			if err != nil {
				t.Fatal(err)
			}
			l.Log(tt.rec)
			shutdown(t, l, 5*time.Second)

			text := out.String()
			if strings.Count(text, "\n") != 1 || !strings.HasSuffix(text, "\n") {
				t.Fatalf("want exactly one line, got %q", text)
			}
			if !strings.HasPrefix(text, tt.wantPrefix) {
				t.Errorf("line %q\ndoes not start with %q", text, tt.wantPrefix)
			}
			got := decodeJSONLine(t, text)
			want := wantFields(tt.rec)
			for k, w := range want {
				if g, ok := got[k]; !ok {
					t.Errorf("%s: missing", k)
				} else if g != w {
					t.Errorf("%s = %#v, want %#v", k, g, w)
				}
			}
			for k := range got {
				if _, ok := want[k]; !ok {
					t.Errorf("unexpected key %q", k)
				}
			}
			for _, k := range tt.absent {
				if strings.Contains(text, `"`+k+`"`) {
					t.Errorf("key %q present", k)
				}
			}
		})
	}
}

func TestStdoutKeyOrder(t *testing.T) {
	var out testkit.SyncBuffer
	l, err := New(Config{Stdout: &out})
	if err != nil {
		t.Fatal(err)
	}
	l.Log(fullRecord())
	shutdown(t, l, 5*time.Second)
	order := []string{KeyTime, KeyService, KeyTraceID, KeySpanID, KeyRequestID, KeyMethod, KeyPath, KeyQuery,
		KeyRoute, KeyProto, KeyStatus, KeyBytesIn, KeyBytesOut, KeyDurationMS, KeyAppMS, KeyOverheadMS,
		KeyQueueMS, KeyClientAddr, KeyUserAgent}
	text := out.String()
	last := -1
	for _, k := range order {
		i := strings.Index(text, `"`+k+`":`)
		if i < 0 || i < last {
			t.Fatalf("key %q at %d, previous at %d in %s", k, i, last, text)
		}
		last = i
	}
}

func TestStdoutManyRecordsOneLineEach(t *testing.T) {
	var out testkit.SyncBuffer
	l, err := New(Config{Stdout: &out, FlushInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	const goroutines, each = 4, 500
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Go(func() {
			r := fullRecord()
			for i := 0; i < each; i++ {
				r.Status = 200 + g
				l.Log(r)
			}
		})
	}
	wg.Wait()
	shutdown(t, l, 5*time.Second)
	sc := bufio.NewScanner(strings.NewReader(out.String()))
	n := 0
	for sc.Scan() {
		m := decodeJSONLine(t, sc.Text())
		if m[KeyTraceID] != fullRecord().TraceID {
			t.Fatalf("line %d: %v", n, m)
		}
		n++
	}
	if n != goroutines*each {
		t.Fatalf("%d lines, want %d", n, goroutines*each)
	}
}

// TestMarshalMsgMatchesJSON checks that the msgpack record carries the
// same keys, values and value kinds as the JSON line.
func TestMarshalMsgMatchesJSON(t *testing.T) {
	for _, r := range []*Record{fullRecord(), {Time: time.Unix(1, 0)}} {
		b, err := r.MarshalMsg(nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > r.Msgsize() {
			t.Errorf("encoded %d bytes, Msgsize %d", len(b), r.Msgsize())
		}
		m, rest, err := msgp.ReadMapStrIntfBytes(b, nil)
		if err != nil || len(rest) != 0 {
			t.Fatalf("decode: %v, %d bytes left", err, len(rest))
		}
		normalised := map[string]any{}
		for k, v := range m {
			switch v := v.(type) {
			case int64, float64, string:
				normalised[k] = v
			default:
				t.Errorf("%s: unexpected msgpack type %T", k, v)
			}
		}
		var out testkit.SyncBuffer
		l, err := New(Config{Stdout: &out})
		if err != nil {
			t.Fatal(err)
		}
		l.Log(r)
		shutdown(t, l, 5*time.Second)
		fromJSON := decodeJSONLine(t, out.String())
		if !reflect.DeepEqual(normalised, fromJSON) {
			t.Errorf("msgpack %v\n   json %v", normalised, fromJSON)
		}
		if !reflect.DeepEqual(normalised, wantFields(r)) {
			t.Errorf("msgpack %v\n   want %v", normalised, wantFields(r))
		}
		// Appending keeps what b already held.
		b2, _ := r.MarshalMsg([]byte{0xc0})
		if b2[0] != 0xc0 || !bytes.Equal(b2[1:], b) {
			t.Error("MarshalMsg does not append")
		}
	}
}

func shutdown(t *testing.T, l *Logger, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if err := l.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// events collects what a forward.Server received.
type events struct {
	mu  sync.Mutex
	evs []forward.Event
}

func (e *events) handle(evs []forward.Event) {
	e.mu.Lock()
	e.evs = append(e.evs, evs...)
	e.mu.Unlock()
}

func (e *events) waitFor(t *testing.T, n int) []forward.Event {
	t.Helper()
	var got []forward.Event
	testkit.Eventually(t, fmt.Sprintf("%d events", n), 10*time.Second, func() bool {
		e.mu.Lock()
		got = append([]forward.Event(nil), e.evs...)
		e.mu.Unlock()
		return len(got) >= n
	}, func() string { return fmt.Sprintf("got %d events", len(got)) })
	return got
}

func startCollector(t testing.TB, handle func([]forward.Event)) *forward.Server {
	t.Helper()
	s := forward.NewEventServer(forward.ServerConfig{Listen: "127.0.0.1:0"}, handle)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("collector Shutdown: %v", err)
		}
	})
	return s
}

// TestFluentRoundTrip ships records with fluent-logger-golang to our
// forward server and checks every field, the event time and the tag.
func TestFluentRoundTrip(t *testing.T) {
	tests := []struct {
		name    string
		tag     string
		wantTag string
	}{
		{name: "default tag", wantTag: DefaultFluentTag},
		{name: "custom tag", tag: "shop.access", wantTag: "shop.access"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got events
			srv := startCollector(t, got.handle)
			var drops atomic.Int64
			l, err := New(Config{
				FluentAddress: srv.Addr().String(),
				FluentTag:     tt.tag,
				OnDrop:        func(_ string, n int) { drops.Add(int64(n)) },
			})
			if err != nil {
				t.Fatal(err)
			}
			full := fullRecord()
			minimal := &Record{Time: time.Date(2024, 1, 2, 3, 4, 5, 6000, time.UTC), TraceID: "0af7651916cd43dd8448eb211c80319c", Status: 404}
			sent := []*Record{full, minimal}
			for _, r := range sent {
				l.Log(r)
			}
			shutdown(t, l, 10*time.Second)
			evs := got.waitFor(t, len(sent))
			if len(evs) != len(sent) {
				t.Fatalf("got %d events", len(evs))
			}
			for i, ev := range evs {
				r := sent[i]
				if ev.Tag != tt.wantTag {
					t.Errorf("event %d: tag %q, want %q", i, ev.Tag, tt.wantTag)
				}
				if !ev.Time.Equal(r.Time) {
					t.Errorf("event %d: time %v, want %v", i, ev.Time, r.Time)
				}
				want := wantFields(r)
				for k, w := range want {
					if g, ok := ev.Record[k]; !ok {
						t.Errorf("event %d: %s missing", i, k)
					} else if g != w {
						t.Errorf("event %d: %s = %#v (%T), want %#v (%T)", i, k, g, g, w, w)
					}
				}
				if len(ev.Record) != len(want) {
					t.Errorf("event %d: %d keys, want %d: %v", i, len(ev.Record), len(want), ev.Record)
				}
			}
			if n := drops.Load(); n != 0 {
				t.Errorf("%d drops", n)
			}
		})
	}
}

// freeClosedPort returns a loopback address nothing listens on.
func freeClosedPort(t *testing.T) string { return testkit.ClosedAddr(t) }

// stalledPeer accepts connections and never reads from them, like a Fluent
// Bit that hangs.
func stalledPeer(t *testing.T) string { return testkit.BlackHole(t) }

// TestFailOpen logs 50k records from 8 goroutines to a Fluent Bit that is
// dead or stalled: Log must not block, drops are reported, and Shutdown
// returns by its deadline with every record accounted for.
func TestFailOpen(t *testing.T) {
	tests := []struct {
		name string
		addr func(t *testing.T) string
	}{
		{name: "closed port", addr: freeClosedPort},
		{name: "stalled peer", addr: stalledPeer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var drops atomic.Int64
			l, err := New(Config{
				FluentAddress: tt.addr(t),
				OnDrop: func(sink string, n int) {
					if sink != SinkFluent {
						t.Errorf("drop from sink %q", sink)
					}
					drops.Add(int64(n))
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			const goroutines, each = 8, 50_000 / 8
			start := time.Now()
			var wg sync.WaitGroup
			for g := 0; g < goroutines; g++ {
				wg.Go(func() {
					r := fullRecord()
					for i := 0; i < each; i++ {
						r.BytesIn = int64(i)
						l.Log(r)
					}
				})
			}
			wg.Wait()
			logged := time.Since(start)
			// A hang guard, not a speed goal.
			if logged > 5*time.Second {
				t.Fatalf("logging 50k records took %v", logged)
			}
			if drops.Load() == 0 {
				t.Error("no drops reported while Fluent Bit is down")
			}

			const budget = 2 * time.Second
			ctx, cancel := context.WithTimeout(context.Background(), budget)
			defer cancel()
			start = time.Now()
			err = l.Shutdown(ctx)
			took := time.Since(start)
			if took > budget+500*time.Millisecond {
				t.Fatalf("Shutdown took %v with a %v deadline", took, budget)
			}
			if err != nil {
				t.Logf("Shutdown: %v (gave up at the deadline)", err)
			} else if n := drops.Load(); n != goroutines*each && tt.name == "closed port" {
				// Nothing can have been delivered: every record is a drop.
				t.Errorf("%d drops, want %d", n, goroutines*each)
			}
			t.Logf("log %v, shutdown %v, drops %d", logged, took, drops.Load())

			// Records after Shutdown are drops (checked when Shutdown
			// finished, so no background close still reports drops).
			if err == nil {
				before := drops.Load()
				l.Log(fullRecord())
				if drops.Load() != before+1 {
					t.Error("record after Shutdown not reported as a drop")
				}
			}
			// Shutdown is idempotent.
			if err2 := l.Shutdown(context.Background()); err2 != err {
				t.Errorf("second Shutdown = %v, want %v", err2, err)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{name: "empty is valid", cfg: Config{}},
		{name: "full", cfg: Config{Stdout: &bytes.Buffer{}, FlushInterval: time.Second, FluentAddress: "fluent-bit.logging:24224", FluentTag: "a.b-c_d", FluentBufferLimit: 10, FluentBufferBytes: MinFluentBufferBytes, FluentAckTimeout: time.Second}},
		{name: "ipv6", cfg: Config{FluentAddress: "[::1]:24224"}},
		{name: "negative flush", cfg: Config{FlushInterval: -time.Second}, wantErr: "accesslog: FlushInterval must not be negative, got -1s"},
		{name: "negative buffer", cfg: Config{FluentBufferLimit: -1}, wantErr: "accesslog: FluentBufferLimit must not be negative, got -1"},
		{name: "buffer bytes too small", cfg: Config{FluentBufferBytes: 1000}, wantErr: "accesslog: FluentBufferBytes must be at least 16384, got 1000"},
		{name: "negative ack timeout", cfg: Config{FluentAckTimeout: -time.Second}, wantErr: "accesslog: FluentAckTimeout must not be negative, got -1s"},
		{name: "no port", cfg: Config{FluentAddress: "fluent-bit"}, wantErr: `accesslog: FluentAddress: "fluent-bit" must be host:port: address fluent-bit: missing port in address`},
		{name: "no host", cfg: Config{FluentAddress: ":24224"}, wantErr: `accesslog: FluentAddress: ":24224" must be host:port: missing host`},
		{name: "bad port", cfg: Config{FluentAddress: "localhost:http"}, wantErr: `accesslog: FluentAddress: "localhost:http" must be host:port: port "http" is not a number from 1 to 65535`},
		{name: "port out of range", cfg: Config{FluentAddress: "localhost:70000"}, wantErr: `port "70000" is not a number from 1 to 65535`},
		{name: "port zero", cfg: Config{FluentAddress: "localhost:0"}, wantErr: `port "0" is not a number from 1 to 65535`},
		{name: "tag with blank", cfg: Config{FluentTag: "a b"}, wantErr: `accesslog: FluentTag: "a b" must not contain blanks or control characters`},
		{name: "tag empty part", cfg: Config{FluentTag: "a..b"}, wantErr: `accesslog: FluentTag: "a..b" must be dot-separated words without empty parts`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate = %v, want %q", err, tt.wantErr)
			}
			if _, nerr := New(tt.cfg); nerr == nil || nerr.Error() != err.Error() {
				t.Errorf("New = %v, want the Validate error", nerr)
			}
		})
	}
}

func TestNoSinks(t *testing.T) {
	l, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	l.Log(fullRecord())
	l.Log(nil)
	shutdown(t, l, time.Second)
}

// blockingWriter blocks every Write until released, like a stdout pipe
// nobody reads.
type blockingWriter struct {
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func (w *blockingWriter) Write(p []byte) (int, error) {
	w.once.Do(func() { close(w.entered) })
	<-w.release
	return len(p), nil
}

func TestShutdownBoundedWhenStdoutBlocks(t *testing.T) {
	w := &blockingWriter{entered: make(chan struct{}), release: make(chan struct{})}
	l, err := New(Config{Stdout: w, FlushInterval: 10 * time.Millisecond, FluentAddress: freeClosedPort(t)})
	if err != nil {
		t.Fatal(err)
	}
	logDone := make(chan struct{})
	t.Cleanup(func() {
		close(w.release)
		select {
		case <-logDone:
		case <-time.After(5 * time.Second):
			t.Error("blocked Log did not return after release")
		}
	})
	l.Log(fullRecord()) // buffered; the flush loop then blocks in Write
	select {
	case <-w.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("flush never reached the writer")
	}
	go func() {
		defer close(logDone)
		l.Log(fullRecord()) // blocks behind the stuck flush
	}()

	const budget = 300 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	defer cancel()
	start := time.Now()
	err = l.Shutdown(ctx)
	if took := time.Since(start); took > budget+500*time.Millisecond {
		t.Fatalf("Shutdown took %v with a %v deadline", took, budget)
	}
	if err == nil || !strings.Contains(err.Error(), "context deadline exceeded") {
		t.Fatalf("Shutdown = %v, want a deadline error", err)
	}
}
