package httpegress

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hopscope/hopscope/sidecar/backend"
	"go.opentelemetry.io/otel/trace"
)

// proxyClient is an http.Client using the forward proxy at addr.
func proxyClient(t *testing.T, addr string, roots bool) *http.Client {
	u, _ := url.Parse("http://" + addr)
	tr := &http.Transport{Proxy: http.ProxyURL(u)}
	if roots {
		tr.TLSClientConfig = &tls.Config{RootCAs: newTestCA(t).pool}
	}
	return client(t, tr)
}

func TestForwardPlain(t *testing.T) {
	seen := make(chan *http.Request, 1)
	tgt := target(t, func(w http.ResponseWriter, r *http.Request) {
		seen <- r
		w.Header().Set("X-Target", "yes")
		io.WriteString(w, "hello from target")
	})
	e := newEnv(t)
	_, addr := e.forwardProxy(backend.Config{}, Options{})
	cl := proxyClient(t, addr, false)

	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{7}, SpanID: trace.SpanID{8}, TraceFlags: trace.FlagsSampled})
	defer e.tracker.Enter(sc)()
	r := do(t, cl, "GET", tgt.URL+"/v1/items?token=secret", nil)
	if r.status != 200 || string(r.body) != "hello from target" || r.header.Get("X-Target") != "yes" {
		t.Fatalf("got %d %v %q", r.status, r.header, r.body)
	}
	req := <-seen
	if req.URL.RequestURI() != "/v1/items?token=secret" {
		t.Errorf("target got %q", req.URL.RequestURI())
	}
	for _, k := range []string{"Proxy-Connection", "Proxy-Authorization", "Via"} {
		if _, ok := req.Header[k]; ok {
			t.Errorf("target got %s", k)
		}
	}
	sent := mustParse(t, req.Header.Get("Traceparent"))
	if sent.TraceID() != sc.TraceID() {
		t.Errorf("sent trace %v, want the inferred request's %v", sent.TraceID(), sc.TraceID())
	}
	s := e.span(1)
	a := attrs(s)
	host, port, _ := net.SplitHostPort(strings.TrimPrefix(tgt.URL, "http://"))
	wantPort, _ := strconv.Atoi(port)
	if s.Name() != "HTTP GET egress" || a[backend.AttrBackend].AsString() != "egress" ||
		a["server.address"].AsString() != host || a["server.port"].AsInt64() != int64(wantPort) ||
		a["url.full"].AsString() != tgt.URL+"/v1/items?token=REDACTED" || a[backend.AttrAttribution].AsString() != "inferred" {
		t.Errorf("span %q %v", s.Name(), a)
	}
	if s.Parent().SpanID() != sc.SpanID() {
		t.Errorf("span parent %v", s.Parent())
	}
	checkTiming(t, s)
}

func TestForwardConnect(t *testing.T) {
	_, tgtURL := tlsTarget(t, false, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "over the tunnel")
	})
	e := newEnv(t)
	_, addr := e.forwardProxy(backend.Config{}, Options{})
	cl := proxyClient(t, addr, true)
	r := do(t, cl, "GET", tgtURL+"/secret?x=1", nil)
	if r.status != 200 || string(r.body) != "over the tunnel" {
		t.Fatalf("got %d %q", r.status, r.body)
	}
	if got := e.metric("hopscope_backend_connections", map[string]string{"backend": "egress", "state": "relayed"}); got != 1 {
		t.Errorf("relayed connections %v while the tunnel is open, want 1", got)
	}
	if got := e.metric("hopscope_backend_connections", map[string]string{"backend": "egress", "state": "decoded"}); got != 0 {
		t.Errorf("decoded connections %v while the tunnel is open, want 0", got)
	}
	cl.Transport.(*http.Transport).CloseIdleConnections() // ends the tunnel
	s := e.span(1)
	a := attrs(s)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(tgtURL, "https://"))
	wantPort, _ := strconv.Atoi(port)
	if s.Name() != "CONNECT egress" || a["server.address"].AsString() != "localhost" || a["server.port"].AsInt64() != int64(wantPort) ||
		a["http.request.method"].AsString() != "CONNECT" || a["http.response.status_code"].AsInt64() != 200 {
		t.Errorf("span %q %v", s.Name(), a)
	}
	if a["hopscope.network.io.sent_bytes"].AsInt64() < 100 || a["hopscope.network.io.received_bytes"].AsInt64() < 100 {
		t.Errorf("tunnel bytes sent %d received %d: a TLS session is more", a["hopscope.network.io.sent_bytes"].AsInt64(), a["hopscope.network.io.received_bytes"].AsInt64())
	}
	for _, k := range []string{AttrDNS, AttrConnect, AttrTunnel} {
		if v, ok := a[k]; !ok || v.AsFloat64() < 0 {
			t.Errorf("%s = %v", k, v)
		}
	}
	if a[AttrTunnel].AsFloat64() <= 0 {
		t.Errorf("tunnel_ms %v", a[AttrTunnel].AsFloat64())
	}
	if got := e.metric("hopscope_backend_duration_seconds", map[string]string{"backend": "egress", "operation": "CONNECT", "outcome": "ok"}); got != 1 {
		t.Errorf("CONNECT observations %v", got)
	}
	e.waitSpans(1)
	if got := e.metric("hopscope_backend_connections", map[string]string{"backend": "egress", "state": "relayed"}); got != 0 {
		t.Errorf("relayed connections %v after the tunnel, want 0", got)
	}
}

