package pgproxy

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hopscope/hopscope/internal/realcomp"
	"github.com/hopscope/hopscope/internal/testkit"
	"github.com/hopscope/hopscope/sidecar/backend"
	"github.com/hopscope/hopscope/sidecar/backend/backendtest"
	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// server is a PostgreSQL the integration tests share, started on first
// use and stopped after them.
type server struct {
	once sync.Once
	url  string
	dir  string
	stop func()
	err  error
}

var (
	// trustPG is realcomp.Postgres: trust authentication, no TLS.
	trustPG server
	// securePG has a superuser password (scram-sha-256 over TCP) and
	// ssl=on with a self-signed certificate.
	securePG server
	// mixedPG has password_encryption=scram-sha-256 and a pg_hba.conf
	// asking scramUser for scram-sha-256 and trusting everyone else.
	mixedPG server
)

// securePassword is securePG's superuser password.
const securePassword = "Sc-Ram'pw 1"

func TestMain(m *testing.M) {
	testkit.VerifyNoLeaks(m, func() {
		for _, s := range []*server{&trustPG, &securePG, &mixedPG, &tlsOnlyPG} {
			if s.stop != nil {
				s.stop()
			}
		}
	})
}

func (s *server) start(t testing.TB, run func(dir string) (string, func(), error)) string {
	t.Helper()
	s.once.Do(func() {
		s.dir, s.err = os.MkdirTemp("", "pgproxy-pg-")
		if s.err != nil {
			return
		}
		var stop func()
		s.url, stop, s.err = run(s.dir)
		if s.err != nil {
			os.RemoveAll(s.dir)
			return
		}
		s.stop = func() { stop(); os.RemoveAll(s.dir) }
	})
	if s.err != nil {
		t.Fatalf("starting PostgreSQL: %v", s.err)
	}
	return s.url
}

// postgresURL is the shared Debian PostgreSQL 15 with trust auth.
func postgresURL(t testing.TB) string {
	return trustPG.start(t, realcomp.Postgres)
}

// securePostgresURL is the shared PostgreSQL with SCRAM and TLS; its URL
// carries the password and sslmode=disable.
func securePostgresURL(t testing.TB) string {
	return securePG.start(t, func(dir string) (string, func(), error) {
		ca, err := backendtest.NewCA(dir, "secure")
		if err != nil {
			return "", nil, err
		}
		crt, key, err := ca.Issue("server", "127.0.0.1", "127.0.0.1")
		if err != nil {
			return "", nil, err
		}
		return realcomp.PostgresPassword(dir, securePassword,
			"-c ssl=on", "-c ssl_cert_file="+crt, "-c ssl_key_file="+key)
	})
}

// Roles of mixedPG: scramUser authenticates with scramPassword, the
// superuser postgres is trusted.
const (
	scramUser     = "app"
	scramPassword = "app-Sc-Ram pw"
)

// mixedPostgresURL is mixedPG's URL for the superuser postgres (trusted);
// scramUser exists.
func mixedPostgresURL(t testing.TB) string {
	return mixedPG.start(t, func(dir string) (string, func(), error) {
		hba := "local all all trust\n" +
			"host all " + scramUser + " 127.0.0.1/32 scram-sha-256\n" +
			"host all all 127.0.0.1/32 trust\n"
		dbURL, stop, err := realcomp.PostgresHBA(dir, hba, "-c password_encryption=scram-sha-256")
		if err != nil {
			return "", nil, err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, dbURL)
		if err == nil {
			_, err = c.Exec(ctx, "CREATE ROLE "+scramUser+" LOGIN PASSWORD '"+strings.ReplaceAll(scramPassword, "'", "''")+"'")
			c.Close(ctx)
		}
		if err != nil {
			stop()
			return "", nil, fmt.Errorf("creating role %s: %w", scramUser, err)
		}
		return dbURL, stop, nil
	})
}

// fixture is a proxy to target with its own recorder: spans, metrics and
// in-flight requests the test can look at.
type fixture struct {
	t       testing.TB
	spans   *tracetest.SpanRecorder
	reg     *prometheus.Registry
	tracker *backend.Tracker
	b       *backend.Backend
	addr    string
}

func newFixture(t testing.TB, target, tls string) *fixture {
	t.Helper()
	return newFixtureTLS(t, target, backend.TLSConfig{Mode: tls})
}

// newFixtureTLS is newFixture with a whole tls key.
func newFixtureTLS(t testing.TB, target string, tls backend.TLSConfig) *fixture {
	t.Helper()
	f := &fixture{t: t, spans: tracetest.NewSpanRecorder(), reg: prometheus.NewRegistry(), tracker: backend.NewTracker()}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(f.spans))
	rec, err := backend.NewRecorder(backend.Options{Tracer: tp.Tracer("pgproxy-test"), Tracker: f.tracker, Registerer: f.reg})
	if err != nil {
		t.Fatal(err)
	}
	cfg := backend.Config{Name: "db", Kind: backend.KindPostgres, Listen: "127.0.0.1:0", Target: target, TLS: tls}
	f.b = rec.Backend(cfg)
	h, err := New(f.b)
	if err != nil {
		t.Fatal(err)
	}
	f.addr = backendtest.Serve(t, backend.NewServer(cfg, h, nil))
	return f
}

