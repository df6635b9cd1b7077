package backend

import (
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.yaml.in/yaml/v3"

	"github.com/hopscope/hopscope/internal/testkit"
	"github.com/hopscope/hopscope/sidecar/backend/backendtest"
)

func TestConfigValidateNamesTheKey(t *testing.T) {
	good := Config{Name: "db", Kind: KindPostgres, Listen: "127.0.0.1:15432", Target: "postgres.db.svc:5432"}
	if err := good.Validate(0); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"kind", func(c *Config) { c.Kind = "mysql" }, "backends[3].kind"},
		{"name", func(c *Config) { c.Name = "" }, "backends[3].name"},
		{"public listen", func(c *Config) { c.Listen = "0.0.0.0:15432" }, "backends[3].listen: must be a loopback"},
		{"listen", func(c *Config) { c.Listen = "15432" }, "backends[3].listen"},
		{"target", func(c *Config) { c.Target = "postgres.db.svc" }, "backends[3].target"},
		{"tls mode", func(c *Config) { c.Kind, c.TLS = KindTCP, TLSConfig{Mode: TLSOriginate} }, "backends[3].tls.mode"},
		{"http target", func(c *Config) { c.Kind, c.Target = KindHTTP, "api.stripe.com:443" }, "backends[3].target"},
		{"https without originate", func(c *Config) { c.Kind, c.Target = KindHTTP, "https://api.stripe.com" }, "backends[3].tls"},
		{"policy on postgres", func(c *Config) { c.Retries = &RetryPolicy{Attempts: 3, Budget: 0.2} }, "apply to kind http only"},
		{"retry attempts", func(c *Config) {
			c.Kind, c.Target, c.Retries = KindHTTP, "http://api:80", &RetryPolicy{Attempts: 9, Budget: 0.2}
		}, "backends[3].retries.attempts"},
		{"retry budget", func(c *Config) {
			c.Kind, c.Target, c.Retries = KindHTTP, "http://api:80", &RetryPolicy{Attempts: 2, Budget: 2}
		}, "backends[3].retries.budget"},
		{"breaker", func(c *Config) {
			c.Kind, c.Target, c.CircuitBreaker = KindHTTP, "http://api:80", &BreakerPolicy{Failures: 0, OpenFor: time.Second}
		}, "backends[3].circuitBreaker.failures"},
		{"rate", func(c *Config) {
			c.Kind, c.Target, c.RateLimit = KindHTTP, "http://api:80", &RateLimitPolicy{PerSecond: 0, Burst: 1}
		}, "backends[3].rateLimit.perSecond"},
		{"timeout", func(c *Config) { c.Timeout = -1 }, "backends[3].timeout"},
		{"timeout on postgres", func(c *Config) { c.Timeout = time.Second }, "backends[3].timeout: applies to kind http only"},
		{"cluster on postgres", func(c *Config) { c.Cluster = &RedisClusterPolicy{} }, "backends[3].cluster: applies to kind redis only"},
		{"cluster maxNodes", func(c *Config) {
			c.Kind, c.Target, c.Cluster = KindRedis, "redis:6379", &RedisClusterPolicy{MaxNodes: 5000}
		}, "backends[3].cluster.maxNodes"},
		{"cluster with tls", func(c *Config) {
			c.Kind, c.Target, c.Cluster, c.TLS = KindRedis, "redis:6379", &RedisClusterPolicy{}, TLSConfig{Mode: TLSOriginate}
		}, "backends[3].cluster: does not combine with tls.mode originate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			tc.mutate(&c)
			if err := c.Validate(3); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one naming %q", err, tc.want)
			}
		})
	}
	ok := []Config{
		{Name: "stripe", Kind: KindHTTP, Listen: "127.0.0.1:15443", Target: "https://api.stripe.com", TLS: TLSConfig{Mode: TLSOriginate},
			Timeout: 2 * time.Second, Retries: &RetryPolicy{Attempts: 3, Budget: 0.2, Backoff: 50 * time.Millisecond}},
		{Name: "cache", Kind: KindRedis, Listen: "localhost:16379", Target: "redis.cache.svc:6379"},
		{Name: "pgtls", Kind: KindPostgres, Listen: "127.0.0.1:15433", Target: "db:5432", TLS: TLSConfig{Mode: TLSPassthrough}},
		{Name: "other", Kind: KindTCP, Listen: "[::1]:19000", Target: "10.0.0.5:9000"},
		{Name: "sessions", Kind: KindRedis, Listen: "127.0.0.1:16380", Target: "redis-cluster:6379", Cluster: &RedisClusterPolicy{}},
	}
	if err := ValidateAll(ok); err != nil {
		t.Errorf("the issue's examples: %v", err)
	}
	dup := append(ok, Config{Name: "cache", Kind: KindTCP, Listen: "127.0.0.1:15443", Target: "x:1"})
	err := ValidateAll(dup)
	if err == nil || !strings.Contains(err.Error(), `backends[5].name: "cache" is also backends[1]'s`) || !strings.Contains(err.Error(), "backends[5].listen") {
		t.Errorf("duplicates: %v", err)
	}
}

