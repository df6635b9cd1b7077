package pgproxy

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/hopscope/hopscope/sidecar/backend"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestSCRAM: SCRAM-SHA-256 passes through the proxy untouched (the
// proxy never reads it), for pgx and psql; a wrong password fails as it
// would directly; nothing of the exchange reaches a span (the refusal's
// SQLSTATE is the connect span's error: TestConnect).
func TestSCRAM(t *testing.T) {
	dbURL := securePostgresURL(t)
	f := newFixture(t, targetOf(t, dbURL), "")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	c, err := pgx.Connect(ctx, f.via(dbURL, "prefer"))
	if err != nil {
		t.Fatalf("connecting through the proxy with SCRAM: %v", err)
	}
	var method string
	if err := c.QueryRow(ctx, "SELECT current_setting('password_encryption')").Scan(&method); err != nil || method != "scram-sha-256" {
		t.Fatalf("password_encryption %q, %v", method, err)
	}
	c.Close(ctx)

	psql, err := exec.LookPath("psql")
	if err != nil {
		t.Fatal("psql is not installed (apt-get install postgresql-client-15)")
	}
	cmd := exec.Command(psql, "-X", "-h", "127.0.0.1", "-p", f.port(), "-U", "postgres", "-d", "postgres", "-tAc", "select 'scram ok'")
	cmd.Env = append(os.Environ(), "PGPASSWORD="+securePassword, "PGSSLMODE=disable")
	if out, err := cmd.CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "scram ok" {
		t.Fatalf("psql with SCRAM through the proxy: %v: %s", err, out)
	}

	u, _ := url.Parse(f.via(dbURL, ""))
	u.User = url.UserPassword("postgres", "wrong password")
	_, err = pgx.Connect(ctx, u.String())
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "28P01" {
		t.Fatalf("a wrong password through the proxy: %v, want 28P01 invalid_password", err)
	}

	f.waitSpans(3)
	for _, s := range f.settle() {
		for _, kv := range s.Attributes() {
			v := kv.Value.Emit()
			if strings.Contains(v, "Sc-Ram") || strings.Contains(v, "wrong password") || strings.Contains(v, "28P01") && attr(s, "db.operation.name") != KindConnect {
				t.Errorf("span %s carries %s=%q from the authentication", s.Name(), kv.Key, v)
			}
		}
	}
	// pgx prepares, then executes; psql sends one Query.
	want := []call{{"SELECT", "SELECT current_setting(?)", ""}, {"SELECT", "SELECT current_setting(?)", ""}, {"SELECT", "select ?", ""}}
	if got := calls(f.settle()); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("calls %v, want %v", got, want)
	}
}

// TestTLS: without passthrough the proxy answers an SSLRequest N itself,
// so the app goes on in plain text (decoded) even with a server that has
// TLS; with passthrough the server answers, and a TLS session is relayed
// opaque, counted relayed.
func TestTLS(t *testing.T) {
	secureURL := securePostgresURL(t)
	plainURL := postgresURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// sslInUse connects and asks the server whether the session is TLS.
	sslInUse := func(t *testing.T, f *fixture, dbURL, sslmode string) (bool, error) {
		c, err := pgx.Connect(ctx, f.via(dbURL, sslmode))
		if err != nil {
			return false, err
		}
		defer c.Close(ctx)
		var ssl bool
		err = c.QueryRow(ctx, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").Scan(&ssl)
		if err != nil {
			return false, err
		}
		return ssl, nil
	}

	for _, tc := range []struct {
		name     string
		dbURL    string
		tls      string
		sslmode  string
		wantErr  bool
		wantSSL  bool
		wantMode string // connections state while open
	}{
		{"prefer gets N from the proxy and continues in plain text", secureURL, "", "prefer", false, false, "decoded"},
		{"require fails: the proxy refuses TLS", secureURL, "", "require", true, false, ""},
		{"passthrough: TLS session relayed opaque", secureURL, backend.TLSPassthrough, "require", false, true, "relayed"},
		{"passthrough, no SSLRequest: decoded", secureURL, backend.TLSPassthrough, "disable", false, false, "decoded"},
		{"passthrough to a server without TLS: its N forwarded, decoded", plainURL, backend.TLSPassthrough, "prefer", false, false, "decoded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, targetOf(t, tc.dbURL), tc.tls)
			if tc.wantErr {
				if _, err := sslInUse(t, f, tc.dbURL, tc.sslmode); err == nil || !strings.Contains(err.Error(), "refused TLS") {
					t.Fatalf("sslmode=%s through a proxy that answers N: %v, want server refused TLS", tc.sslmode, err)
				}
				return
			}
			c, err := pgx.Connect(ctx, f.via(tc.dbURL, tc.sslmode))
			if err != nil {
				t.Fatal(err)
			}
			f.waitGauge(tc.wantMode, 1)
			var ssl bool
			if err := c.QueryRow(ctx, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").Scan(&ssl); err != nil {
				t.Fatal(err)
			}
			if ssl != tc.wantSSL {
				t.Errorf("session TLS %v, want %v", ssl, tc.wantSSL)
			}
			c.Close(ctx)
			f.waitGauge(tc.wantMode, 0)
			spans := f.settle()
			if tc.wantMode == "relayed" {
				if len(spans) != 0 {
					t.Errorf("an opaque TLS session made spans:\n%s", describe(spans))
				}
			} else if got := calls(spans); len(got) == 0 || got[len(got)-1] != (call{"SELECT", "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", ""}) {
				t.Errorf("calls of a plain session:\n%s", describe(spans))
			}
			if f.decodeErrors() != 0 {
				t.Errorf("decode errors %v", f.decodeErrors())
			}
		})
	}
}
