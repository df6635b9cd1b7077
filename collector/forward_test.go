package collector

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/fluent/fluent-logger-golang/fluent"

	"github.com/hopscope/hopscope/collector/forward"
	"github.com/hopscope/hopscope/internal/testkit"
	"github.com/hopscope/hopscope/sidecar/accesslog"
)

// TestForwardRouting sends, with fluent-logger-golang as the client, a
// sidecar access-log record, an ingress-nginx JSON line as Fluent Bit's tail
// input forwards it ({"log": line}) and a record of unknown shape.
func TestForwardRouting(t *testing.T) {
	c := startCollector(t, nil)
	host, port := splitAddr(t, c.ForwardAddr().String())

	// The sidecar's own shipper (async fluent-logger-golang).
	al, err := accesslog.New(accesslog.Config{FluentAddress: c.ForwardAddr().String()})
	if err != nil {
		t.Fatal(err)
	}
	const tid = "4bf92f3577b34da6a3ce929d0e0e4736"
	al.Log(&accesslog.Record{Time: time.Now(), Service: "shop", TraceID: tid, SpanID: "00f067aa0ba902b7", RequestID: "req-fwd",
		Method: "GET", Path: "/orders/1", Route: "/orders/{id}", Status: 200, Duration: 12 * time.Millisecond, AppDuration: 10 * time.Millisecond,
		Overhead: 2 * time.Millisecond})
	if err := al.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}

	f, err := fluent.New(fluent.Config{FluentHost: host, FluentPort: port, RequestAck: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	line := `{"msec":"1764151200.100","request_time":"0.015","status":"200","request_method":"GET","request_uri":"/orders/1","upstream_addr":"10.0.0.7:15080","upstream_status":"200","upstream_response_time":"0.013","req_id":"req-fwd"}`
	if err := f.Post("kube.ingress-nginx", map[string]string{"log": line + "\n", "stream": "stdout"}); err != nil {
		t.Fatal(err)
	}
	if err := f.Post("kube.other", map[string]string{"foo": "bar"}); err != nil {
		t.Fatal(err)
	}

	testkit.Eventually(t, "the sidecar record and the ingress line joined by request id", waitLimit, func() bool {
		g, ok := c.Store().Group(mustTraceID(t, tid))
		return ok && len(g.Sidecars) == 1 && g.Ingress != nil
	})
	g, _ := c.Store().Group(mustTraceID(t, tid))
	if s := g.Sidecars[0]; s.Service != "shop" || s.Route != "/orders/{id}" || s.Duration != 12*time.Millisecond || s.App != 10*time.Millisecond {
		t.Errorf("sidecar from access log: %+v", s)
	}
	if g.Ingress.RequestTime != 15*time.Millisecond || len(g.Ingress.Tries) != 1 {
		t.Errorf("ingress from forwarded line: %+v", g.Ingress)
	}
	testkit.Eventually(t, "the unknown record rejected", waitLimit, func() bool {
		return testutilCounter(c.m.rejected.WithLabelValues(SrcForward, "malformed")) == 1
	})
	// Each record counts once, under the receiver that took it in: both
	// forwarded records under forward, whatever they carried.
	for source, want := range map[string]float64{SrcForward: 2, SrcIngress: 0, SrcOTLP: 0, SrcALB: 0, SrcHAProxy: 0, SrcRUM: 0} {
		if got := testutilCounter(c.m.received.WithLabelValues(source)); got != want {
			t.Errorf("hopscope_collector_received_total{source=%q} = %v, want %v", source, got, want)
		}
	}
}

// TestForwardIdleLockoutCounted (issue 19 item 7): 1,024 connections that
// send nothing no longer keep a Fluent sender out, and the connections the
// receiver closes are in rejected_total{source="forward"}.
func TestForwardIdleLockoutCounted(t *testing.T) {
	c := startCollector(t, nil)
	for range forward.DefaultMaxConnections {
		conn, err := net.DialTimeout("tcp", c.ForwardAddr().String(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
	}
	testkit.Eventually(t, "the idle connections accepted", waitLimit, func() bool { return c.forward.Stats().OpenConnections == forward.DefaultMaxConnections })
	host, port := splitAddr(t, c.ForwardAddr().String())
	f, err := fluent.New(fluent.Config{FluentHost: host, FluentPort: port, RequestAck: true, Timeout: 5 * time.Second,
		ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second, MaxRetry: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Post("kube.other", map[string]string{"log": "hello"}); err != nil {
		t.Fatalf("a Fluent sender behind 1,024 idle connections: %v", err)
	}
	testkit.Eventually(t, "the eviction counted", waitLimit, func() bool {
		return testutilCounter(c.m.rejected.WithLabelValues(SrcForward, forward.ReasonEvicted)) == 1
	})
}

func splitAddr(t *testing.T, a string) (string, int) {
	i := strings.LastIndexByte(a, ':')
	var port int
	for _, ch := range a[i+1:] {
		port = port*10 + int(ch-'0')
	}
	return a[:i], port
}
