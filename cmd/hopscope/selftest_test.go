package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"github.com/hopscope/hopscope/internal/testkit"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hopscope/hopscope/collector"
	"github.com/hopscope/hopscope/injector"
)

// TestSelftest runs the chart's helm test against a real collector and a
// real injector on loopback, then against a collector that is not there.
func TestSelftest(t *testing.T) {
	ccfg := collector.DefaultConfig()
	ccfg.OTLPGRPCListen, ccfg.ForwardListen, ccfg.RUMListen = "", "", ""
	ccfg.OTLPHTTPListen, ccfg.HTTPListen = "127.0.0.1:0", "127.0.0.1:0"
	col, err := collector.New(ccfg, collector.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := col.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { col.Shutdown(context.Background()) })

	// The injector with a certificate from a directory (the cert-manager
	// mode: no API server needed).
	dir := t.TempDir()
	var out, errb bytes.Buffer
	certs := injectorCerts(t, dir)
	icfg := injector.DefaultConfig()
	icfg.Listen, icfg.AdminListen, icfg.CertDir, icfg.ShutdownGrace = "127.0.0.1:0", "", certs, 0
	icfg.Template = filepath.Join("..", "..", "injector", "testdata", "sidecar-template.yaml")
	inj, err := injector.New(icfg, injector.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := inj.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inj.Shutdown(context.Background()) })

	args := []string{"selftest", "--collector", "http://" + col.HTTPAddr().String(), "--otlp", "http://" + col.OTLPHTTPAddr().String(),
		"--injector", "https://" + inj.Addr().String(), "--timeout", "20s"}
	if code := run(context.Background(), args, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s %s", code, out.String(), errb.String())
	}
	for _, want := range []string{"ok  collector is healthy", "ok  collector accepts an OTLP/HTTP export", "ok  injector adds the sidecar to an annotated pod"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}

	out.Reset()
	errb.Reset()
	start := time.Now()
	args = []string{"selftest", "--collector", "http://" + freeAddr(t), "--otlp", "http://" + freeAddr(t), "--timeout", "2s"}
	if code := run(context.Background(), args, &out, &errb); code != 1 || !strings.Contains(errb.String(), "collector is healthy") {
		t.Errorf("against nothing: exit %d, stderr %q", code, errb.String())
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("--timeout 2s took %v", d)
	}
}

// TestSelftestWithToken: with the chart's auth.enabled the selftest pod
// has the token in OTEL_EXPORTER_OTLP_HEADERS; it exports with it, checks
// that an export without it is refused and that the API takes it. Given a
// wrong token it fails, naming the check.
func TestSelftestWithToken(t *testing.T) {
	const token = "selftest-0123456789abcdef"
	path := testkit.TokenFile(t, token)
	ccfg := collector.DefaultConfig()
	ccfg.OTLPGRPCListen, ccfg.ForwardListen, ccfg.RUMListen = "", "", ""
	ccfg.OTLPHTTPListen, ccfg.HTTPListen, ccfg.AuthTokenFile = "127.0.0.1:0", "127.0.0.1:0", path
	col, err := collector.New(ccfg, collector.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := col.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { col.Shutdown(context.Background()) })
	args := []string{"selftest", "--collector", "http://" + col.HTTPAddr().String(), "--otlp", "http://" + col.OTLPHTTPAddr().String(), "--timeout", "3s"}
	for _, tc := range []struct {
		headers string
		code    int
		want    string
	}{
		{"authorization=Bearer%20" + token, 0, "ok  collector API takes the token"},
		{"authorization=Bearer%20wrong-0123456789abcdef", 1, "collector accepts an OTLP/HTTP export: POST"},
		{"", 1, "401 Unauthorized"},
	} {
		t.Setenv("OTEL_EXPORTER_OTLP_HEADERS", tc.headers)
		var out, errb bytes.Buffer
		code := run(context.Background(), args, &out, &errb)
		if code != tc.code || !strings.Contains(out.String()+errb.String(), tc.want) {
			t.Errorf("headers %q: exit %d, want %d with %q:\n%s%s", tc.headers, code, tc.code, tc.want, out.String(), errb.String())
		}
	}
}

// injectorCerts writes a self-signed certificate for 127.0.0.1 into dir.
func injectorCerts(t *testing.T, dir string) string {
	t.Helper()
	cert, key := selfSignedForTest(t)
	os.WriteFile(filepath.Join(dir, "tls.crt"), cert, 0o600)
	os.WriteFile(filepath.Join(dir, "tls.key"), key, 0o600)
	return dir
}

// selfSignedForTest makes a self-signed ECDSA certificate for 127.0.0.1.
func selfSignedForTest(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}
