package pgproxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/hopscope/hopscope/internal/contract"
	"github.com/hopscope/hopscope/internal/realcomp"
	"github.com/hopscope/hopscope/internal/testkit"
	"github.com/hopscope/hopscope/sidecar/backend"
	"github.com/hopscope/hopscope/sidecar/backend/backendtest"
)

// tlsOnlyPG has ssl=on with a certificate from tlsCA for 127.0.0.1 and
// db.test, and a pg_hba.conf of hostssl lines only: certUser
// authenticates with a client certificate, everyone else is trusted, and
// no plain-text TCP connection is let in.
var tlsOnlyPG server

// certs of the TLS tests: tlsCA issued the server's certificate, the
// sidecar's (terminate) and certUser's; otherCA issued none of them.
var tlsCerts struct {
	ca, other               *backendtest.CA
	clientCert, clientKey   string
	sidecarCert, sidecarKey string
}

// certUser is tlsOnlyPG's role that logs in with a client certificate.
const certUser = "certuser"

// tlsOnlyPostgresURL is tlsOnlyPG's URL for the superuser postgres, with
// sslmode=disable (which the server refuses).
func tlsOnlyPostgresURL(t testing.TB) string {
	return tlsOnlyPG.start(t, func(dir string) (string, func(), error) {
		ca, err := backendtest.NewCA(dir, "test")
		if err != nil {
			return "", nil, err
		}
		other, err := backendtest.NewCA(dir, "other")
		if err != nil {
			return "", nil, err
		}
		crt, key, err := ca.Issue("server", "db.test", "127.0.0.1", "db.test")
		if err != nil {
			return "", nil, err
		}
		tlsCerts.ca, tlsCerts.other = ca, other
		if tlsCerts.clientCert, tlsCerts.clientKey, err = ca.Issue("client", certUser); err != nil {
			return "", nil, err
		}
		if tlsCerts.sidecarCert, tlsCerts.sidecarKey, err = ca.Issue("sidecar", "sidecar", "127.0.0.1"); err != nil {
			return "", nil, err
		}
		hba := "local all all trust\n" +
			"hostssl all " + certUser + " 127.0.0.1/32 cert\n" +
			"hostssl all all 127.0.0.1/32 trust\n"
		dbURL, stop, err := realcomp.PostgresHBA(dir, hba, "-c ssl=on", "-c ssl_cert_file="+crt, "-c ssl_key_file="+key, "-c ssl_ca_file="+ca.File)
		if err != nil {
			return "", nil, err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, strings.Replace(dbURL, "sslmode=disable", "sslmode=require", 1))
		if err == nil {
			_, err = c.Exec(ctx, "CREATE ROLE "+certUser+" LOGIN")
			c.Close(ctx)
		}
		if err != nil {
			stop()
			return "", nil, fmt.Errorf("creating role %s: %w", certUser, err)
		}
		return dbURL, stop, nil
	})
}

// tlsWorkload is what each case does on a connection: whether the
// server sees TLS, who it is, and a reply of 200 kB for the decoder.
func tlsWorkload(ctx context.Context, c *pgx.Conn) (ssl bool, user string, err error) {
	if err = c.QueryRow(ctx, "SELECT ssl, current_user FROM pg_stat_ssl WHERE pid = pg_backend_pid()").Scan(&ssl, &user); err != nil {
		return
	}
	var big string
	if err = c.QueryRow(ctx, "SELECT repeat('x', 200000)").Scan(&big); err == nil && len(big) != 200000 {
		err = fmt.Errorf("a reply of %d bytes, want 200000", len(big))
	}
	return
}

