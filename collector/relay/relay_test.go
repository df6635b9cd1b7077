package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hopscope/hopscope/collector/consumer"
	"github.com/hopscope/hopscope/correlate"
	"github.com/hopscope/hopscope/internal/testkit"
)

// gatewayStandIn is the gateway's OTLP/HTTP receiver as the relay sees
// it: it keeps what is posted to /v1/traces, or answers status.
type gatewayStandIn struct {
	mu     sync.Mutex
	items  []Item
	posts  int
	status int
	// token, when set, is the one bearer token taken (else 401).
	token string
}

func (g *gatewayStandIn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	g.mu.Lock()
	defer g.mu.Unlock()
	if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "wrong path or type", http.StatusNotFound)
		return
	}
	if g.status != 0 {
		http.Error(w, "gateway refuses", g.status)
		return
	}
	if g.token != "" && r.Header.Get("Authorization") != "Bearer "+g.token {
		http.Error(w, "no token", http.StatusUnauthorized)
		return
	}
	items, bad, _, err := Decode(body)
	if err != nil || bad > 0 {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	g.posts++
	g.items = append(g.items, items...)
}

func (g *gatewayStandIn) got() []Item {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]Item(nil), g.items...)
}

// localSink is the collector's own consumer.
type localSink struct {
	mu sync.Mutex
	in []consumer.Input
}

func (l *localSink) Consume(_ context.Context, in consumer.Input) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.in = append(l.in, in)
	return nil
}

func (l *localSink) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.in)
}

func newRelay(t *testing.T, endpoint string, mutate func(*Config)) (*Relay, *localSink, *Metrics, *[]error) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Endpoint, cfg.FlushInterval, cfg.BatchSize = endpoint, 20*time.Millisecond, 4
	if mutate != nil {
		mutate(&cfg)
	}
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	local := &localSink{}
	var mu sync.Mutex
	var errs []error
	r, err := New(cfg, local, m, func(err error) { mu.Lock(); errs = append(errs, err); mu.Unlock() })
	if err != nil {
		t.Fatal(err)
	}
	return r, local, m, &errs
}

func relayed(m *Metrics, source, outcome string) float64 {
	return testutil.ToFloat64(m.relayed.WithLabelValues(source, outcome))
}

// TestRelaySends: routable records reach the gateway in batches, with
// their source, place and trace id, and are not joined locally; OTLP,
// malformed input and records without a trace id stay local (counted
// unroutable); Shutdown sends what is queued.
func TestRelaySends(t *testing.T) {
	g := &gatewayStandIn{}
	srv := httptest.NewServer(g)
	defer srv.Close()
	r, local, m, errs := newRelay(t, srv.URL, nil)
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	var items []Item // the routable ones
	unroutables := 0
	ctx := context.Background()
	for _, it := range recordedRecords(t) {
		if it.ID.IsZero() {
			// HAProxy's documented lines carry no trace id.
			unroutables++
			_ = r.Consume(ctx, consumer.Input{Source: it.Source, Where: it.Where, Record: it.Record})
			continue
		}
		items = append(items, it)
	}
	if len(items) < 5 || unroutables == 0 {
		t.Fatalf("%d routable, %d unroutable recorded records", len(items), unroutables)
	}
	for _, it := range items {
		if err := r.Consume(ctx, consumer.Input{Source: it.Source, Where: it.Where, Record: it.Record}); err != nil {
			t.Fatal(err)
		}
	}
	_ = r.Consume(ctx, consumer.Input{Source: "otlp", OTLP: []byte{1}})
	_ = r.Consume(ctx, consumer.Input{Source: "ingress", Err: errors.New("bad line")})
	unroutable := &correlate.IngressLog{Keys: correlate.Keys{RequestID: "req-7"}}
	_ = r.Consume(ctx, consumer.Input{Source: "ingress", Record: unroutable})
	testkit.Eventually(t, "the gateway has the records", 10*time.Second, func() bool { return len(g.got()) == len(items) },
		func() string { return fmt.Sprintf("%d of %d; errors %v", len(g.got()), len(items), *errs) })
	if err := r.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	got := g.got()
	for i := range items {
		want := items[i]
		want.Record = inUTC(want.Record)
		if got[i].Source != want.Source || got[i].Where != want.Where || got[i].ID != want.ID || got[i].ID.IsZero() {
			t.Errorf("item %d: %+v, want %+v", i, got[i], want)
		}
	}
	if g.posts < 2 {
		t.Errorf("%d posts for %d records in batches of 4", g.posts, len(items))
	}
	if n := local.count(); n != 3+unroutables {
		t.Errorf("%d inputs joined locally, want the OTLP, the malformed and the %d unroutable ones", n, 1+unroutables)
	}
	if v := relayed(m, "ingress", OutcomeUnroutable) + relayed(m, "haproxy", OutcomeUnroutable); v != float64(1+unroutables) {
		t.Errorf("unroutable: %v, want %d", v, 1+unroutables)
	}
	sent := relayed(m, "ingress", OutcomeSent) + relayed(m, "alb", OutcomeSent) + relayed(m, "haproxy", OutcomeSent) + relayed(m, "rum", OutcomeSent)
	if sent != float64(len(items)) {
		t.Errorf("sent %v, want %d", sent, len(items))
	}
	if len(*errs) != 0 {
		t.Errorf("errors: %v", *errs)
	}
}

