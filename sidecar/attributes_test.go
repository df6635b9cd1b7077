package sidecar

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/hopscope/hopscope/internal/version"
)

// TestSpanAttributes: server.address is the host the client asked for,
// without the port, and server.port the port as an int; hopscope.xray_root
// is recorded only for a Root that is an X-Ray trace id; every attribute
// the README lists, and no other, is on the span.
func TestSpanAttributes(t *testing.T) {
	up, _ := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	sink := newOTLPSink(t)
	h := startSidecar(t, up, func(c *Config) { c.OTLPEndpoint = sink.url })
	const albRoot = "1-67891233-abcdef012345678912345678"
	tests := []struct {
		name        string
		host, xray  string
		address     string
		port        string // "" = absent
		xrayRoot    string // "" = absent
		propagation string
	}{
		{name: "host and port", host: "shop.example:8443", address: "shop.example", port: "8443", propagation: "none"},
		{name: "host alone", host: "shop.example", address: "shop.example", propagation: "none"},
		{name: "IPv6", host: "[2001:db8::1]:15080", address: "2001:db8::1", port: "15080", propagation: "none"},
		{name: "ALB root", host: "shop.example", xray: "Self=1-67891233-12456789abcdef012345678;Root=" + albRoot,
			address: "shop.example", xrayRoot: albRoot, propagation: "xray_root_only"},
		{name: "upper-case root recorded as the ALB logs it", host: "shop.example", xray: "Root=1-67891233-ABCDEF012345678912345678",
			address: "shop.example", xrayRoot: albRoot, propagation: "xray_root_only"},
		{name: "invalid root", host: "shop.example", xray: "Root=not-a-root;Parent=zz", address: "shop.example", propagation: "none"},
		{name: "zero root", host: "shop.example", xray: "Root=1-00000000-000000000000000000000000", address: "shop.example", propagation: "none"},
		{name: "short root", host: "shop.example", xray: "Root=1-6789123-abcdef012345678912345678", address: "shop.example", propagation: "none"},
	}
	tids := map[string]int{}
	for i, tt := range tests {
		req, _ := http.NewRequest("GET", h.url+"/attrs", nil)
		req.Host = tt.host
		if tt.xray != "" {
			req.Header.Set("X-Amzn-Trace-Id", tt.xray)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		m := serverTimingRE.FindStringSubmatch(res.Header.Get("Server-Timing"))
		if m == nil {
			t.Fatalf("%s: Server-Timing %q", tt.name, res.Header.Get("Server-Timing"))
		}
		tids[m[1]] = i
	}
	h.shutdown()

	// Every attribute the README documents for the server span.
	documented := map[string]bool{
		"http.request.method": true, "http.route": true, "url.path": true, "url.query": true, "url.scheme": true,
		"server.address": true, "server.port": true, "client.address": true, "user_agent.original": true,
		"http.response.status_code": true, "error.type": true, "network.protocol.version": true, "rpc.grpc.status_code": true,
		AttrRequestID: true, AttrPropagation: true, AttrXRayRoot: true, AttrQueueTimeMS: true,
		AttrAppDuration: true, AttrAppStart: true, AttrOverhead: true,
	}
	spans := sink.Spans()
	if len(spans) != len(tests) {
		t.Fatalf("%d spans, want %d", len(spans), len(tests))
	}
	for _, sp := range spans {
		i, ok := tids[hex.EncodeToString(sp.TraceId)]
		if !ok {
			t.Fatalf("span of an unknown trace %x", sp.TraceId)
		}
		tt := tests[i]
		a := attrs(sp)
		for k := range a {
			if !documented[k] {
				t.Errorf("%s: attribute %s is not in the README", tt.name, k)
			}
		}
		for _, kv := range sp.Attributes {
			if kv.Key == "server.port" && kv.Value.GetIntValue() == 0 {
				t.Errorf("%s: server.port is not an int: %v", tt.name, kv.Value)
			}
		}
		if a["server.address"] != tt.address || a["server.port"] != tt.port {
			t.Errorf("%s: server.address %q, server.port %q; want %q, %q", tt.name, a["server.address"], a["server.port"], tt.address, tt.port)
		}
		if a[AttrXRayRoot] != tt.xrayRoot || a[AttrPropagation] != tt.propagation {
			t.Errorf("%s: xray_root %q, propagation %q; want %q, %q", tt.name, a[AttrXRayRoot], a[AttrPropagation], tt.xrayRoot, tt.propagation)
		}
	}

	// The resource: the SDK's own telemetry.sdk.* and hopscope's keys.
	var req coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(sink.res[0], &req); err != nil {
		t.Fatal(err)
	}
	res := map[string]string{}
	for _, kv := range req.ResourceSpans[0].Resource.Attributes {
		res[kv.Key] = kv.Value.GetStringValue()
	}
	want := map[string]string{"service.name": "shop", "hopscope.component": "sidecar", "hopscope.version": version.Version,
		"telemetry.sdk.name": "opentelemetry", "telemetry.sdk.language": "go"}
	for k, v := range want {
		if res[k] != v {
			t.Errorf("resource %s = %q, want %q", k, res[k], v)
		}
	}
	if res["telemetry.sdk.version"] == "" {
		t.Error("resource lacks telemetry.sdk.version")
	}
	for k := range res {
		if _, ok := want[k]; !ok && k != "telemetry.sdk.version" {
			t.Errorf("resource attribute %s is not in the README", k)
		}
	}
}

// TestUnsampledParentIsRespected: a request whose inbound context says "not
// sampled" gets no span (the upstream decision is kept and passed to the
// app), but metrics and the access log still record it.
func TestUnsampledParentIsRespected(t *testing.T) {
	var got seen
	up, _ := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got.add(r) }))
	sink := newOTLPSink(t)
	h := startSidecar(t, up, func(c *Config) { c.OTLPEndpoint = sink.url })
	const tid, parent = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	for _, hdr := range [][2]string{
		{"Traceparent", "00-" + tid + "-" + parent + "-00"},
		{"X-Amzn-Trace-Id", "Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=" + parent + ";Sampled=0"},
	} {
		req, _ := http.NewRequest("GET", h.url+"/unsampled", nil)
		req.Header.Set(hdr[0], hdr[1])
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if st := res.Header.Get("Server-Timing"); !strings.HasPrefix(st, `traceparent;desc="00-`+tid+"-") || !strings.Contains(st, `-00"`) {
			t.Errorf("%s: Server-Timing %q", hdr[0], st)
		}
		app, _ := got.last()
		if tp := app.Get("Traceparent"); !strings.HasPrefix(tp, "00-"+tid+"-") || !strings.HasSuffix(tp, "-00") {
			t.Errorf("%s: the app got traceparent %q, want the unsampled decision passed on", hdr[0], tp)
		}
	}
	h.shutdown()
	if n := len(sink.Spans()); n != 0 {
		t.Errorf("%d spans exported for unsampled requests", n)
	}
	lines := h.logs.Lines()
	if len(lines) != 2 {
		t.Fatalf("%d access lines, want 2", len(lines))
	}
	for _, l := range lines {
		var rec struct {
			TraceID string `json:"trace_id"`
			Status  int
		}
		if err := json.Unmarshal([]byte(l), &rec); err != nil || rec.TraceID != tid || rec.Status != 200 {
			t.Errorf("access line %s", l)
		}
	}
	if v := h.counter(h.sc.metrics.requests, "inbound", "GET", "/unsampled", "200", ""); v != 2 {
		t.Errorf("hopscope_requests_total = %v, want 2", v)
	}
	if c := testutil.CollectAndCount(h.sc.metrics.duration); c != 1 {
		t.Errorf("duration series %d", c)
	}
}

