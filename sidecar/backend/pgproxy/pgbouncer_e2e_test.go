//go:build e2e

package pgproxy

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/hopscope/hopscope/internal/contract"
	"github.com/hopscope/hopscope/internal/realcomp"
	"github.com/hopscope/hopscope/internal/testkit"
)

// TestPgBouncerHop: app → sidecar pgproxy → PgBouncer 1.18 (Debian, in
// transaction pooling, md5 authentication) → PostgreSQL (trust). The
// sidecar's backend is PgBouncer: its spans name PgBouncer's address, the
// connect is PgBouncer's own answer (md5, where PostgreSQL would have
// said none), and the queries PgBouncer relays in transaction pooling
// decode and time as they do directly against PostgreSQL.
func TestPgBouncerHop(t *testing.T) {
	const password = "bouncer-pw"
	pg := targetOf(t, postgresURL(t))
	bouncer, stop, err := realcomp.PgBouncer(t.TempDir(), realcomp.PgBouncerConfig{
		Server: pg, PoolMode: "transaction", AuthType: "md5", Users: map[string]string{"postgres": password}, PoolSize: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	f := newFixture(t, bouncer, "")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// PgBouncer 1.18 keeps no prepared statement across transactions:
	// the app uses the simple protocol, as it must behind it.
	dbURL := (&url.URL{Scheme: "postgres", User: url.UserPassword("postgres", password), Host: bouncer, Path: "/postgres",
		RawQuery: "sslmode=disable&default_query_exec_mode=simple_protocol"}).String()
	inbound := spanContext(t, "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331")
	leave := f.tracker.Enter(inbound)
	c, err := pgx.Connect(ctx, f.via(dbURL, ""))
	if err != nil {
		leave()
		t.Fatalf("connecting through the sidecar to PgBouncer: %v", err)
	}
	defer c.Close(ctx)
	steps := []struct {
		sql  string
		want call
	}{
		{"SELECT pg_sleep(0.02)", call{"SELECT", "SELECT pg_sleep(?)", ""}},
		{"BEGIN", call{"BEGIN", "BEGIN", ""}},
		{"SELECT 1/0", call{"SELECT", "SELECT ?/?", "22012"}},
		{"ROLLBACK", call{"ROLLBACK", "ROLLBACK", ""}},
		{"SELECT 'after the error'", call{"SELECT", "SELECT ?", ""}},
	}
	for _, s := range steps {
		_, err := c.Exec(ctx, s.sql)
		if (err != nil) != (s.want.err != "") {
			t.Fatalf("%s: %v", s.sql, err)
		}
	}
	leave()

	qs := f.waitSpans(len(steps))
	spans := f.settle()
	var want []call
	for _, s := range steps {
		want = append(want, s.want)
	}
	if got := calls(qs); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("calls through PgBouncer:\n%s\nwant %v", describe(qs), want)
	}
	if d := qs[0].EndTime().Sub(qs[0].StartTime()); d < 20*time.Millisecond {
		t.Errorf("pg_sleep(0.02) through PgBouncer timed %s", d)
	}
	cs := connects(spans)
	if len(cs) != 1 {
		t.Fatalf("%d connect spans:\n%s", len(cs), describe(spans))
	}
	if got := attr(cs[0], contract.AttrDBAuthMethod); got != contract.AuthMethodMD5 {
		t.Errorf("connect auth method %q, want md5 (PgBouncer's; PostgreSQL trusts)", got)
	}
	host, port, _ := net.SplitHostPort(bouncer)
	for _, s := range spans {
		if attr(s, contract.AttrServerAddress) != host || attr(s, contract.AttrServerPort) != port {
			t.Errorf("span %s: server %s:%s, want PgBouncer's %s", s.Name(), attr(s, contract.AttrServerAddress), attr(s, contract.AttrServerPort), bouncer)
		}
		if got := attr(s, "hopscope.attribution"); got != "inferred" {
			t.Errorf("span %s: attribution %q, want inferred (one request in flight)", s.Name(), got)
		}
	}
	if f.decodeErrors() != 0 {
		t.Errorf("decode errors %v", f.decodeErrors())
	}
	t.Logf("through PgBouncer: first connect %s (PgBouncer opens its server connection for it), pg_sleep(0.02) %s", duration(cs[0]), duration(qs[0]))

	// A second app connection: PgBouncer answers its startup from the
	// server connection it already holds.
	c2, err := pgx.Connect(ctx, f.via(dbURL, ""))
	if err != nil {
		t.Fatal(err)
	}
	c2.Close(ctx)
	testkit.Eventually(t, "the second connect span", 5*time.Second, func() bool { return len(connects(f.spans.Ended())) == 2 },
		func() string { return describe(f.spans.Ended()) })
	second := connects(f.spans.Ended())[1]
	if got := attr(second, contract.AttrDBAuthMethod); got != contract.AuthMethodMD5 {
		t.Errorf("second connect auth method %q, want md5", got)
	}
	t.Logf("through PgBouncer: second connect %s", duration(second))

	// For comparison: the connect PostgreSQL itself answers, through a
	// sidecar whose target is PostgreSQL.
	direct := newFixture(t, pg, "")
	dc, err := pgx.Connect(ctx, direct.via(postgresURL(t), ""))
	if err != nil {
		t.Fatal(err)
	}
	dc.Close(ctx)
	var dconn []sdktrace.ReadOnlySpan
	testkit.Eventually(t, "PostgreSQL's connect span", 5*time.Second, func() bool {
		dconn = connects(direct.spans.Ended())
		return len(dconn) == 1
	}, func() string { return describe(direct.spans.Ended()) })
	if got := attr(dconn[0], contract.AttrDBAuthMethod); got != contract.AuthMethodNone {
		t.Errorf("PostgreSQL's own connect: auth method %q, want none (trust)", got)
	}
	if got := attr(dconn[0], contract.AttrServerPort); got == port {
		t.Errorf("the direct connect names PgBouncer's port %s", got)
	}
	t.Logf("PostgreSQL directly: connect %s (port %s; PgBouncer's %s)", duration(dconn[0]), attr(dconn[0], contract.AttrServerPort), strconv.Quote(port))
}

func duration(s sdktrace.ReadOnlySpan) time.Duration { return s.EndTime().Sub(s.StartTime()) }
