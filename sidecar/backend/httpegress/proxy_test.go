package httpegress

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hopscope/hopscope/internal/testkit"
	"github.com/hopscope/hopscope/sidecar/backend"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// checkTiming asserts the httptrace split: every phase present and
// non-negative, their sum within the span.
func checkTiming(t *testing.T, s sdktrace.ReadOnlySpan) {
	t.Helper()
	a := attrs(s)
	var sum float64
	for _, k := range []string{AttrDNS, AttrConnect, AttrTLS, AttrTTFB, AttrBody} {
		v, ok := a[k]
		if !ok {
			t.Errorf("span %q has no %s", s.Name(), k)
			continue
		}
		if v.AsFloat64() < 0 {
			t.Errorf("%s = %v, negative", k, v.AsFloat64())
		}
		sum += v.AsFloat64()
	}
	total := float64(s.EndTime().Sub(s.StartTime())) / 1e6
	if sum > total+0.001 {
		t.Errorf("phases sum to %.3f ms, more than the call's %.3f ms", sum, total)
	}
}

// TestPlainHTTP sends requests through a kind http listener and compares
// what the app gets with what the target sent.
func TestPlainHTTP(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	tgt := target(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header()["X-Multi"] = []string{"a", "b"}
		w.Header().Add("Set-Cookie", "s=1; Path=/")
		w.Header().Add("Set-Cookie", "t=2; Path=/")
		w.Header().Set("X-Seen-Method", r.Method)
		w.Header().Set("X-Seen-Uri", r.URL.RequestURI())
		switch r.URL.Path {
		case "/echo":
			h := sha256.New()
			n, _ := io.Copy(h, r.Body)
			w.Header().Set("X-Body-Sha", fmt.Sprintf("%x", h.Sum(nil)))
			w.Header().Set("Content-Type", "application/octet-stream")
			w.WriteHeader(http.StatusCreated)
			fmt.Fprintf(w, "%d", n)
		case "/big":
			w.Header().Set("Content-Length", fmt.Sprint(len(big)))
			w.Write(big)
		case "/missing":
			http.Error(w, "no such charge", http.StatusNotFound)
		default:
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"ok":true}`)
		}
	})
	e := newEnv(t)
	_, addr := e.backendProxy(backend.Config{Target: tgt.URL}, Options{})
	cl := client(t, nil)

	cases := []struct {
		name, method, path string
		body               []byte
		wantStatus         int
		wantURL            string // url.full
		wantErr            string // span error.type
	}{
		{"get with query", "GET", "/v1/charges?customer=cus_42&limit=3", nil, 200, tgt.URL + "/v1/charges?customer=REDACTED&limit=REDACTED", ""},
		{"post body streamed", "POST", "/echo", big, 201, tgt.URL + "/echo", ""},
		{"big response", "GET", "/big", nil, 200, tgt.URL + "/big", ""},
		{"head", "HEAD", "/big", nil, 200, tgt.URL + "/big", ""},
		{"not found", "GET", "/missing", nil, 404, tgt.URL + "/missing", "404"},
		{"other method", "PURGE", "/x?flag", nil, 200, tgt.URL + "/x?flag", ""},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			direct := do(t, cl, c.method, tgt.URL+c.path, c.body)
			proxied := do(t, cl, c.method, "http://"+addr+c.path, c.body)
			if proxied.status != c.wantStatus || direct.status != c.wantStatus {
				t.Fatalf("status: proxied %d, direct %d, want %d", proxied.status, direct.status, c.wantStatus)
			}
			for _, h := range []http.Header{direct.header, proxied.header} {
				h.Del("Date")
			}
			if fmt.Sprint(proxied.header) != fmt.Sprint(direct.header) {
				t.Errorf("headers differ:\nproxied %v\ndirect  %v", proxied.header, direct.header)
			}
			if !bytes.Equal(proxied.body, direct.body) {
				t.Errorf("bodies differ: proxied %d bytes, direct %d", len(proxied.body), len(direct.body))
			}
			if c.body != nil && proxied.header.Get("X-Body-Sha") != fmt.Sprintf("%x", sha256.Sum256(c.body)) {
				t.Errorf("the target got another body")
			}

			s := e.span(i + 1)
			wantName := "HTTP " + c.method + " pay"
			if _, std := methodNames[c.method]; !std {
				wantName = "HTTP OTHER pay"
			}
			if s.Name() != wantName || s.SpanKind() != trace.SpanKindClient {
				t.Errorf("span %q kind %v, want %q client", s.Name(), s.SpanKind(), wantName)
			}
			a := attrs(s)
			if got := a["url.full"].AsString(); got != c.wantURL {
				t.Errorf("url.full = %q, want %q", got, c.wantURL)
			}
			if got := a["http.response.status_code"].AsInt64(); got != int64(c.wantStatus) {
				t.Errorf("status_code attribute %d", got)
			}
			if got := a["server.address"].AsString(); got != "127.0.0.1" {
				t.Errorf("server.address = %q", got)
			}
			if got := a["error.type"].AsString(); got != c.wantErr {
				t.Errorf("error.type = %q, want %q", got, c.wantErr)
			}
			if got := a[AttrAttempts].AsInt64(); got != 1 {
				t.Errorf("attempts = %d", got)
			}
			wantMethod := c.method
			if wantName == "HTTP OTHER pay" {
				wantMethod = "_OTHER"
				if a["http.request.method_original"].AsString() != c.method {
					t.Errorf("http.request.method_original = %v", a["http.request.method_original"])
				}
			}
			if got := a["http.request.method"].AsString(); got != wantMethod {
				t.Errorf("http.request.method = %q, want %q", got, wantMethod)
			}
			checkTiming(t, s)
		})
	}
	if got := e.metric("hopscope_backend_duration_seconds", map[string]string{"backend": "pay", "operation": "HTTP GET", "outcome": "ok"}); got != 2 {
		t.Errorf("ok GET observations = %v, want 2", got)
	}
	if got := e.metric("hopscope_backend_duration_seconds", map[string]string{"backend": "pay", "operation": "HTTP OTHER"}); got != 1 {
		t.Errorf("HTTP OTHER observations = %v, want 1", got)
	}
}

type result struct {
	status int
	header http.Header
	body   []byte
}

func do(t *testing.T, cl *http.Client, method, url string, body []byte) result {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = io.NopCloser(bytes.NewReader(body)) // unknown length: sent chunked
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return result{resp.StatusCode, resp.Header, b}
}

// rawExchange writes a raw request to addr and reads one response.
func rawExchange(t *testing.T, addr, req string) (*http.Response, []byte) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// TestHeadersPassUnchanged checks what the proxy drops (hop-by-hop) and
// what it must not add (Via, User-Agent, Accept-Encoding, X-Forwarded-For;
// a sniffed Content-Type or a Date on the response).
func TestHeadersPassUnchanged(t *testing.T) {
	seen := make(chan *http.Request, 1)
	tgt := target(t, func(w http.ResponseWriter, r *http.Request) {
		seen <- r
		w.Header()["Date"] = nil         // the target sends no Date
		w.Header()["Content-Type"] = nil // nor a Content-Type
		w.Header().Set("Connection", "X-Hop")
		w.Header().Set("X-Hop", "1")
		w.Header().Set("Keep-Alive", "timeout=5")
		io.WriteString(w, "<html><body>not sniffed</body></html>")
	})
	e := newEnv(t)
	_, addr := e.backendProxy(backend.Config{Target: tgt.URL}, Options{})
	resp, body := rawExchange(t, addr, "GET /v1/charges?id=42&secret=s3 HTTP/1.1\r\n"+
		"Host: "+addr+"\r\n"+
		"Connection: keep-alive, X-Secret\r\n"+
		"X-Secret: yes\r\n"+
		"Keep-Alive: timeout=5\r\n"+
		"Proxy-Authorization: Basic dXNlcjpwYXNz\r\n"+
		"Te: trailers\r\n"+
		"X-App: a\r\n"+
		"X-App: b\r\n"+
		"\r\n")
	r := <-seen
	if got := r.URL.RequestURI(); got != "/v1/charges?id=42&secret=s3" {
		t.Errorf("target got request-target %q", got)
	}
	if r.Host != strings.TrimPrefix(tgt.URL, "http://") {
		t.Errorf("target got Host %q, want its own", r.Host)
	}
	for _, k := range []string{"X-Secret", "Keep-Alive", "Proxy-Authorization", "Connection", "User-Agent", "Accept-Encoding", "Via", "X-Forwarded-For", "Tracestate"} {
		if v, ok := r.Header[k]; ok {
			t.Errorf("target got %s: %q", k, v)
		}
	}
	if got := r.Header["X-App"]; len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Errorf("X-App = %q", got)
	}
	if got := r.Header.Get("Te"); got != "trailers" {
		t.Errorf("Te = %q, want trailers kept", got)
	}
	mustParse(t, r.Header.Get("Traceparent"))

	if resp.StatusCode != 200 || string(body) != "<html><body>not sniffed</body></html>" {
		t.Fatalf("response %d %q", resp.StatusCode, body)
	}
	for _, k := range []string{"Date", "Content-Type", "X-Hop", "Keep-Alive", "Via"} {
		if v, ok := resp.Header[k]; ok {
			t.Errorf("app got %s: %q", k, v)
		}
	}
}

// TestStreaming checks that neither body is buffered: the app reads the
// first piece of a response whose rest the target has not written yet.
func TestStreaming(t *testing.T) {
	release := make(chan struct{})
	tgt := target(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "part1")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-time.After(5 * time.Second):
		}
		io.WriteString(w, "part2")
	})
	e := newEnv(t)
	_, addr := e.backendProxy(backend.Config{Target: tgt.URL}, Options{})
	resp, err := client(t, nil).Get("http://" + addr + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got := make(chan string, 1)
	go func() {
		b := make([]byte, 5)
		io.ReadFull(resp.Body, b)
		got <- string(b)
	}()
	select {
	case s := <-got:
		if s != "part1" {
			t.Fatalf("first piece %q", s)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the first piece did not arrive before the target finished: the proxy buffers")
	}
	close(release)
	rest, _ := io.ReadAll(resp.Body)
	if string(rest) != "part2" {
		t.Fatalf("rest %q", rest)
	}
	s := e.span(1)
	if body := attrs(s)[AttrBody].AsFloat64(); body <= 0 {
		t.Errorf("body_ms = %v, want the stream's time", body)
	}
	checkTiming(t, s)
}

// TestUpload checks a request body is relayed while it is being sent.
func TestUpload(t *testing.T) {
	gotFirst := make(chan struct{})
	tgt := target(t, func(w http.ResponseWriter, r *http.Request) {
		b := make([]byte, 5)
		io.ReadFull(r.Body, b)
		close(gotFirst)
		rest, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s+%s", b, rest)
	})
	e := newEnv(t)
	_, addr := e.backendProxy(backend.Config{Target: tgt.URL}, Options{})
	pr, pw := io.Pipe()
	done := make(chan result, 1)
	go func() {
		req, _ := http.NewRequest("PUT", "http://"+addr+"/upload", pr)
		resp, err := client(t, nil).Do(req)
		if err != nil {
			done <- result{}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- result{status: resp.StatusCode, body: b}
	}()
	io.WriteString(pw, "first")
	select {
	case <-gotFirst:
	case <-time.After(3 * time.Second):
		t.Fatal("the target did not get the first piece while the upload was open: the proxy buffers")
	}
	io.WriteString(pw, "second")
	pw.Close()
	r := <-done
	if r.status != 200 || string(r.body) != "first+second" {
		t.Fatalf("got %d %q", r.status, r.body)
	}
}

// TestTraceparent checks the header the target gets and the span's
// parent and attribution.
func TestTraceparent(t *testing.T) {
	const given = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	seen := make(chan http.Header, 1)
	tgt := target(t, func(w http.ResponseWriter, r *http.Request) { seen <- r.Header })
	const inboundState = "rojo=00f067aa0ba902b7,congo@t61=1" // the requests in flight came with it
	other := "00-0af7651916cd43dd8448eb211c80319c" + given[35:]
	cases := []struct {
		name       string
		header     map[string][]string
		inFlight   int
		wantKept   bool
		wantAttrib backend.Attribution
		wantState  string // the tracestate the target gets when the traceparent is replaced
	}{
		{"absent, nothing in flight", nil, 0, false, backend.Ambiguous, ""},
		{"absent, one request in flight", nil, 1, false, backend.Inferred, inboundState},
		{"absent, two requests in flight", nil, 2, false, backend.Ambiguous, ""},
		{"present", map[string][]string{"Traceparent": {given}, "Tracestate": {"a=1"}}, 1, true, backend.Exact, ""},
		{"malformed", map[string][]string{"Traceparent": {"00-xyz"}, "Tracestate": {"a=1"}}, 0, false, backend.Ambiguous, ""},
		{"malformed, one request in flight", map[string][]string{"Traceparent": {"00-xyz"}, "Tracestate": {"a=1"}}, 1, false, backend.Inferred, inboundState},
		{"version ff", map[string][]string{"Traceparent": {"ff" + given[2:]}}, 0, false, backend.Ambiguous, ""},
		{"duplicated", map[string][]string{"Traceparent": {given, other}}, 0, false, backend.Ambiguous, ""},
		{"duplicated, one request in flight", map[string][]string{"Traceparent": {given, given}, "Tracestate": {"a=1"}}, 1, false, backend.Inferred, inboundState},
		{"tracestate alone", map[string][]string{"Tracestate": {"a=1"}}, 0, false, backend.Ambiguous, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			_, addr := e.backendProxy(backend.Config{Target: tgt.URL}, Options{})
			var entered []trace.SpanContext
			for i := range c.inFlight {
				sc := trace.NewSpanContext(trace.SpanContextConfig{
					TraceID: trace.TraceID{1, byte(i + 1)}, SpanID: trace.SpanID{2, byte(i + 1)}, TraceFlags: trace.FlagsSampled})
				entered = append(entered, sc)
				id := e.tracker.EnterWithState(sc, inboundState)
				defer e.tracker.Leave(id)
			}
			req, _ := http.NewRequest("GET", "http://"+addr+"/v1/charges", nil)
			for k, v := range c.header {
				req.Header[k] = v
			}
			resp, err := client(t, nil).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			h := <-seen
			s := e.span(1)
			got := h.Get("Traceparent")
			sent := mustParse(t, got)
			if c.wantKept {
				if got != given || h.Get("Tracestate") != "a=1" {
					t.Errorf("target got traceparent %q tracestate %q, want them kept", got, h.Get("Tracestate"))
				}
				if s.Parent().SpanID() != sent.SpanID() || s.SpanContext().TraceID() != sent.TraceID() {
					t.Errorf("span parent %v, want the app's traceparent", s.Parent())
				}
			} else {
				if n := len(h.Values("Traceparent")); n != 1 {
					t.Errorf("target got %d traceparent headers", n)
				}
				if ts := h.Values("Tracestate"); strings.Join(ts, ",") != c.wantState {
					t.Errorf("target got tracestate %q with a replaced traceparent, want %q", ts, c.wantState)
				}
			}
			if a := attrs(s)[backend.AttrAttribution].AsString(); a != string(c.wantAttrib) {
				t.Errorf("attribution %s, want %s", a, c.wantAttrib)
			}
			switch c.wantAttrib {
			case backend.Inferred:
				if s.Parent().SpanID() != entered[0].SpanID() || sent.TraceID() != entered[0].TraceID() {
					t.Errorf("inferred: span parent %v, sent trace %v; want the request in flight %v", s.Parent(), sent.TraceID(), entered[0])
				}
			case backend.Ambiguous:
				if s.Parent().IsValid() {
					t.Errorf("ambiguous span has parent %v", s.Parent())
				}
				for _, sc := range entered {
					if sent.TraceID() == sc.TraceID() {
						t.Errorf("ambiguous call sent the trace of a request in flight")
					}
				}
			}
			if !c.wantKept && sent.SpanID() != s.SpanContext().SpanID() {
				t.Errorf("sent span id %v, the client span is %v", sent.SpanID(), s.SpanContext().SpanID())
			}
		})
	}
}

// TestOriginate: the app speaks plain HTTP, the target TLS (with SNI), and
// the span times the handshake.
func TestOriginate(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		t.Run(fmt.Sprintf("h2=%v", h2), func(t *testing.T) {
			type seenReq struct {
				sni, host string
				tls       bool
				proto     int
			}
			seen := make(chan seenReq, 2)
			_, url := tlsTarget(t, h2, func(w http.ResponseWriter, r *http.Request) {
				s := seenReq{host: r.Host, proto: r.ProtoMajor}
				if r.TLS != nil {
					s.tls, s.sni = true, r.TLS.ServerName
				}
				seen <- s
				io.WriteString(w, "secure")
			})
			c := newTestCA(t)
			e := newEnv(t)
			_, addr := e.backendProxy(backend.Config{Target: url, TLS: backend.TLSConfig{Mode: backend.TLSOriginate}}, Options{RootCAs: c.pool})
			cl := client(t, nil)
			for i := 1; i <= 2; i++ {
				r := do(t, cl, "GET", "http://"+addr+"/v1/balance", nil)
				if r.status != 200 || string(r.body) != "secure" {
					t.Fatalf("got %d %q", r.status, r.body)
				}
				s := <-seen
				wantProto := 1
				if h2 {
					wantProto = 2
				}
				if !s.tls || s.sni != "localhost" || s.host != strings.TrimPrefix(url, "https://") || s.proto != wantProto {
					t.Errorf("target saw %+v, want TLS with SNI localhost, Host of the target, HTTP/%d", s, wantProto)
				}
				sp := e.span(i)
				a := attrs(sp)
				checkTiming(t, sp)
				if i == 1 && (a[AttrTLS].AsFloat64() <= 0 || a[AttrReused].AsBool()) {
					t.Errorf("first request: tls_ms %v, reused %v; want a handshake", a[AttrTLS].AsFloat64(), a[AttrReused].AsBool())
				}
				if i == 2 && (a[AttrTLS].AsFloat64() != 0 || !a[AttrReused].AsBool()) {
					t.Errorf("second request: tls_ms %v, reused %v; want the pooled connection", a[AttrTLS].AsFloat64(), a[AttrReused].AsBool())
				}
				if a["url.full"].AsString() != url+"/v1/balance" {
					t.Errorf("url.full %q", a["url.full"].AsString())
				}
			}
		})
	}

	t.Run("untrusted certificate", func(t *testing.T) {
		_, url := tlsTarget(t, false, func(w http.ResponseWriter, r *http.Request) {})
		e := newEnv(t)
		_, addr := e.backendProxy(backend.Config{Target: url, TLS: backend.TLSConfig{Mode: backend.TLSOriginate}}, Options{}) // system roots
		r := do(t, client(t, nil), "GET", "http://"+addr+"/", nil)
		if r.status != http.StatusBadGateway || !strings.Contains(string(r.body), `"backend":"pay"`) {
			t.Fatalf("got %d %s, want 502 naming the backend", r.status, r.body)
		}
		if got := attrs(e.span(1))["error.type"].AsString(); got != errTLS {
			t.Errorf("error.type %q, want %q", got, errTLS)
		}
	})
}

// TestUpgrade relays a protocol switch (101) both ways.
func TestUpgrade(t *testing.T) {
	tgt := target(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "echo" || !hasToken(r.Header["Connection"], "upgrade") {
			http.Error(w, "no upgrade asked", 400)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		io.WriteString(conn, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		line, _ := brw.ReadString('\n')
		io.WriteString(conn, "echo:"+line)
	})
	e := newEnv(t)
	_, addr := e.backendProxy(backend.Config{Target: tgt.URL}, Options{})
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(conn, "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 101 || resp.Header.Get("Upgrade") != "echo" {
		t.Fatalf("got %d %v", resp.StatusCode, resp.Header)
	}
	if got := e.metric("hopscope_backend_connections", map[string]string{"backend": "pay", "state": "relayed"}); got != 1 {
		t.Errorf("relayed connections %v during the upgrade, want 1", got)
	}
	io.WriteString(conn, "ping\n")
	line, _ := br.ReadString('\n')
	if line != "echo:ping\n" {
		t.Fatalf("got %q", line)
	}
	a := attrs(e.span(1))
	if a["http.response.status_code"].AsInt64() != 101 || a["hopscope.network.io.sent_bytes"].AsInt64() != 5 || a["hopscope.network.io.received_bytes"].AsInt64() != 10 {
		t.Errorf("span attributes %v", a)
	}
}

// TestClientGoneCancelsUpstream: the app hanging up cancels the request to
// the target.
func TestClientGoneCancelsUpstream(t *testing.T) {
	arrived, canceled := make(chan struct{}), make(chan struct{})
	tgt := target(t, func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		select {
		case <-r.Context().Done():
			close(canceled)
		case <-time.After(5 * time.Second):
		}
	})
	e := newEnv(t)
	_, addr := e.backendProxy(backend.Config{Target: tgt.URL}, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-arrived; cancel() }()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/slow", nil)
	if _, err := client(t, nil).Do(req); err == nil {
		t.Fatal("the request succeeded")
	}
	select {
	case <-canceled:
	case <-time.After(3 * time.Second):
		t.Fatal("the target's request was not canceled")
	}
	if got := attrs(e.span(1))["error.type"].AsString(); got != errCanceled {
		t.Errorf("error.type %q, want %q", got, errCanceled)
	}
}

// TestShutdown: ServeConn returns when its context ends, keep-alive
// connection or not.
func TestShutdown(t *testing.T) {
	tgt := target(t, func(w http.ResponseWriter, r *http.Request) {})
	e := newEnv(t)
	p, _ := e.backendProxy(backend.Config{Target: tgt.URL}, Options{})
	a, b := net.Pipe()
	defer a.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.ServeConn(ctx, b); close(done) }()
	go io.Copy(io.Discard, a)
	io.WriteString(a, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	decoded := func() float64 {
		return e.metric("hopscope_backend_connections", map[string]string{"backend": "pay", "state": "decoded"})
	}
	testkit.Eventually(t, "one decoded connection", 5*time.Second, func() bool { return decoded() == 1 },
		func() string { return fmt.Sprintf("decoded connections %v", decoded()) })
	cancel()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Fatal("ServeConn did not return after its context ended")
	}
	if got := e.metric("hopscope_backend_connections", map[string]string{"backend": "pay", "state": "decoded"}); got != 0 {
		t.Errorf("decoded connections %v after shutdown", got)
	}
}

func TestNewBackendRejects(t *testing.T) {
	e := newEnv(t)
	for _, cfg := range []backend.Config{
		{Name: "a", Kind: backend.KindRedis, Target: "127.0.0.1:1"},
		{Name: "b", Kind: backend.KindHTTP, Target: "127.0.0.1:1"},
		{Name: "c", Kind: backend.KindHTTP, Target: "https://example.test"},
		{Name: "d", Kind: backend.KindHTTP, Target: "http://example.test", TLS: backend.TLSConfig{Mode: backend.TLSOriginate}},
		{Name: "e", Kind: backend.KindHTTP, Target: "http://example.test/base"},
	} {
		if _, err := NewBackend(e.rec.Backend(cfg), Options{}); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
	if _, err := NewBackend(nil, Options{}); err == nil {
		t.Error("nil backend accepted")
	}
	if _, err := NewForward(Options{}); err == nil {
		t.Error("forward without Egress accepted")
	}
}

// TestTrailers relays response trailers.
func TestTrailers(t *testing.T) {
	tgt := target(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Checksum")
		w.WriteHeader(200)
		io.WriteString(w, "payload")
		w.Header().Set("X-Checksum", "abc123")
	})
	e := newEnv(t)
	_, addr := e.backendProxy(backend.Config{Target: tgt.URL}, Options{})
	resp, err := client(t, nil).Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "payload" || resp.Trailer.Get("X-Checksum") != "abc123" {
		t.Fatalf("body %q trailer %v", b, resp.Trailer)
	}
}

// TestBrokenBody: a response the target breaks off midway must reach the
// app broken too, never as a whole shorter body.
func TestBrokenBody(t *testing.T) {
	for _, chunked := range []bool{false, true} {
		t.Run(fmt.Sprintf("chunked=%v", chunked), func(t *testing.T) {
			tgt := target(t, func(w http.ResponseWriter, r *http.Request) {
				if !chunked {
					w.Header().Set("Content-Length", "100")
				}
				w.WriteHeader(200)
				io.WriteString(w, "0123456789")
				w.(http.Flusher).Flush()
				conn, _, err := http.NewResponseController(w).Hijack()
				if err == nil {
					conn.Close()
				}
			})
			e := newEnv(t)
			_, addr := e.backendProxy(backend.Config{Target: tgt.URL}, Options{})
			resp, err := client(t, nil).Get("http://" + addr + "/")
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil {
				t.Fatalf("the app read %q as a whole body", b)
			}
			if got := attrs(e.span(1))["error.type"].AsString(); got != errBody {
				t.Errorf("error.type %q, want %q", got, errBody)
			}
		})
	}
}