func spanContext(t *testing.T, tid, sid byte) trace.SpanContext {
	t.Helper()
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{tid, 1}, SpanID: trace.SpanID{sid, 1}, TraceFlags: trace.FlagsSampled})
}

func TestTrackerAttribution(t *testing.T) {
	tr := NewTracker()
	a, b, explicit := spanContext(t, 1, 1), spanContext(t, 2, 2), spanContext(t, 9, 9)
	check := func(what string, wantSC trace.SpanContext, want Attribution, ex trace.SpanContext) {
		t.Helper()
		sc, got := tr.Attribute(ex)
		if got != want || !sc.Equal(wantSC) {
			t.Errorf("%s: %s %v, want %s %v", what, got, sc.TraceID(), want, wantSC.TraceID())
		}
	}
	check("none in flight", trace.SpanContext{}, Ambiguous, trace.SpanContext{})
	leaveA := tr.Enter(a)
	check("one in flight", a, Inferred, trace.SpanContext{})
	check("explicit wins", explicit, Exact, explicit)
	leaveB := tr.Enter(b)
	check("two in flight", trace.SpanContext{}, Ambiguous, trace.SpanContext{})
	leaveA()
	check("the other left", b, Inferred, trace.SpanContext{})
	leaveA() // twice is harmless
	if tr.InFlight() != 1 {
		t.Errorf("in flight %d after a double leave", tr.InFlight())
	}
	leaveB()
	check("all left", trace.SpanContext{}, Ambiguous, trace.SpanContext{})
	var nilTracker *Tracker
	if _, got := nilTracker.Attribute(trace.SpanContext{}); got != Ambiguous {
		t.Errorf("nil tracker: %s", got)
	}
}

func TestTrackerConcurrent(t *testing.T) {
	tr := NewTracker()
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := 0; j < 1000; j++ {
				leave := tr.Enter(spanContext(t, byte(i), byte(j)))
				tr.Attribute(trace.SpanContext{})
				leave()
			}
		}(i)
	}
	wg.Wait()
	if n := tr.InFlight(); n != 0 {
		t.Errorf("%d in flight after all left", n)
	}
}