// targetOf is the host:port of a postgres:// URL.
func targetOf(t testing.TB, dbURL string) string {
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// via is dbURL pointed at the proxy, with sslmode set when not empty.
func (f *fixture) via(dbURL, sslmode string) string {
	u, err := url.Parse(dbURL)
	if err != nil {
		f.t.Fatal(err)
	}
	u.Host = f.addr
	if sslmode != "" {
		q := u.Query()
		q.Set("sslmode", sslmode)
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// port is the proxy's port.
func (f *fixture) port() string {
	_, p, _ := net.SplitHostPort(f.addr)
	return p
}

// waitSpans waits until at least n query spans (connect spans not
// counted) ended (a call is recorded just after its reply is forwarded)
// and returns the query spans.
func (f *fixture) waitSpans(n int) []sdktrace.ReadOnlySpan {
	f.t.Helper()
	var spans []sdktrace.ReadOnlySpan
	testkit.Eventually(f.t, fmt.Sprintf("at least %d spans ended", n), 5*time.Second, func() bool {
		spans = queries(f.spans.Ended())
		return len(spans) >= n
	}, func() string { return fmt.Sprintf("%d spans ended:\n%s", len(spans), describe(spans)) })
	return spans
}

// queries are the spans but the connect spans.
func queries(spans []sdktrace.ReadOnlySpan) []sdktrace.ReadOnlySpan {
	var qs []sdktrace.ReadOnlySpan
	for _, s := range spans {
		if attr(s, "db.operation.name") != KindConnect {
			qs = append(qs, s)
		}
	}
	return qs
}

// connects are the connect spans.
func connects(spans []sdktrace.ReadOnlySpan) []sdktrace.ReadOnlySpan {
	var cs []sdktrace.ReadOnlySpan
	for _, s := range spans {
		if attr(s, "db.operation.name") == KindConnect {
			cs = append(cs, s)
		}
	}
	return cs
}

// settle waits until no span ended for a while and returns them all.
func (f *fixture) settle() []sdktrace.ReadOnlySpan {
	last, stable := -1, 0
	for stable < 5 {
		time.Sleep(10 * time.Millisecond) // no event marks "no more spans": wait for 5 quiet polls
		n := len(f.spans.Ended())
		if n == last {
			stable++
		} else {
			last, stable = n, 0
		}
	}
	return f.spans.Ended()
}

// call is what a test expects of one span.
type call struct {
	op, text, err string
}

func (c call) String() string { return fmt.Sprintf("%s %q err=%q", c.op, c.text, c.err) }

// calls are the spans' queries: connection setup (connect spans) is
// checked apart (connects, TestConnect).
func calls(spans []sdktrace.ReadOnlySpan) []call {
	var cs []call
	for _, s := range spans {
		if attr(s, "db.operation.name") == KindConnect {
			continue
		}
		cs = append(cs, call{op: attr(s, "db.operation.name"), text: attr(s, "db.query.text"), err: attr(s, "error.type")})
	}
	return cs
}

func describe(spans []sdktrace.ReadOnlySpan) string {
	var b strings.Builder
	for _, c := range calls(spans) {
		fmt.Fprintln(&b, " ", c)
	}
	return b.String()
}

func attr(s sdktrace.ReadOnlySpan, key string) string {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value.Emit()
		}
	}
	return ""
}

// histogram is the number of observations of
// hopscope_backend_duration_seconds{operation, outcome}.
func (f *fixture) histogram(op, outcome string) uint64 {
	f.t.Helper()
	var n uint64
	for _, m := range f.metric("hopscope_backend_duration_seconds", map[string]string{"operation": op, "outcome": outcome}) {
		n += m.GetHistogram().GetSampleCount()
	}
	return n
}

// gauge is hopscope_backend_connections{state}.
func (f *fixture) gauge(state string) float64 {
	f.t.Helper()
	var v float64
	for _, m := range f.metric("hopscope_backend_connections", map[string]string{"state": state}) {
		v += m.GetGauge().GetValue()
	}
	return v
}

// decodeErrors is hopscope_backend_decode_errors_total.
func (f *fixture) decodeErrors() float64 {
	var v float64
	for _, m := range f.metric("hopscope_backend_decode_errors_total", nil) {
		v += m.GetCounter().GetValue()
	}
	return v
}

// operations lists the operation labels observed.
func (f *fixture) operations() []string {
	seen := map[string]bool{}
	for _, m := range f.metric("hopscope_backend_duration_seconds", nil) {
		if m.GetHistogram().GetSampleCount() == 0 {
			continue
		}
		for _, l := range m.GetLabel() {
			if l.GetName() == "operation" {
				seen[l.GetValue()] = true
			}
		}
	}
	var ops []string
	for op := range seen {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	return ops
}

func (f *fixture) metric(name string, labels map[string]string) []*metricPB {
	f.t.Helper()
	return backendtest.Series(f.reg, name, labels)
}

type metricPB = dto.Metric

// waitGauge waits for hopscope_backend_connections{state} to be want.
func (f *fixture) waitGauge(state string, want float64) {
	f.t.Helper()
	testkit.Eventually(f.t, fmt.Sprintf("connections{state=%s} = %v", state, want), 5*time.Second, func() bool { return f.gauge(state) == want },
		func() string { return fmt.Sprintf("connections{state=%s} = %v", state, f.gauge(state)) })
}
