package sidecar

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/hopscope/hopscope/internal/testkit"
)

var serverTimingRE = regexp.MustCompile(`^traceparent;desc="00-([0-9a-f]{32})-([0-9a-f]{16})-01", app;dur=([0-9.]+), sidecar;dur=([0-9.]+)$`)

// seen records what the app received.
type seen struct {
	mu      sync.Mutex
	headers []http.Header
	hosts   []string
}

func (s *seen) add(r *http.Request) {
	s.mu.Lock()
	s.headers = append(s.headers, r.Header.Clone())
	s.hosts = append(s.hosts, r.Host)
	s.mu.Unlock()
}

func (s *seen) last() (http.Header, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.headers[len(s.headers)-1], s.hosts[len(s.hosts)-1]
}

func TestProxyHeadersKeepAliveAndTelemetry(t *testing.T) {
	var got seen
	up, conns := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.add(r)
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "hello %d", len(body))
	}))
	sink := newOTLPSink(t)
	h := startSidecar(t, up, func(c *Config) {
		c.OTLPEndpoint = sink.url
		c.TimingAllowOrigin = "https://shop.example"
		c.Routes = []string{"/orders/{id}"}
	})

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	const n = 30
	for i := 0; i < n; i++ {
		req, _ := http.NewRequest("POST", h.url+"/orders/"+strconv.Itoa(i)+"?token=s3cr3t&page=2", strings.NewReader("abcd"))
		req.Host = "shop.example"
		req.Header.Set("Authorization", "Bearer top-secret-bearer")
		req.Header.Set("Cookie", "session=cookie-secret")
		req.Header.Set("X-Forwarded-For", "203.0.113.7")
		req.Header.Set("X-Forwarded-Proto", "https")
		req.Header.Set("Connection", "X-Hop")
		req.Header.Set("X-Hop", "must-not-pass")
		req.Header.Set("User-Agent", "test-client/1.0")
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || string(b) != "hello 4" {
			t.Fatalf("status %d body %q", res.StatusCode, b)
		}
		if i < n-1 {
			continue
		}
		// The last response is checked in full.
		stv := res.Header.Values("Server-Timing")
		if len(stv) != 1 {
			t.Fatalf("Server-Timing = %q", stv)
		}
		m := serverTimingRE.FindStringSubmatch(stv[0])
		if m == nil {
			t.Fatalf("Server-Timing %q does not match %s", stv[0], serverTimingRE)
		}
		if tao := res.Header.Get("Timing-Allow-Origin"); tao != "https://shop.example" {
			t.Errorf("Timing-Allow-Origin = %q", tao)
		}
		hdr, host := got.last()
		tp := hdr.Get("Traceparent")
		if want := "00-" + m[1] + "-" + m[2] + "-01"; tp != want {
			t.Errorf("app saw traceparent %q, client's Server-Timing says %q", tp, want)
		}
		if host != "shop.example" {
			t.Errorf("app saw Host %q", host)
		}
		if rid := hdr.Get("X-Request-Id"); rid != m[1] {
			t.Errorf("generated X-Request-Id = %q, want the trace id %s", rid, m[1])
		}
		if xff := hdr.Get("X-Forwarded-For"); xff != "203.0.113.7, 127.0.0.1" {
			t.Errorf("X-Forwarded-For = %q", xff)
		}
		if p := hdr.Get("X-Forwarded-Proto"); p != "https" {
			t.Errorf("X-Forwarded-Proto = %q (the ingress's value must survive)", p)
		}
		if hdr.Get("X-Forwarded-Host") != "shop.example" {
			t.Errorf("X-Forwarded-Host = %q", hdr.Get("X-Forwarded-Host"))
		}
		if hdr.Get("X-Hop") != "" {
			t.Errorf("hop-by-hop header X-Hop reached the app")
		}
		for _, f := range []string{"B3", "Uber-Trace-Id", "X-Amzn-Trace-Id"} {
			if hdr.Get(f) == "" {
				t.Errorf("configured format %s not written to the app", f)
			}
		}
		if !strings.Contains(hdr.Get("Uber-Trace-Id"), m[1]) && !strings.Contains(hdr.Get("Uber-Trace-Id"), m[1][16:]) {
			t.Errorf("uber-trace-id %q does not carry trace %s", hdr.Get("Uber-Trace-Id"), m[1])
		}
	}
	if c := conns.count(); c != 1 {
		t.Errorf("app saw %d connections for %d sequential requests; keep-alive broken", c, n)
	}

	h.shutdown() // flush logs and spans

	// Access log: one JSON line per request, field by field.
	lines := h.logs.Lines()
	if len(lines) != n {
		t.Fatalf("%d access lines, want %d:\n%s", len(lines), n, h.logs.String())
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(lines[n-1]), &rec); err != nil {
		t.Fatalf("access line is not JSON: %v\n%s", err, lines[n-1])
	}
	hdr, _ := got.last()
	tid := strings.Split(hdr.Get("Traceparent"), "-")[1]
	want := map[string]any{
		"service": "shop", "trace_id": tid, "request_id": tid, "method": "POST",
		"path": fmt.Sprintf("/orders/%d", n-1), "query": "token=REDACTED&page=2", "route": "/orders/{id}",
		"status": float64(200), "bytes_in": float64(4), "bytes_out": float64(7),
		"client_addr": "127.0.0.1", "user_agent": "test-client/1.0", "proto": "HTTP/1.1",
	}
	for k, v := range want {
		if rec[k] != v {
			t.Errorf("access log %s = %v, want %v", k, rec[k], v)
		}
	}
	for _, k := range []string{"time", "span_id", "duration_ms", "app_ms", "overhead_ms"} {
		if _, ok := rec[k]; !ok {
			t.Errorf("access log lacks %s", k)
		}
	}
	if rec["duration_ms"].(float64) < rec["app_ms"].(float64) {
		t.Errorf("duration %v < app %v", rec["duration_ms"], rec["app_ms"])
	}
	for _, secret := range []string{"s3cr3t", "top-secret-bearer", "cookie-secret"} {
		if strings.Contains(h.logs.String(), secret) {
			t.Errorf("secret %q leaked into the access log", secret)
		}
	}

	// Spans: one server span per request, exported over real OTLP/HTTP.
	spans := sink.Spans()
	if len(spans) != n {
		t.Fatalf("collector got %d spans, want %d", len(spans), n)
	}
	var last map[string]string
	for _, sp := range spans {
		if hex.EncodeToString(sp.TraceId) == tid {
			last = attrs(sp)
			if sp.Name != "POST /orders/{id}" {
				t.Errorf("span name %q", sp.Name)
			}
			if hex.EncodeToString(sp.SpanId) != strings.Split(hdr.Get("Traceparent"), "-")[2] {
				t.Errorf("the app's parent is not the sidecar span")
			}
		}
	}
	if last == nil {
		t.Fatalf("no span with trace id %s", tid)
	}
	for k, v := range map[string]string{
		"http.request.method": "POST", "http.route": "/orders/{id}", "http.response.status_code": "200",
		"url.query": "token=REDACTED&page=2", AttrRequestID: tid, "user_agent.original": "test-client/1.0",
	} {
		if last[k] != v {
			t.Errorf("span attribute %s = %q, want %q", k, last[k], v)
		}
	}
	for _, k := range []string{AttrAppDuration, AttrOverhead, AttrAppStart} {
		if _, ok := last[k]; !ok {
			t.Errorf("span lacks %s", k)
		}
	}
	for _, raw := range sink.res {
		for _, secret := range []string{"s3cr3t", "top-secret-bearer", "cookie-secret"} {
			if strings.Contains(string(raw), secret) {
				t.Errorf("secret %q leaked into exported spans", secret)
			}
		}
	}

	// Metrics.
	if v := h.counter(h.sc.metrics.requests, "inbound", "POST", "/orders/{id}", "200", ""); v != n {
		t.Errorf("hopscope_requests_total = %v, want %d", v, n)
	}
	if c := testutil.CollectAndCount(h.sc.metrics.duration); c != 1 {
		t.Errorf("duration series = %d", c)
	}
}