func newTestRecorder(t *testing.T) (*Recorder, *tracetest.SpanRecorder, *prometheus.Registry, *Tracker) {
	t.Helper()
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	reg := prometheus.NewRegistry()
	tr := NewTracker()
	rec, err := NewRecorder(Options{Tracer: tp.Tracer("test"), Tracker: tr, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	return rec, sr, reg, tr
}

func TestRecorderSpansAndMetrics(t *testing.T) {
	rec, sr, reg, tr := newTestRecorder(t)
	b := rec.Backend(Config{Name: "db", Kind: KindPostgres, Listen: "127.0.0.1:15432", Target: "postgres.db.svc:5432"})
	inbound := spanContext(t, 1, 1)
	leave := tr.Enter(inbound)
	start := time.Unix(1000, 0)
	call := b.Begin(start, trace.SpanContext{})
	leave() // attribution is fixed when the call began
	call.Finish(start.Add(25*time.Millisecond), Op{Name: "SELECT", Text: "SELECT * FROM orders WHERE id = ?"})
	b.Begin(start, trace.SpanContext{}).Finish(start.Add(time.Millisecond), Op{Name: "INSERT", Error: "23505"})

	spans := sr.Ended()
	if len(spans) != 2 {
		t.Fatalf("%d spans", len(spans))
	}
	s := spans[0]
	attrs := map[string]string{}
	for _, kv := range s.Attributes() {
		attrs[string(kv.Key)] = kv.Value.Emit()
	}
	if s.Name() != "SELECT db" || s.SpanKind() != trace.SpanKindClient || !s.Parent().Equal(inbound) ||
		s.StartTime() != start || s.EndTime().Sub(s.StartTime()) != 25*time.Millisecond {
		t.Errorf("span %s kind %v parent %v start %v", s.Name(), s.SpanKind(), s.Parent().TraceID(), s.StartTime())
	}
	for k, v := range map[string]string{AttrBackend: "db", AttrAttribution: "inferred", "db.system.name": "postgresql",
		"db.operation.name": "SELECT", "db.query.text": "SELECT * FROM orders WHERE id = ?", "server.address": "postgres.db.svc", "server.port": "5432"} {
		if attrs[k] != v {
			t.Errorf("attribute %s = %q, want %q", k, attrs[k], v)
		}
	}
	if e := spans[1]; e.Status().Code.String() != "Error" || e.Parent().IsValid() {
		t.Errorf("error span: status %v, parent %v (ambiguous: none)", e.Status(), e.Parent())
	}
	if n := testutil.CollectAndCount(reg, "hopscope_backend_duration_seconds"); n != 2 {
		t.Errorf("%d duration series", n)
	}
	want := `
# HELP hopscope_backend_connections Client connections open through a backend proxy: state=decoded (calls timed) or relayed (opaque: TLS passthrough, a CONNECT tunnel, or a stream the proxy stopped decoding).
# TYPE hopscope_backend_connections gauge
hopscope_backend_connections{backend="db",state="decoded"} 1
hopscope_backend_connections{backend="db",state="relayed"} 0
`
	closed := b.Connected(StateDecoded)
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "hopscope_backend_connections"); err != nil {
		t.Error(err)
	}
	closed()
	closed()
	if v := testutil.ToFloat64(rec.connections.WithLabelValues("db", StateDecoded)); v != 0 {
		t.Errorf("connections after close (twice): %v", v)
	}
}

func TestOperationLabelBounded(t *testing.T) {
	rec, _, reg, _ := newTestRecorder(t)
	b := rec.Backend(Config{Name: "cache", Kind: KindRedis, Listen: "127.0.0.1:1", Target: "r:6379"})
	now := time.Now()
	for i := 0; i < maxOperations+10; i++ {
		b.Begin(now, trace.SpanContext{}).Finish(now, Op{Name: "CMD" + string(rune('A'+i%26)) + string(rune('A'+i/26))})
	}
	b.Begin(now, trace.SpanContext{}).Finish(now, Op{})
	if n := testutil.CollectAndCount(reg, "hopscope_backend_duration_seconds"); n != maxOperations+2 {
		t.Errorf("%d series, want %d (the bound, other, unknown)", n, maxOperations+2)
	}
}

// TestServerAndTCPRelay: a kind tcp backend relays bytes both ways
// unchanged, records the connection, and Shutdown closes what is left.
func TestServerAndTCPRelay(t *testing.T) {
	echo := backendtest.Echo(t)
	rec, sr, reg, _ := newTestRecorder(t)
	cfg := Config{Name: "other", Kind: KindTCP, Listen: "127.0.0.1:0", Target: echo}
	srv := NewServer(cfg, TCPRelay{B: rec.Backend(cfg)}, nil)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	msg := strings.Repeat("hopscope ", 10000)
	go func() { io.WriteString(c, msg); c.(*net.TCPConn).CloseWrite() }()
	got, _ := io.ReadAll(c)
	c.Close()
	if string(got) != msg {
		t.Fatalf("relayed %d bytes, want %d unchanged", len(got), len(msg))
	}
	testkit.Eventually(t, "the connection's span", 5*time.Second, func() bool { return len(sr.Ended()) > 0 })
	spans := sr.Ended()
	if len(spans) != 1 || spans[0].Name() != "connection other" {
		t.Fatalf("spans %v", spans)
	}
	for _, kv := range spans[0].Attributes() {
		if kv.Key == "hopscope.network.io.sent_bytes" && kv.Value.AsInt64() != int64(len(msg)) {
			t.Errorf("sent bytes %d", kv.Value.AsInt64())
		}
	}
	// A connection still open at shutdown is closed when ctx ends.
	c2, err := net.Dial("tcp", srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	io.WriteString(c2, "x")
	buf := make([]byte, 1)
	io.ReadFull(c2, buf)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	srv.Shutdown(ctx)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("shutdown took %v", d)
	}
	if _, err := c2.Read(buf); err == nil {
		t.Error("connection still open after shutdown")
	}
	_ = reg
}

// TestAmbiguousSpansLimited: calls no request can be tied to are all
// counted, but make at most maxAmbiguousSpansPerSecond spans a second;
// attributed calls always make theirs.
func TestAmbiguousSpansLimited(t *testing.T) {
	const maxAmbiguousSpansPerSecond = 10
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	reg := prometheus.NewRegistry()
	tr := NewTracker()
	rec, err := NewRecorder(Options{Tracer: tp.Tracer("test"), Tracker: tr, Registerer: reg, AmbiguousSpansPerSecond: maxAmbiguousSpansPerSecond})
	if err != nil {
		t.Fatal(err)
	}
	b := rec.Backend(Config{Name: "cache", Kind: KindRedis, Listen: "127.0.0.1:1", Target: "r:6379"})
	sec := time.Unix(2000, 0)
	for i := 0; i < 100; i++ {
		b.Begin(sec, trace.SpanContext{}).Finish(sec.Add(time.Millisecond), Op{Name: "GET"})
	}
	if n := len(sr.Ended()); n != maxAmbiguousSpansPerSecond {
		t.Errorf("%d spans of 100 ambiguous calls in one second, want %d", n, maxAmbiguousSpansPerSecond)
	}
	next := sec.Add(time.Second)
	b.Begin(next, trace.SpanContext{}).Finish(next.Add(time.Millisecond), Op{Name: "GET"})
	leave := tr.Enter(spanContext(t, 1, 1))
	for i := 0; i < 20; i++ {
		b.Begin(sec, trace.SpanContext{}).Finish(sec.Add(time.Millisecond), Op{Name: "GET"})
	}
	leave()
	if n := len(sr.Ended()); n != maxAmbiguousSpansPerSecond+1+20 {
		t.Errorf("%d spans, want %d (the next second's one, every inferred one)", n, maxAmbiguousSpansPerSecond+21)
	}
	if ms := backendtest.Series(reg, "hopscope_backend_duration_seconds", map[string]string{"operation": "GET"}); len(ms) != 1 || backendtest.Value(ms[0]) != 121 {
		t.Error("not every call counted: want 121 observations")
	}
	// The 90 calls past the bound are counted (issue 19 item 14: they were
	// dropped uncounted).
	if ms := backendtest.Series(reg, "hopscope_backend_ambiguous_spans_dropped_total", map[string]string{"backend": "cache"}); len(ms) != 1 || backendtest.Value(ms[0]) != 90 {
		t.Errorf("hopscope_backend_ambiguous_spans_dropped_total: %d series, want one of 90", len(ms))
	}
}

// TestClusterYAML: the keys docs/redis-cluster.md documents decode (as
// cliconfig decodes, unknown keys refused) and validate.
func TestClusterYAML(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want *RedisClusterPolicy
		err  string
	}{
		{"{name: s, kind: redis, listen: '127.0.0.1:16380', target: 'r:6379', cluster: {maxNodes: 8}}", &RedisClusterPolicy{MaxNodes: 8}, ""},
		{"{name: s, kind: redis, listen: '127.0.0.1:16380', target: 'r:6379', cluster: {}}", &RedisClusterPolicy{}, ""},
		{"{name: s, kind: redis, listen: '127.0.0.1:16380', target: 'r:6379'}", nil, ""},
		{"{name: s, kind: redis, listen: '127.0.0.1:16380', target: 'r:6379', cluster: {maxNodes: -1}}", &RedisClusterPolicy{MaxNodes: -1}, "backends[0].cluster.maxNodes"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			dec := yaml.NewDecoder(strings.NewReader(tc.in))
			dec.KnownFields(true)
			var c Config
			if err := dec.Decode(&c); err != nil {
				t.Fatal(err)
			}
			if (c.Cluster == nil) != (tc.want == nil) || (c.Cluster != nil && *c.Cluster != *tc.want) {
				t.Errorf("cluster %+v, want %+v", c.Cluster, tc.want)
			}
			err := c.Validate(0)
			if (err != nil) != (tc.err != "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
				t.Errorf("Validate: %v, want %q", err, tc.err)
			}
		})
	}
}
