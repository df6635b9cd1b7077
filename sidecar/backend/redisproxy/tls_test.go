package redisproxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hopscope/hopscope/internal/realcomp"
	"github.com/hopscope/hopscope/sidecar/backend"
	"github.com/hopscope/hopscope/sidecar/backend/backendtest"
)

// startTLSRedis runs a redis-server that speaks TLS only (port 0,
// tls-port), with a certificate from ca for 127.0.0.1 and cache.test,
// client certificates optional, and returns its host:port.
func startTLSRedis(t *testing.T, ca *backendtest.CA) string {
	t.Helper()
	bin, err := realcomp.Lookup("redis-server")
	if err != nil {
		t.Fatal(err)
	}
	crt, key, err := ca.Issue("redis", "cache.test", "127.0.0.1", "cache.test")
	if err != nil {
		t.Fatal(err)
	}
	port, err := realcomp.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	p, err := realcomp.Start("redis", exec.Command(bin, "--port", "0", "--tls-port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--tls-cert-file", crt, "--tls-key-file", key, "--tls-ca-cert-file", ca.File, "--tls-auth-clients", "optional",
		"--save", "", "--appendonly", "no"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if err := realcomp.WaitTCP("redis", addr, 10*time.Second); err != nil {
		t.Fatalf("%v: %s", err, p.Output())
	}
	return addr
}

// TestTLSOriginate: a redis-server with tls-port and port 0 (as
// ElastiCache with in-transit encryption) refuses a plain-text client;
// through the proxy in mode originate go-redis, speaking plain text to
// it, gets the same results as a TLS client directly, and the calls are
// timed as in plain text (the same observations as the same work through
// a proxy to a plain server). A server the configured authority did not
// sign, or not of the configured name, fails the app's connection and
// makes a connect call in error tls_handshake.
func TestTLSOriginate(t *testing.T) {
	dir := t.TempDir()
	ca, err := backendtest.NewCA(dir, "test")
	if err != nil {
		t.Fatal(err)
	}
	other, err := backendtest.NewCA(dir, "other")
	if err != nil {
		t.Fatal(err)
	}
	clientCrt, clientKey, err := ca.Issue("client", "app")
	if err != nil {
		t.Fatal(err)
	}
	addr := startTLSRedis(t, ca)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// Plain text directly is refused.
	if err := newClient(t, addr, 3, "").Ping(ctx).Err(); err == nil {
		t.Fatal("a plain-text PING to the TLS-only server succeeded")
	}
	// The reference: a TLS client directly.
	pem, err := os.ReadFile(ca.File)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	directTLS := redis.NewClient(&redis.Options{Addr: addr, Protocol: 3, MaxRetries: -1, PoolSize: 4,
		TLSConfig: &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"}})
	t.Cleanup(func() { directTLS.Close() })
	direct := scenario(ctx, directTLS, "tls:")

	// The observations of the same work in plain text.
	plain := newRig(t, redisServer(t))
	scenario(ctx, newClient(t, startProxy(t, plain, nil), 3, ""), "tlsplain:")
	plain.waitScenario(t)
	wantObs := plain.observations()

	for _, tc := range []struct {
		name    string
		tls     backend.TLSConfig
		wantErr bool
	}{
		{"originate, the CA configured", backend.TLSConfig{Mode: backend.TLSOriginate, CAFile: ca.File}, false},
		{"originate with a server name and a client certificate", backend.TLSConfig{Mode: backend.TLSOriginate, CAFile: ca.File,
			ServerName: "cache.test", CertFile: clientCrt, KeyFile: clientKey}, false},
		{"insecureSkipVerify", backend.TLSConfig{Mode: backend.TLSOriginate, InsecureSkipVerify: true}, false},
		{"a server another CA signed", backend.TLSConfig{Mode: backend.TLSOriginate, CAFile: other.File}, true},
		{"a server of another name", backend.TLSConfig{Mode: backend.TLSOriginate, CAFile: ca.File, ServerName: "other.test"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, addr)
			r.b.Config.TLS = tc.tls
			proxy := startProxy(t, r, nil)
			c := newClient(t, proxy, 3, "")
			if tc.wantErr {
				if err := c.Ping(ctx).Err(); err == nil {
					t.Fatal("PING through a proxy that cannot verify the server succeeded")
				}
				r.waitFor(t, "connect", "error", 1)
				if got := r.callsOf("connect"); len(got) == 0 || got[0].Err != backend.ErrorTLSHandshake {
					t.Errorf("connect calls %v, want error.type %s", got, backend.ErrorTLSHandshake)
				}
				return
			}
			proxied := scenario(ctx, c, "tls:")
			if !reflect.DeepEqual(proxied, direct) {
				t.Errorf("through the proxy:\n%s\nTLS directly:\n%s", strings.Join(proxied, "\n"), strings.Join(direct, "\n"))
			}
			r.waitScenario(t)
			if got := r.observations(); !reflect.DeepEqual(got, wantObs) {
				t.Errorf("observations through TLS:\n%v\nin plain text:\n%v", got, wantObs)
			}
			if e := r.decodeErrors(); e != 0 {
				t.Errorf("%v decode errors", e)
			}
		})
	}
}

// TestTLSModes: the redis proxy takes originate only, and says which key
// when its files cannot be read.
func TestTLSModes(t *testing.T) {
	for _, tc := range []struct {
		name string
		tls  backend.TLSConfig
		want string
	}{
		{"passthrough", backend.TLSConfig{Mode: backend.TLSPassthrough}, "tls.mode"},
		{"terminate", backend.TLSConfig{Mode: backend.TLSTerminate}, "tls.mode"},
		{"missing CA", backend.TLSConfig{Mode: backend.TLSOriginate, CAFile: "/nonexistent/ca.crt"}, "tls.caFile"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, "127.0.0.1:6379")
			r.b.Config.TLS = tc.tls
			if _, err := New(r.b); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: %v, want an error naming %s", err, tc.want)
			}
		})
	}
}