// TestTLSToServer: against Debian's PostgreSQL with ssl=on and hostssl
// lines only (plain text refused: checked directly), the proxy in mode
// originate reaches it in TLS for an app speaking plain text (and for one
// whose SSLRequest it answers N), with a client certificate when
// configured; in mode terminate the app's own verified TLS ends at the
// proxy. The spans and metrics are those of the same work in plain text,
// the connect span says tls.protocol.version, nothing fails to decode. A
// server that is not trusted, not named as configured, or that does not
// speak TLS gives the app a FATAL 08001 and a connect span in error.
func TestTLSToServer(t *testing.T) {
	dbURL := tlsOnlyPostgresURL(t)
	target := targetOf(t, dbURL)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// Plain text straight to the server is refused.
	_, err := pgx.Connect(ctx, dbURL)
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "28000" || !strings.Contains(pgErr.Message, "no encryption") {
		t.Fatalf("plain text directly: %v, want 28000 no pg_hba.conf entry … no encryption", err)
	}

	// The same work in plain text, through a proxy without TLS: the
	// spans the TLS cases must match.
	plainURL := postgresURL(t)
	base := newFixture(t, targetOf(t, plainURL), "")
	bc, err := pgx.Connect(ctx, base.via(plainURL, "disable"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := tlsWorkload(ctx, bc); err != nil {
		t.Fatal(err)
	}
	bc.Close(ctx)
	base.waitSpans(2)
	want := calls(base.settle())

	ca := func() string { return tlsCerts.ca.File }
	for _, tc := range []struct {
		name     string
		tls      func() backend.TLSConfig
		user     string
		sslmode  string // the app's, through the proxy
		verify   bool   // the app verifies the proxy's certificate (sslrootcert)
		direct   bool   // the app starts TLS at once (sslnegotiation=direct, PostgreSQL 17's)
		wantUser string
		wantErr  string // the connect span's error.type; the app gets 08001
	}{
		{"originate, app in plain text", func() backend.TLSConfig { return backend.TLSConfig{Mode: backend.TLSOriginate, CAFile: ca()} }, "", "disable", false, false, "postgres", ""},
		{"originate, app's SSLRequest answered N", func() backend.TLSConfig { return backend.TLSConfig{Mode: backend.TLSOriginate, CAFile: ca()} }, "", "prefer", false, false, "postgres", ""},
		{"originate, server name configured", func() backend.TLSConfig {
			return backend.TLSConfig{Mode: backend.TLSOriginate, CAFile: ca(), ServerName: "db.test"}
		}, "", "disable", false, false, "postgres", ""},
		{"originate with a client certificate", func() backend.TLSConfig {
			return backend.TLSConfig{Mode: backend.TLSOriginate, CAFile: ca(), CertFile: tlsCerts.clientCert, KeyFile: tlsCerts.clientKey}
		}, certUser, "disable", false, false, certUser, ""},
		{"terminate, app verifies the sidecar", func() backend.TLSConfig {
			return backend.TLSConfig{Mode: backend.TLSTerminate, CAFile: ca(), ListenCertFile: tlsCerts.sidecarCert, ListenKeyFile: tlsCerts.sidecarKey}
		}, "", "verify-full", true, false, "postgres", ""},
		{"terminate, app's direct TLS", func() backend.TLSConfig {
			return backend.TLSConfig{Mode: backend.TLSTerminate, CAFile: ca(), ListenCertFile: tlsCerts.sidecarCert, ListenKeyFile: tlsCerts.sidecarKey}
		}, "", "verify-full", true, true, "postgres", ""},
		{"terminate, app in plain text", func() backend.TLSConfig {
			return backend.TLSConfig{Mode: backend.TLSTerminate, CAFile: ca(), ListenCertFile: tlsCerts.sidecarCert, ListenKeyFile: tlsCerts.sidecarKey}
		}, "", "disable", false, false, "postgres", ""},
		{"insecureSkipVerify accepts an untrusted server", func() backend.TLSConfig {
			return backend.TLSConfig{Mode: backend.TLSOriginate, InsecureSkipVerify: true}
		}, "", "disable", false, false, "postgres", ""},
		{"a server another CA signed", func() backend.TLSConfig {
			return backend.TLSConfig{Mode: backend.TLSOriginate, CAFile: tlsCerts.other.File}
		}, "", "disable", false, false, "", backend.ErrorTLSHandshake},
		{"a server of another name", func() backend.TLSConfig {
			return backend.TLSConfig{Mode: backend.TLSOriginate, CAFile: ca(), ServerName: "other.test"}
		}, "", "disable", false, false, "", backend.ErrorTLSHandshake},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixtureTLS(t, target, tc.tls())
			u, _ := url.Parse(f.via(dbURL, tc.sslmode))
			if tc.user != "" {
				u.User = url.User(tc.user)
			}
			if tc.verify {
				q := u.Query()
				q.Set("sslrootcert", tlsCerts.ca.File)
				if tc.direct {
					q.Set("sslnegotiation", "direct")
				}
				u.RawQuery = q.Encode()
			}
			c, err := pgx.Connect(ctx, u.String())
			if tc.wantErr != "" {
				if !errors.As(err, &pgErr) || pgErr.Code != "08001" || pgErr.Severity != "FATAL" {
					t.Fatalf("connecting: %v, want FATAL 08001", err)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				if _, appTLS := c.PgConn().Conn().(*tls.Conn); appTLS != tc.verify {
					t.Errorf("the app's connection in TLS: %v, want %v", appTLS, tc.verify)
				}
				f.waitGauge(backend.StateDecoded, 1)
				ssl, user, err := tlsWorkload(ctx, c)
				if err != nil {
					t.Fatal(err)
				}
				if !ssl || user != tc.wantUser {
					t.Errorf("the server saw ssl=%v user %s, want ssl=true user %s", ssl, user, tc.wantUser)
				}
				c.Close(ctx)
				f.waitGauge(backend.StateDecoded, 0)
				f.waitSpans(2)
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
			if got := attr(conn, "error.type"); got != tc.wantErr {
				t.Errorf("connect error.type %q, want %q", got, tc.wantErr)
			}
			if tc.wantErr != "" {
				if got := f.histogram(KindConnect, "error"); got != 1 {
					t.Errorf("connect errors observed %d, want 1", got)
				}
				return
			}
			if got := attr(conn, contract.AttrTLSProtocolVersion); got != "1.3" {
				t.Errorf("connect span tls.protocol.version %q, want 1.3", got)
			}
			if got := calls(spans); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("calls in TLS:\n%v\nin plain text:\n%v", got, want)
			}
			if got := f.histogram(KindConnect, "ok"); got != 1 {
				t.Errorf("connects observed %d, want 1", got)
			}
			if f.decodeErrors() != 0 {
				t.Errorf("decode errors %v", f.decodeErrors())
			}
		})
	}
}

// TestTLSRefused: mode originate to a server without TLS: the app gets
// FATAL 08001 naming the refusal, the connect span tls_refused.
func TestTLSRefused(t *testing.T) {
	plainURL := postgresURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	f := newFixtureTLS(t, targetOf(t, plainURL), backend.TLSConfig{Mode: backend.TLSOriginate})
	_, err := pgx.Connect(ctx, f.via(plainURL, "disable"))
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "08001" || !strings.Contains(pgErr.Message, "refused TLS") {
		t.Fatalf("originate to a server without TLS: %v, want FATAL 08001 … refused TLS", err)
	}
	testkit.Eventually(t, "a connect span", 5*time.Second, func() bool { return len(connects(f.spans.Ended())) == 1 },
		func() string { return describe(f.spans.Ended()) })
	if got := attr(connects(f.spans.Ended())[0], "error.type"); got != backend.ErrorTLSRefused {
		t.Errorf("error.type %q, want %s", got, backend.ErrorTLSRefused)
	}
}

// TestTLSConfigFiles: a proxy whose files cannot be read does not start,
// and says which key.
func TestTLSConfigFiles(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		tls  backend.TLSConfig
		want string
	}{
		{"missing CA", backend.TLSConfig{Mode: backend.TLSOriginate, CAFile: filepath.Join(dir, "none.crt")}, "tls.caFile"},
		{"CA not PEM", backend.TLSConfig{Mode: backend.TLSOriginate, CAFile: notPEM}, "tls.caFile"},
		{"client key missing", backend.TLSConfig{Mode: backend.TLSOriginate, CertFile: notPEM, KeyFile: filepath.Join(dir, "none.key")}, "tls.certFile"},
		{"listen certificate", backend.TLSConfig{Mode: backend.TLSTerminate, ListenCertFile: notPEM, ListenKeyFile: notPEM}, "tls.listenCertFile"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, err := backend.NewRecorder(backend.Options{})
			if err != nil {
				t.Fatal(err)
			}
			_, err = New(rec.Backend(backend.Config{Name: "db", Kind: backend.KindPostgres, Listen: "127.0.0.1:0", Target: "127.0.0.1:5432", TLS: tc.tls}))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: %v, want an error naming %s", err, tc.want)
			}
		})
	}
}