// TestAppCutMidBodyReachesTheClient: when the app's chunked body
// breaks off, the client must see an error, not a clean end.
func TestAppCutMidBodyReachesTheClient(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				http.ReadRequest(bufio.NewReader(c))
				io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n") // then gone
			}()
		}
	}()
	h := startSidecar(t, "http://"+ln.Addr().String(), nil)
	res, err := http.Get(h.url + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err == nil {
		t.Fatalf("client read %q and a clean end from a body the app broke off", b)
	}
}

func TestSplitHost(t *testing.T) {
	for _, tc := range []struct {
		in   string
		host string
		port int
	}{
		{"shop.example", "shop.example", 0},
		{"shop.example:8080", "shop.example", 8080},
		{"127.0.0.1:15080", "127.0.0.1", 15080},
		{"[::1]:443", "::1", 443},
		{"[::1]", "::1", 0},
		{"::1", "::1", 0},
		{"shop.example:", "shop.example", 0},
		{"shop.example:99999", "shop.example", 0},
		{"shop.example:0", "shop.example", 0},
		{"shop.example:8o", "shop.example", 0},
		{"[::1", "[::1", 0},
		{"", "", 0},
		// FuzzSplitHost: a bracketed host followed by anything but
		// ":port" was split anyway ("::1", 8080).
		{"[::1]8080", "[::1]8080", 0},
		{"[::1]x:80", "[::1]x:80", 0},
		{"[::1]:", "::1", 0},
	} {
		if host, port := splitHost(tc.in); host != tc.host || port != tc.port {
			t.Errorf("splitHost(%q) = %q, %d; want %q, %d", tc.in, host, port, tc.host, tc.port)
		}
	}
	if n := testing.AllocsPerRun(100, func() { splitHost("shop.example") }); n != 0 {
		t.Errorf("splitHost allocates %v times", n)
	}
}

// TestXRayRoot: the Root recorded as hopscope.xray_root, trimmed of
// spaces and tabs only, as correlate/xray and the propagator read it.
func TestXRayRoot(t *testing.T) {
	const root = "1-5759e988-bd862e3fe1be46a994272793"
	for _, tc := range []struct {
		name, in, want string
	}{
		{"full header", "Root=" + root + ";Parent=53995c3f42cd8ad8;Sampled=1", root},
		{"ALB Self first", "Self=1-67891233-12456789abcdef012345678;Root=" + root, root},
		{"upper case lowered", "Root=1-5759E988-BD862E3FE1BE46A994272793", root},
		{"spaces and tabs around", " Root =\t" + root + " ;Sampled=?", root},
		{"invalid Parent does not matter", "Root=" + root + ";Parent=zz", root},
		{"all-zero trace id", "Root=1-00000000-000000000000000000000000", ""},
		{"version 2", "Root=2-5759e988-bd862e3fe1be46a994272793", ""},
		{"no Root", "Parent=53995c3f42cd8ad8", ""},
		// FuzzXRayRoot: strings.TrimSpace took these, correlate/xray
		// does not: the span had a root and propagation "none".
		{"no-break space", "Root=\u00a0" + root, ""},
		{"next line", "Root=" + root + "\u0085", ""},
		{"vertical tab", "Root=\v" + root, ""},
	} {
		if got := xrayRoot(tc.in); got != tc.want {
			t.Errorf("%s: xrayRoot(%q) = %q, want %q", tc.name, tc.in, got, tc.want)
		}
	}
}