// TestForwardRefuses: what the forward proxy answers itself.
func TestForwardRefuses(t *testing.T) {
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedAddr := closed.Addr().String()
	closed.Close()
	_, tgtURL := tlsTarget(t, false, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "tls ok") })
	tgtHost := strings.TrimPrefix(tgtURL, "https://")
	e := newEnv(t)
	_, addr := e.forwardProxy(backend.Config{}, Options{RootCAs: newTestCA(t).pool})
	_, port, _ := net.SplitHostPort(addr)
	cases := []struct {
		name, req  string
		wantStatus int
		wantBody   string
	}{
		{"origin-form", "GET /x HTTP/1.1\r\nHost: example.test\r\n\r\n", 400, "absolute"},
		{"ftp scheme", "GET ftp://127.0.0.1/x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 400, "absolute"},
		{"connect without port", "CONNECT 127.0.0.1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 400, "CONNECT"},
		{"loop", "GET http://" + addr + "/x HTTP/1.1\r\nHost: " + addr + "\r\n\r\n", 508, "itself"},
		{"loop via localhost", "CONNECT localhost:" + port + " HTTP/1.1\r\nHost: localhost:" + port + "\r\n\r\n", 508, "itself"},
		{"connect refused", "CONNECT " + closedAddr + " HTTP/1.1\r\nHost: " + closedAddr + "\r\n\r\n", 502, "bad gateway"},
		{"get refused", "GET http://" + closedAddr + "/ HTTP/1.1\r\nHost: " + closedAddr + "\r\n\r\n", 502, "bad gateway"},
		{"https absolute-form", "GET " + tgtURL + "/ HTTP/1.1\r\nHost: " + tgtHost + "\r\n\r\n", 200, "tls ok"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, body := rawExchange(t, addr, c.req)
			if resp.StatusCode != c.wantStatus || !strings.Contains(string(body), c.wantBody) {
				t.Fatalf("got %d %s, want %d with %q", resp.StatusCode, body, c.wantStatus, c.wantBody)
			}
			if c.wantStatus != 200 {
				var j struct{ Error, Backend string }
				if err := json.Unmarshal(body, &j); err != nil || j.Backend != "egress" || j.Error == "" || resp.Header.Get("Content-Type") != "application/json" {
					t.Errorf("body %s is not the JSON error naming the backend", body)
				}
			}
		})
	}
}

// TestForwardConnectPolicies: the egress backend's policies bound CONNECT
// too.
func TestForwardConnectPolicies(t *testing.T) {
	e := newEnv(t)
	p, addr := e.forwardProxy(backend.Config{Timeout: 100 * time.Millisecond,
		RateLimit: &backend.RateLimitPolicy{PerSecond: 0.01, Burst: 1}}, Options{})
	// A destination that never answers the SYN, without leaving loopback.
	p.dial = func(ctx context.Context, _, _ string) (net.Conn, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	req := "CONNECT 127.0.0.1:9 HTTP/1.1\r\nHost: 127.0.0.1:9\r\n\r\n"
	start := time.Now()
	resp, body := rawExchange(t, addr, req)
	if resp.StatusCode != http.StatusGatewayTimeout || !strings.Contains(string(body), "100ms") || time.Since(start) > 2*time.Second {
		t.Fatalf("got %d %s after %v, want 504 at the timeout", resp.StatusCode, body, time.Since(start))
	}
	if got := attrs(e.span(1))["error.type"].AsString(); got != errTimeout {
		t.Errorf("error.type %q", got)
	}
	resp, body = rawExchange(t, addr, req)
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("got %d %s, want 429 beyond the burst", resp.StatusCode, body)
	}
	if got := e.metric("hopscope_backend_rate_limited_total", map[string]string{"backend": "egress"}); got != 1 {
		t.Errorf("rate_limited_total %v", got)
	}
}
