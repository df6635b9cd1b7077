//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hopscope/hopscope/collector"
	"github.com/hopscope/hopscope/correlate"
	"github.com/hopscope/hopscope/internal/fixture"
	"github.com/hopscope/hopscope/internal/testkit"
	"github.com/hopscope/hopscope/sidecar"
)

// TestCollectorToJaeger is the collector issue's "done when" on a real
// Jaeger v2: a span from a sidecar, the matching ingress-nginx JSON line in
// a tailed file and the matching ALB line in the ALB directory give one
// breakdown whose loadbalancer, ingress, service, sidecar and app hops sum
// to the ALB total, and Jaeger's API returns the trace with those spans
// as one tree.
func TestCollectorToJaeger(t *testing.T) {
	j := startJaeger(t)
	dir := t.TempDir()
	ingressLog := filepath.Join(dir, "ingress.log")
	albDir := filepath.Join(dir, "alb")
	os.MkdirAll(albDir, 0o755)
	os.WriteFile(ingressLog, nil, 0o644)

	cfg := collector.DefaultConfig()
	cfg.OTLPGRPCListen, cfg.ForwardListen, cfg.RUMListen = "", "", ""
	cfg.OTLPHTTPListen, cfg.HTTPListen = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Tail = []string{collector.FormatIngressNginxJSON + ":" + ingressLog}
	cfg.ALBLogs, cfg.StateDir = albDir, filepath.Join(dir, "state")
	cfg.ExportOTLPEndpoint = j.otlpHTTP
	cfg.ExportDelay = time.Second
	reg := prometheus.NewRegistry()
	col, err := collector.New(cfg, collector.Options{Registerer: reg, Gatherer: reg,
		ALBScanInterval: 100 * time.Millisecond, ALBSettleTime: time.Nanosecond, TailPollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := col.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { col.Shutdown(context.Background()) })

	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	app := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(15 * time.Millisecond) // the app's own time
		io.WriteString(w, "order 7")
	})}
	go app.Serve(ln)
	t.Cleanup(func() { app.Close() })
	scfg := sidecar.DefaultConfig()
	scfg.Listen, scfg.AdminListen, scfg.Upstream, scfg.Service = "127.0.0.1:0", "127.0.0.1:0", "http://"+ln.Addr().String(), "shop"
	scfg.OTLPEndpoint = "http://" + col.OTLPHTTPAddr().String()
	scfg.AccessLog, scfg.ShutdownGrace, scfg.Routes = "off", 0, []string{"/api/orders/{id}"}
	sc, err := sidecar.New(scfg, sidecar.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sc.Start(context.Background())

	const root = "1-6789abcd-0123456789abcdef01234567"
	const tid = "6789abcd0123456789abcdef01234567"
	req, _ := http.NewRequest("GET", "http://"+sc.Addr().String()+"/api/orders/7", nil)
	req.Header.Set("X-Amzn-Trace-Id", "Root="+root)
	req.Header.Set("X-Request-Id", "req-e2e-jaeger")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	sc.Shutdown(ctx)
	cancel()

	var start time.Time
	var dur time.Duration
	testkit.Eventually(t, "the sidecar span at the collector", 10*time.Second, func() bool {
		g, ok := col.Store().Group(tidOf(t, tid))
		if ok && len(g.Sidecars) == 1 {
			start, dur = g.Sidecars[0].Start, g.Sidecars[0].Duration
			return true
		}
		return false
	})
	ms := func(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }
	upstream := math.Ceil(float64(dur.Microseconds())/1000) + 1
	requestTime := upstream + 2
	end := start.Add(ms(requestTime))
	f, _ := os.OpenFile(ingressLog, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(fixture.Ingress{End: end, RequestTime: ms(requestTime), URI: "/api/orders/7", RequestID: "req-e2e-jaeger",
		XRay: "Root=" + root, Tries: []fixture.Try{{Addr: "10.0.0.7:15080", Status: 200, Response: ms(upstream)}}}.Line() + "\n")
	f.Close()
	albTotal := requestTime + 6
	os.WriteFile(filepath.Join(albDir, "elb.log"), []byte(fixture.ALB{Root: root, Created: start.Add(-3 * time.Millisecond), End: end,
		URL: "https://shop.example:443/api/orders/7", Request: ms(1), Target: ms(requestTime + 3), Response: ms(2)}.Line()+"\n"), 0o644)

	var b collector.BreakdownResponse
	testkit.Eventually(t, "the joined breakdown", 15*time.Second, func() bool {
		res, err := http.Get("http://" + col.HTTPAddr().String() + "/api/v1/traces/" + tid + "/breakdown")
		if err != nil {
			return false
		}
		defer res.Body.Close()
		b = collector.BreakdownResponse{}
		json.NewDecoder(res.Body).Decode(&b)
		return b.TotalSource == "alb" && hasHop(b, "loadbalancer") && hasHop(b, "ingress")
	})
	var sum float64
	for _, h := range b.Hops {
		sum += h.MS
	}
	if b.TotalMS != albTotal || math.Abs(sum-b.TotalMS) > 0.1 {
		t.Fatalf("total %v (ALB says %v), hops sum %v: %+v", b.TotalMS, albTotal, sum, b.Hops)
	}
	for _, h := range []string{"loadbalancer", "ingress", "service", "sidecar", "app"} {
		if !hasHop(b, h) {
			t.Errorf("hop %s missing: %+v", h, b.Hops)
		}
	}

	var tr *jaegerTrace
	testkit.Eventually(t, "Jaeger to return the whole path", 30*time.Second, func() bool {
		tr = j.trace(t, tid)
		if tr == nil {
			return false
		}
		ops := map[string]bool{}
		for _, s := range tr.Spans {
			ops[s.OperationName] = true
		}
		return ops["loadbalancer"] && ops["ingress"] && ops["service"] && ops["GET /api/orders/{id}"] && ops["app"]
	})
	ids := map[string]string{}
	for _, s := range tr.Spans {
		ids[s.OperationName] = s.SpanID
	}
	parent := func(op string) string {
		for _, s := range tr.Spans {
			if s.OperationName == op {
				for _, r := range s.References {
					if r.RefType == "CHILD_OF" {
						return r.SpanID
					}
				}
			}
		}
		return ""
	}
	for child, want := range map[string]string{"ingress": "loadbalancer", "service": "ingress", "GET /api/orders/{id}": "service", "app": "GET /api/orders/{id}"} {
		if got := parent(child); got != ids[want] {
			t.Errorf("in Jaeger, %s's parent is %s, want %s (%s)", child, got, want, ids[want])
		}
	}
	services := map[string]bool{}
	for _, p := range tr.Processes {
		services[p.ServiceName] = true
	}
	if !services["alb"] || !services["ingress-nginx"] || !services["shop"] {
		t.Errorf("Jaeger services %v", services)
	}
}

func hasHop(b collector.BreakdownResponse, hop string) bool {
	for _, h := range b.Hops {
		if h.Hop == hop {
			return true
		}
	}
	return false
}

// tidOf parses a hex trace id.
func tidOf(t *testing.T, id string) correlate.TraceID {
	t.Helper()
	tid, err := correlate.ParseTraceID(id)
	if err != nil {
		t.Fatal(err)
	}
	return tid
}
