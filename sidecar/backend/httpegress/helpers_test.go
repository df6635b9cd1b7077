package httpegress

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hopscope/hopscope/internal/testkit"
	"github.com/hopscope/hopscope/sidecar/backend"
	"github.com/hopscope/hopscope/sidecar/backend/backendtest"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// env is one test's recorder: spans, metrics, in-flight requests.
type env struct {
	t       testing.TB
	spans   *tracetest.SpanRecorder
	reg     *prometheus.Registry
	tracker *backend.Tracker
	rec     *backend.Recorder
}

func newEnv(t testing.TB) *env {
	t.Helper()
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	e := &env{t: t, spans: sr, reg: prometheus.NewRegistry(), tracker: backend.NewTracker()}
	rec, err := backend.NewRecorder(backend.Options{Tracer: tp.Tracer("test"), Tracker: e.tracker, Registerer: e.reg})
	if err != nil {
		t.Fatal(err)
	}
	e.rec = rec
	return e
}

// listen starts a backend.Server on 127.0.0.1 for h and returns its
// address.
func (e *env) listen(name string, h backend.Handler) string {
	e.t.Helper()
	return backendtest.Serve(e.t, backend.NewServer(backend.Config{Name: name, Kind: backend.KindHTTP, Listen: "127.0.0.1:0"}, h, nil))
}

// backendProxy makes a kind http backend proxy for cfg and serves it.
func (e *env) backendProxy(cfg backend.Config, opts Options) (*Proxy, string) {
	e.t.Helper()
	cfg.Kind = backend.KindHTTP
	if cfg.Name == "" {
		cfg.Name = "pay"
	}
	p, err := NewBackend(e.rec.Backend(cfg), opts)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { p.Close() })
	return p, e.listen(cfg.Name, p)
}

// forwardProxy makes the forward proxy recording on backend "egress".
func (e *env) forwardProxy(cfg backend.Config, opts Options) (*Proxy, string) {
	e.t.Helper()
	cfg.Name, cfg.Kind = "egress", backend.KindHTTP
	opts.Egress = e.rec.Backend(cfg)
	p, err := NewForward(opts)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { p.Close() })
	return p, e.listen("egress", p)
}

// waitSpans waits until n spans ended and returns them.
func (e *env) waitSpans(n int) []sdktrace.ReadOnlySpan {
	e.t.Helper()
	var s []sdktrace.ReadOnlySpan
	testkit.Eventually(e.t, fmt.Sprintf("%d spans ended", n), 5*time.Second, func() bool {
		s = e.spans.Ended()
		return len(s) >= n
	}, func() string { return fmt.Sprintf("%d spans ended", len(s)) })
	return s
}

// span waits for the n-th span to end and returns it.
func (e *env) span(n int) sdktrace.ReadOnlySpan { return e.waitSpans(n)[n-1] }

// metric is the value of the series name{labels}, -1 when absent.
func (e *env) metric(name string, labels map[string]string) float64 {
	e.t.Helper()
	if ms := backendtest.Series(e.reg, name, labels); len(ms) > 0 {
		return backendtest.Value(ms[0])
	}
	return -1
}

// attrs maps a span's attributes.
func attrs(s sdktrace.ReadOnlySpan) map[string]attribute.Value {
	m := map[string]attribute.Value{}
	for _, kv := range s.Attributes() {
		m[string(kv.Key)] = kv.Value
	}
	return m
}

// counter is a target that counts its requests.
type counter struct {
	mu sync.Mutex
	n  int
}

func (c *counter) inc() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	return c.n
}

func (c *counter) get() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// target starts an httptest server on 127.0.0.1.
func target(t testing.TB, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// testCA is a CA and a certificate it signed for localhost, 127.0.0.1 and
// ::1.
type testCA struct {
	pool *x509.CertPool
	leaf tls.Certificate
}

var (
	caOnce sync.Once
	ca     testCA
)

func newTestCA(t testing.TB) testCA {
	t.Helper()
	caOnce.Do(func() {
		caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		caTmpl := &x509.Certificate{
			SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "hopscope test CA"},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
			IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
		}
		caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		caCert, _ := x509.ParseCertificate(caDER)
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
			DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		ca.pool = x509.NewCertPool()
		ca.pool.AddCert(caCert)
		ca.leaf = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	})
	if ca.pool == nil {
		t.Fatal("test CA")
	}
	return ca
}

// tlsTarget starts a TLS httptest server with the test CA's certificate;
// its URL names localhost, so clients send SNI.
func tlsTarget(t testing.TB, h2 bool, h http.HandlerFunc) (*httptest.Server, string) {
	t.Helper()
	c := newTestCA(t)
	srv := httptest.NewUnstartedServer(h)
	srv.EnableHTTP2 = h2
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{c.leaf}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // handshakes the tests make fail
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv, strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
}

// client is an HTTP client with its own connection pool.
func client(t testing.TB, tr *http.Transport) *http.Client {
	if tr == nil {
		tr = &http.Transport{}
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// mustParse parses a traceparent the test expects valid.
func mustParse(t testing.TB, tp string) trace.SpanContext {
	t.Helper()
	sc, ok := parseTraceparent(tp)
	if !ok {
		t.Fatalf("traceparent %q is not valid", tp)
	}
	return sc
}

func backendCfg(name string) backend.Config {
	return backend.Config{Name: name, Kind: backend.KindHTTP, Target: "http://127.0.0.1:1"}
}