func TestMetricsEndpointOpenMetricsExemplars(t *testing.T) {
	up, _ := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	h := startSidecar(t, up, nil)
	res, err := http.Get(h.url + "/api/items/42")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	tid := serverTimingRE.FindStringSubmatch(res.Header.Get("Server-Timing"))
	if tid == nil {
		t.Fatalf("Server-Timing = %q", res.Header.Get("Server-Timing"))
	}
	req, _ := http.NewRequest("GET", h.admin+"/metrics", nil)
	req.Header.Set("Accept", "application/openmetrics-text; version=1.0.0")
	mres, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(mres.Body)
	mres.Body.Close()
	text := string(body)
	for _, want := range []string{
		// grpc_code is empty for a plain HTTP request: Prometheus stores
		// no such label.
		`hopscope_requests_total{code="200",direction="inbound",grpc_code="",method="GET",route="/api/items/{id}",service="shop"} 1`,
		`hopscope_inflight_requests{direction="inbound",service="shop"} 0`,
		`# {trace_id="` + tid[1] + `"}`,
		`hopscope_telemetry_dropped_total{service="shop",sink="otlp"} 0`,
		`hopscope_proxy_overhead_seconds_count{service="shop"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		r, err := http.Get(h.admin + path)
		if err != nil || r.StatusCode != 200 {
			t.Fatalf("%s: %v %v", path, err, r)
		}
		r.Body.Close()
	}
}

func TestQueueTimeAndIncomingContext(t *testing.T) {
	var got seen
	up, _ := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got.add(r) }))
	h := startSidecar(t, up, func(c *Config) { c.Propagators = []string{"tracecontext", "xray"} })

	start := time.Now().Add(-50 * time.Millisecond)
	req, _ := http.NewRequest("GET", h.url+"/", nil)
	req.Header.Set("X-Request-Start", fmt.Sprintf("t=%d.%03d", start.Unix(), start.Nanosecond()/1e6))
	req.Header.Set("X-Amzn-Trace-Id", "Self=1-67891233-12456789abcdef012345678;Root=1-67891233-abcdef012345678912345678")
	req.Header.Set("X-Request-Id", "req-from-ingress")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	hdr, _ := got.last()
	if tp := hdr.Get("Traceparent"); !strings.HasPrefix(tp, "00-67891233abcdef012345678912345678-") {
		t.Errorf("ALB X-Ray root not continued: traceparent %q", tp)
	}
	if hdr.Get("X-Request-Id") != "req-from-ingress" {
		t.Errorf("X-Request-Id not kept: %q", hdr.Get("X-Request-Id"))
	}
	if x := hdr.Get("X-Amzn-Trace-Id"); !strings.HasPrefix(x, "Root=1-67891233-abcdef012345678912345678;Parent=") {
		t.Errorf("X-Amzn-Trace-Id to the app = %q", x)
	}
	if hdr.Get("B3") != "" {
		t.Errorf("b3 written though not configured")
	}
	h.shutdown()
	var rec struct {
		QueueMS float64 `json:"queue_ms"`
	}
	if err := json.Unmarshal([]byte(h.logs.Lines()[0]), &rec); err != nil {
		t.Fatal(err)
	}
	if rec.QueueMS < 49 || rec.QueueMS > 2000 {
		t.Errorf("queue_ms = %v, want ≈50", rec.QueueMS)
	}
	if c := testutil.CollectAndCount(h.sc.metrics.queueTime); c != 1 {
		t.Errorf("queue time histogram not observed")
	}
}

func TestGRPCHealthThroughSidecar(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	hs := health.NewServer()
	hs.SetServingStatus("shop.Orders", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(gs, hs)
	go gs.Serve(ln)
	t.Cleanup(gs.Stop)

	h := startSidecar(t, "http://"+ln.Addr().String(), nil)
	cc, err := grpc.NewClient(h.sc.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client := healthpb.NewHealthClient(cc)
	resp, err := client.Check(ctx, &healthpb.HealthCheckRequest{Service: "shop.Orders"})
	if err != nil {
		t.Fatalf("Check through the sidecar: %v", err)
	}
	if resp.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("status %v", resp.Status)
	}
	// A gRPC error travels in trailers: it must arrive intact.
	_, err = client.Check(ctx, &healthpb.HealthCheckRequest{Service: "nope"})
	if status.Code(err) != codes.NotFound {
		t.Fatalf("unknown service: %v, want NotFound from the grpc-status trailer", err)
	}
	// Server streaming: the first Watch message arrives while the stream is open.
	stream, err := client.Watch(ctx, &healthpb.HealthCheckRequest{Service: "shop.Orders"})
	if err != nil {
		t.Fatal(err)
	}
	first, err := stream.Recv()
	if err != nil || first.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("Watch first message: %v %v", first, err)
	}
	hs.SetServingStatus("shop.Orders", healthpb.HealthCheckResponse_NOT_SERVING)
	second, err := stream.Recv()
	if err != nil || second.Status != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("Watch second message: %v %v", second, err)
	}
	// Both answered HTTP 200; their gRPC status tells them apart.
	for _, c := range []string{"OK", "NotFound"} {
		if v := h.counter(h.sc.metrics.requests, "inbound", "POST", "/grpc.health.v1.Health/Check", "200", c); v != 1 {
			t.Errorf("gRPC requests with grpc_code %s counted %v, want 1", c, v)
		}
	}
}

func TestWebSocketEcho(t *testing.T) {
	up, _ := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			typ, msg, err := c.Read(r.Context())
			if err != nil {
				return
			}
			if err := c.Write(r.Context(), typ, append([]byte("echo: "), msg...)); err != nil {
				return
			}
		}
	}))
	h := startSidecar(t, up, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, res, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(h.url, "http")+"/ws", nil)
	if err != nil {
		t.Fatalf("dial through sidecar: %v", err)
	}
	if res.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d", res.StatusCode)
	}
	for i := 0; i < 3; i++ {
		msg := fmt.Sprintf("ping %d", i)
		if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		_, got, err := c.Read(ctx)
		if err != nil || string(got) != "echo: "+msg {
			t.Fatalf("read %q %v", got, err)
		}
	}
	c.Close(websocket.StatusNormalClosure, "bye")
	testkit.Eventually(t, "the websocket request to be recorded as 101", 10*time.Second, func() bool {
		return h.counter(h.sc.metrics.requests, "inbound", "GET", "/ws", "101", "") == 1
	})
}

func TestSSEFlushesEachEvent(t *testing.T) {
	release := make(chan struct{})
	up, _ := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		fmt.Fprint(w, "data: second\n\n")
	}))
	h := startSidecar(t, up, nil)
	res, err := http.Get(h.url + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	br := bufio.NewReader(res.Body)
	got := make(chan string, 1)
	go func() {
		line, _ := br.ReadString('\n')
		got <- line
	}()
	select {
	case line := <-got:
		if line != "data: first\n" {
			t.Fatalf("first line %q", line)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("first event did not arrive while the stream was open: the sidecar buffers SSE")
	}
	close(release)
	rest, _ := io.ReadAll(br)
	if !strings.Contains(string(rest), "data: second") {
		t.Fatalf("rest %q", rest)
	}
}

func TestUpstreamFailures(t *testing.T) {
	t.Run("app down is 502", func(t *testing.T) {
		h := startSidecar(t, "http://"+deadAddr(t), nil)
		res, err := http.Get(h.url + "/x")
		if err != nil {
			t.Fatal(err)
		}
		body := decodeError(t, res)
		if res.StatusCode != 502 || body.Error != "app_unreachable" || !strings.Contains(body.Message, "connection refused") || len(body.TraceID) != 32 {
			t.Fatalf("got %d %+v", res.StatusCode, body)
		}
		if res.Header.Get("Server-Timing") == "" {
			t.Error("error responses carry Server-Timing too")
		}
		if code := getStatus(t, h.admin+"/readyz"); code != 503 {
			t.Errorf("/readyz = %d with the app down", code)
		}
		testkit.Eventually(t, "502 counted", 10*time.Second, func() bool { return h.counter(h.sc.metrics.requests, "inbound", "GET", "/x", "502", "") == 1 })
	})
	t.Run("app too slow is 504", func(t *testing.T) {
		up, _ := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-time.After(5 * time.Second):
			case <-r.Context().Done():
			}
		}))
		h := startSidecar(t, up, func(c *Config) { c.UpstreamTimeout = 100 * time.Millisecond })
		res, err := http.Get(h.url + "/slow")
		if err != nil {
			t.Fatal(err)
		}
		body := decodeError(t, res)
		if res.StatusCode != 504 || body.Error != "app_timeout" {
			t.Fatalf("got %d %+v", res.StatusCode, body)
		}
		testkit.Eventually(t, "504 counted", 10*time.Second, func() bool { return h.counter(h.sc.metrics.requests, "inbound", "GET", "/slow", "504", "") == 1 })
	})
	t.Run("client gone is 499", func(t *testing.T) {
		arrived := make(chan struct{}, 1)
		up, _ := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			arrived <- struct{}{}
			<-r.Context().Done()
		}))
		h := startSidecar(t, up, nil)
		ctx, cancel := context.WithCancel(context.Background())
		go func() { <-arrived; cancel() }()
		req, _ := http.NewRequestWithContext(ctx, "GET", h.url+"/wait", nil)
		if _, err := http.DefaultClient.Do(req); !errors.Is(err, context.Canceled) {
			t.Fatalf("client error %v", err)
		}
		testkit.Eventually(t, "499 counted", 10*time.Second, func() bool { return h.counter(h.sc.metrics.requests, "inbound", "GET", "/wait", "499", "") == 1 })
	})
	t.Run("client gone mid-body is 499", func(t *testing.T) {
		up, _ := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			for i := 0; i < 1000; i++ {
				if _, err := w.Write(make([]byte, 64<<10)); err != nil {
					return
				}
				w.(http.Flusher).Flush()
				time.Sleep(5 * time.Millisecond)
			}
		}))
		h := startSidecar(t, up, nil)
		res, err := http.Get(h.url + "/big")
		if err != nil {
			t.Fatal(err)
		}
		io.ReadFull(res.Body, make([]byte, 100<<10))
		res.Body.Close()
		testkit.Eventually(t, "499 counted", 10*time.Second, func() bool { return h.counter(h.sc.metrics.requests, "inbound", "GET", "/big", "499", "") == 1 })
	})
}

func decodeError(t *testing.T, res *http.Response) errorBody {
	t.Helper()
	defer res.Body.Close()
	var b errorBody
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("error Content-Type %q", ct)
	}
	if err := json.NewDecoder(res.Body).Decode(&b); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestHealthChecksAreKeptOut(t *testing.T) {
	var hits atomic.Int32
	up, _ := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.Header.Get("Traceparent") != "" {
			w.WriteHeader(500) // probes get no trace context
		}
	}))
	sink := newOTLPSink(t)
	h := startSidecar(t, up, func(c *Config) { c.OTLPEndpoint = sink.url })
	for _, ua := range []string{"kube-probe/1.30", "ELB-HealthChecker/2.0"} {
		req, _ := http.NewRequest("GET", h.url+"/health", nil)
		req.Header.Set("User-Agent", ua)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("%s: status %d", ua, res.StatusCode)
		}
	}
	h.shutdown()
	if hits.Load() != 2 {
		t.Fatalf("app saw %d probes", hits.Load())
	}
	if v := h.counter(h.sc.metrics.healthchecks, "kube-probe", "200") + h.counter(h.sc.metrics.healthchecks, "elb", "200"); v != 2 {
		t.Errorf("healthcheck counter %v", v)
	}
	if c := testutil.CollectAndCount(h.sc.metrics.requests); c != 0 {
		t.Errorf("probes leaked into hopscope_requests_total (%d series)", c)
	}
	if c := testutil.CollectAndCount(h.sc.metrics.duration); c != 0 {
		t.Errorf("probes leaked into the latency histogram")
	}
	if l := h.logs.Lines(); len(l) != 0 {
		t.Errorf("probes leaked into access logs: %q", l)
	}
	if s := sink.Spans(); len(s) != 0 {
		t.Errorf("probes leaked into spans: %d", len(s))
	}
}

func TestFailOpenWhenTelemetrySinksAreDead(t *testing.T) {
	up, _ := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	h := startSidecar(t, up, func(c *Config) {
		c.OTLPEndpoint = "http://" + deadAddr(t)
		c.FluentAddress = deadAddr(t)
		c.SpanQueueSize = 16
		c.FluentBufferLimit = 16
	})
	const workers, each = 16, 100
	var failed atomic.Int32
	var wg sync.WaitGroup
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}, Timeout: 10 * time.Second}
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				res, err := client.Get(h.url + "/checkout")
				if err != nil {
					failed.Add(1)
					continue
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != 200 {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if f := failed.Load(); f != 0 {
		t.Fatalf("%d of %d requests failed with telemetry sinks down", f, workers*each)
	}
	testkit.Eventually(t, "span and log drops to be counted", 10*time.Second, func() bool {
		return h.counter(h.sc.metrics.dropped, SinkOTLP) > 0 && h.counter(h.sc.metrics.dropped, SinkFluent) > 0
	})
	if v := h.counter(h.sc.metrics.requests, "inbound", "GET", "/checkout", "200", ""); v != workers*each {
		t.Fatalf("requests counted %v", v)
	}
}

// TestDrainOnRequest: GET /drain on the admin port (the app container's
// preStop hook) makes /readyz fail and every response carry Connection:
// close while the app still answers, and returns after the shutdown grace.
func TestDrainOnRequest(t *testing.T) {
	up, _ := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	h := startSidecar(t, up, func(c *Config) { c.ShutdownGrace = 300 * time.Millisecond })
	res, err := http.Get(h.url + "/before")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.Header.Get("Connection") == "close" || res.Close {
		t.Fatal("Connection: close before draining")
	}
	start := time.Now()
	dr, err := http.Get(h.admin + "/drain")
	if err != nil {
		t.Fatal(err)
	}
	dr.Body.Close()
	if took := time.Since(start); dr.StatusCode != 200 || took < 300*time.Millisecond {
		t.Errorf("/drain answered %d after %s, want 200 after the 300ms grace", dr.StatusCode, took)
	}
	if code := getStatus(t, h.admin+"/readyz"); code != 503 {
		t.Errorf("/readyz = %d while draining, want 503", code)
	}
	res, err = http.Get(h.url + "/after")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || string(body) != "ok" {
		t.Errorf("while draining the app must still answer: %d %q", res.StatusCode, body)
	}
	if !res.Close {
		t.Error("while draining a response must carry Connection: close")
	}
}
