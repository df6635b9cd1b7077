package pgproxy

import (
	"context"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/hopscope/hopscope/internal/contract"
	"github.com/hopscope/hopscope/internal/testkit"
)

// TestConnect: against Debian's PostgreSQL, a connection's startup (from
// the StartupMessage to the first ReadyForQuery) is a call of its own,
// operation connect, with the authentication the server asked for
// (on one server whose pg_hba.conf trusts postgres and asks app for
// scram-sha-256: none, scram-sha-256) and a duration, apart from
// the first query and before it; attributed like any call; observed in
// the duration histogram as operation="connect". A wrong password gives
// a connect span in error with 28P01 and severity FATAL while the app
// gets the same error as directly.
func TestConnect(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	inbound := spanContext(t, "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331")
	other := spanContext(t, "11111111111111111111111111111111", "2222222222222222")

	for _, tc := range []struct {
		name        string
		dbURL       func(testing.TB) string
		user        string // "": the URL's own
		password    string
		inFlight    []trace.SpanContext
		wantAuth    string
		wantErr     string // the SQLSTATE of a refused startup
		wantAttrib  string
		wantParent  trace.SpanContext
		wantOutcome string
	}{
		// One server (pg_hba: scram-sha-256 for one user, trust for the others).
		{"trusted user, one request in flight", mixedPostgresURL, "", "", []trace.SpanContext{inbound}, contract.AuthMethodNone, "", "inferred", inbound, "ok"},
		{"scram-sha-256 user, none in flight", mixedPostgresURL, scramUser, scramPassword, nil, contract.AuthMethodSCRAM, "", "ambiguous", trace.SpanContext{}, "ok"},
		{"scram-sha-256 user, two in flight (a pool opening ahead)", mixedPostgresURL, scramUser, scramPassword, []trace.SpanContext{inbound, other}, contract.AuthMethodSCRAM, "", "ambiguous", trace.SpanContext{}, "ok"},
		{"scram-sha-256 user, wrong password", mixedPostgresURL, scramUser, "not the password", []trace.SpanContext{inbound}, contract.AuthMethodSCRAM, "28P01", "inferred", inbound, "error"},
		// scram-sha-256 for every TCP connection, the superuser's password.
		{"superuser with a password", securePostgresURL, "", "", nil, contract.AuthMethodSCRAM, "", "ambiguous", trace.SpanContext{}, "ok"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dbURL := tc.dbURL(t)
			if tc.user != "" {
				u, err := url.Parse(dbURL)
				if err != nil {
					t.Fatal(err)
				}
				u.User = url.UserPassword(tc.user, tc.password)
				dbURL = u.String()
			}
			f := newFixture(t, targetOf(t, dbURL), "")
			var leaves []func()
			for _, sc := range tc.inFlight {
				leaves = append(leaves, f.tracker.Enter(sc))
			}
			c, err := pgx.Connect(ctx, f.via(dbURL, "disable"))
			for _, leave := range leaves {
				leave()
			}
			if tc.wantErr != "" {
				_, direct := pgx.Connect(ctx, dbURL)
				var viaErr, directErr *pgconn.PgError
				if !errors.As(err, &viaErr) || !errors.As(direct, &directErr) {
					t.Fatalf("through the proxy: %v; directly: %v; want PostgreSQL errors", err, direct)
				}
				if viaErr.Code != tc.wantErr || viaErr.Code != directErr.Code || viaErr.Severity != directErr.Severity || viaErr.Message != directErr.Message {
					t.Fatalf("through the proxy: %s %s %q; directly: %s %s %q", viaErr.Severity, viaErr.Code, viaErr.Message, directErr.Severity, directErr.Code, directErr.Message)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				var one int
				if err := c.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
					t.Fatalf("first query: %d, %v", one, err)
				}
				c.Close(ctx)
			}

			var conn sdktrace.ReadOnlySpan
			testkit.Eventually(t, "a connect span", 5*time.Second, func() bool {
				cs := connects(f.spans.Ended())
				if len(cs) > 0 {
					conn = cs[0]
				}
				return len(cs) > 0
			}, func() string { return describe(f.spans.Ended()) })
			spans := f.settle()
			if n := len(connects(spans)); n != 1 {
				t.Errorf("%d connect spans, want 1", n)
			}
			if got := attr(conn, contract.AttrDBAuthMethod); got != tc.wantAuth {
				t.Errorf("auth method %q, want %q", got, tc.wantAuth)
			}
			if d := conn.EndTime().Sub(conn.StartTime()); d <= 0 {
				t.Errorf("connect took %s, want > 0", d)
			}
			if got := attr(conn, "error.type"); got != tc.wantErr {
				t.Errorf("error.type %q, want %q", got, tc.wantErr)
			}
			if tc.wantErr != "" {
				if got := attr(conn, contract.AttrDBResponseStatusCode); got != tc.wantErr {
					t.Errorf("db.response.status_code %q, want %q", got, tc.wantErr)
				}
				if got := attr(conn, AttrSeverity); got != "FATAL" {
					t.Errorf("severity %q, want FATAL", got)
				}
			}
			if got := attr(conn, "hopscope.attribution"); got != tc.wantAttrib {
				t.Errorf("attribution %q, want %q", got, tc.wantAttrib)
			}
			if p := conn.Parent(); p.TraceID() != tc.wantParent.TraceID() || p.SpanID() != tc.wantParent.SpanID() {
				t.Errorf("parent %s/%s, want %s/%s", p.TraceID(), p.SpanID(), tc.wantParent.TraceID(), tc.wantParent.SpanID())
			}
			if conn.Name() != "connect db" {
				t.Errorf("span name %q", conn.Name())
			}
			qs := queries(spans)
			if tc.wantErr == "" {
				if len(qs) == 0 || calls(qs)[0] != (call{"SELECT", "SELECT ?", ""}) {
					t.Fatalf("queries after the connect:\n%s", describe(qs))
				}
				if first := qs[0]; first.StartTime().Before(conn.EndTime()) {
					t.Errorf("the first query began %s before the connect ended: setup folded into it", conn.EndTime().Sub(first.StartTime()))
				}
			} else if len(qs) != 0 {
				t.Errorf("queries after a refused startup:\n%s", describe(qs))
			}
			if got := f.histogram(KindConnect, tc.wantOutcome); got != 1 {
				t.Errorf("hopscope_backend_duration_seconds{operation=connect,outcome=%s} count %d, want 1", tc.wantOutcome, got)
			}
		})
	}
}