// TestRelayFallsBack: a batch the gateway does not take, and a record
// that finds the queue full, are joined locally and counted; the error
// names the gateway.
func TestRelayFallsBack(t *testing.T) {
	g := &gatewayStandIn{status: http.StatusServiceUnavailable}
	srv := httptest.NewServer(g)
	defer srv.Close()
	items := recordedRecords(t)[:3] // ingress lines with an X-Ray Root
	for _, it := range items {
		if it.ID.IsZero() {
			t.Fatalf("%s %s is not routable", it.Source, it.Where)
		}
	}
	ctx := context.Background()

	r, local, m, errs := newRelay(t, srv.URL, func(c *Config) { c.QueueSize = 2 })
	// Not started yet: the queue fills.
	for _, it := range items {
		_ = r.Consume(ctx, consumer.Input{Source: it.Source, Where: it.Where, Record: it.Record})
	}
	if v := relayed(m, items[2].Source, OutcomeQueueFull); v != 1 || local.count() != 1 {
		t.Fatalf("queue full: counted %v, %d local", v, local.count())
	}
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "the refused batch is joined locally", 10*time.Second, func() bool { return local.count() == 3 },
		func() string { return fmt.Sprintf("%d joined locally", local.count()) })
	if err := r.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if v := relayed(m, items[0].Source, OutcomeFailed); v != 2 {
		t.Errorf("failed: %v, want 2", v)
	}
	if len(*errs) != 1 || !contains((*errs)[0].Error(), srv.URL+"/v1/traces", "503") {
		t.Errorf("errors: %v", *errs)
	}
	if len(g.got()) != 0 {
		t.Error("the gateway took records it refused")
	}
}

func contains(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// TestConfigValidate names the flag.
func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct{ endpoint, want string }{
		{"", "--gateway-endpoint: empty"},
		{"hopscope-gateway:4318", "want http(s)://host:port"},
		{"ftp://gw:4318", "want http(s)://host:port"},
	} {
		c := DefaultConfig()
		c.Endpoint = tc.endpoint
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.endpoint, err, tc.want)
		}
	}
	c := DefaultConfig()
	c.Endpoint = "http://hopscope-gateway.obs.svc:4318"
	if err := c.Validate(); err != nil {
		t.Error(err)
	}
}

// TestRelaySendsToken: with a token file, each request carries its first
// token, read again per request (a rotated Secret); the gateway refusing
// a wrong token makes the batch fail over to local joining.
func TestRelaySendsToken(t *testing.T) {
	const tok = "0123456789abcdef-new"
	g := &gatewayStandIn{token: tok}
	srv := httptest.NewServer(g)
	defer srv.Close()
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte("# the sender token\n"+"0123456789abcdef-old\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r, local, m, _ := newRelay(t, srv.URL, func(c *Config) { c.TokenFile = file })
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	items := recordedRecords(t)[:2]
	ctx := context.Background()
	_ = r.Consume(ctx, consumer.Input{Source: items[0].Source, Record: items[0].Record})
	testkit.Eventually(t, "the refused batch joined locally", 10*time.Second, func() bool { return local.count() == 1 },
		func() string { return fmt.Sprintf("%d local", local.count()) })
	if err := os.WriteFile(file, []byte(tok+"\n0123456789abcdef-old\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = r.Consume(ctx, consumer.Input{Source: items[1].Source, Record: items[1].Record})
	testkit.Eventually(t, "the gateway took the record with the new token", 10*time.Second, func() bool { return len(g.got()) == 1 },
		func() string { return fmt.Sprintf("%d taken", len(g.got())) })
	if err := r.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if v := relayed(m, items[0].Source, OutcomeFailed); v != 1 {
		t.Errorf("failed %v, want 1", v)
	}
}