// TestAuthMethod: the method named from each Authentication request a
// server can send (protocol 3.0's message formats); the messages that
// continue an exchange name none.
func TestAuthMethod(t *testing.T) {
	for _, tc := range []struct {
		name string
		body []byte
		want string
	}{
		{"AuthenticationOk", i32(0), contract.AuthMethodNone},
		{"KerberosV5", i32(2), contract.AuthMethodOther},
		{"CleartextPassword", i32(3), contract.AuthMethodCleartext},
		{"MD5Password with salt", cat(i32(5), []byte{1, 2, 3, 4}), contract.AuthMethodMD5},
		{"GSS", i32(7), contract.AuthMethodGSS},
		{"SSPI", i32(9), contract.AuthMethodGSS},
		{"GSSContinue", cat(i32(8), []byte("data")), ""},
		{"SASL, SCRAM-SHA-256 first", cat(i32(10), cstr("SCRAM-SHA-256"), cstr("SCRAM-SHA-256-PLUS"), []byte{0}), contract.AuthMethodSCRAM},
		{"SASL, PLUS first", cat(i32(10), cstr("SCRAM-SHA-256-PLUS"), cstr("SCRAM-SHA-256"), []byte{0}), contract.AuthMethodSCRAM},
		{"SASL, an unknown mechanism", cat(i32(10), cstr("OAUTHBEARER"), []byte{0}), contract.AuthMethodSASL},
		{"SASL, list cut by the capture", cat(i32(10), []byte("SCRAM-SHA")), contract.AuthMethodSASL},
		{"SASLContinue", cat(i32(11), []byte("r=nonce,s=salt,i=4096")), ""},
		{"SASLFinal", cat(i32(12), []byte("v=verifier")), ""},
		{"unknown type", i32(99), contract.AuthMethodOther},
		{"too short", []byte{0, 0}, contract.AuthMethodOther},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := authMethod(tc.body); got != tc.want {
				t.Errorf("authMethod = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestConnectDecoded: on a recorded SCRAM startup (the FuzzBackend
// conversation seed, as Debian's PostgreSQL 15 answers) the connect call
// ends at the first ReadyForQuery, and a refused startup is recorded with
// its SQLSTATE when the connection ends.
func TestConnectDecoded(t *testing.T) {
	scram := cat(msg('R', i32(10), cstr("SCRAM-SHA-256"), []byte{0}), msg('R', i32(11), []byte("r=n,s=s,i=4096")),
		msg('R', i32(12), []byte("v=x")), msg('R', i32(0)), msg('S', cstr("server_version"), cstr("15.0")), msg('K', i32(42), i32(7)), readyMsg())
	for _, tc := range []struct {
		name     string
		server   []byte
		wantAuth string
		wantErr  string
	}{
		{"scram", scram, contract.AuthMethodSCRAM, ""},
		{"md5", cat(msg('R', i32(5), []byte{1, 2, 3, 4}), serverHello()), contract.AuthMethodMD5, ""},
		{"cleartext refused", cat(msg('R', i32(3)), errorMsg("FATAL", "28P01", "password authentication failed")), contract.AuthMethodCleartext, "28P01"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestSession(t)
			ts.feed([]step{{startupMsg("u", "d"), tc.server}}, whole)
			if tc.wantErr != "" {
				ts.abandon(time.Now())
			}
			cs := connects(ts.spans.Ended())
			if len(cs) != 1 {
				t.Fatalf("%d connect spans:\n%s", len(cs), describe(ts.spans.Ended()))
			}
			if got := attr(cs[0], contract.AttrDBAuthMethod); got != tc.wantAuth {
				t.Errorf("auth method %q, want %q", got, tc.wantAuth)
			}
			if got := attr(cs[0], "error.type"); got != tc.wantErr {
				t.Errorf("error %q, want %q", got, tc.wantErr)
			}
		})
	}
}

// FuzzAuthMethod: any Authentication body names a method from the
// contract's bounded set (or none), never text taken from the body.
func FuzzAuthMethod(f *testing.F) {
	f.Add(i32(0))
	f.Add(cat(i32(5), []byte{1, 2, 3, 4}))
	f.Add(cat(i32(10), cstr("SCRAM-SHA-256"), []byte{0}))
	f.Add(cat(i32(11), []byte("r=nonce,s=salt,i=4096")))
	valid := map[string]bool{"": true, contract.AuthMethodNone: true, contract.AuthMethodCleartext: true, contract.AuthMethodMD5: true,
		contract.AuthMethodSCRAM: true, contract.AuthMethodSASL: true, contract.AuthMethodGSS: true, contract.AuthMethodOther: true}
	f.Fuzz(func(t *testing.T, body []byte) {
		if got := authMethod(body); !valid[got] {
			t.Fatalf("authMethod(%q) = %q, outside the bounded set", body, got)
		}
	})
}
