//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hopscope/hopscope/collector"
	"github.com/hopscope/hopscope/internal/realcomp"
	"github.com/hopscope/hopscope/internal/testkit"
	"github.com/hopscope/hopscope/sidecar"
)

// TestCaddyGatewaySpan: a real Caddy (tools/caddy; Debian's 2.6.2 lacks
// the tracing module) reverse-proxies to a hopscope sidecar in front of an
// app, its tracing directive exporting OTLP/gRPC to the collector with
// nothing but the standard OTEL_EXPORTER_OTLP_* variables. Caddy's server
// span (service.name unknown_service:caddy, recognised by the default
// --gateway-services) is the breakdown's ingress hop: the total is Caddy's
// duration, the ingress hop is that less the sidecar's (Caddy makes no
// upstream span, so the service hop is folded into it and listed as
// missing), and the sidecar and app hops are the sidecar's.
func TestCaddyGatewaySpan(t *testing.T) {
	bin := toolBinary(t, "HOPSCOPE_CADDY_BIN", "caddy")

	cfg := loopbackCollectorConfig()
	cfg.OTLPGRPCListen = "127.0.0.1:0"
	col := runCollector(t, cfg, collector.Options{})

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	app := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(10 * time.Millisecond) // the app's own time
		io.WriteString(w, "order 7")
	})}
	go app.Serve(ln)
	t.Cleanup(func() { app.Close() })
	scfg := sidecar.DefaultConfig()
	scfg.Listen, scfg.AdminListen, scfg.Upstream, scfg.Service = "127.0.0.1:0", "127.0.0.1:0", "http://"+ln.Addr().String(), "shop"
	scfg.OTLPEndpoint = "http://" + col.OTLPHTTPAddr().String()
	scfg.AccessLog, scfg.ShutdownGrace, scfg.Routes = "off", 0, []string{"/api/orders/{id}"}
	sc, _ := runSidecar(t, scfg)

	port, err := realcomp.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	caddyfile := filepath.Join(dir, "Caddyfile")
	// No admin endpoint, no automatic HTTPS, no trust-store changes
	// (shared/TOOLING.md), loopback only.
	os.WriteFile(caddyfile, []byte(fmt.Sprintf(`{
	admin off
	auto_https off
	skip_install_trust
}
http://127.0.0.1:%d {
	bind 127.0.0.1
	tracing
	reverse_proxy %s
}
`, port, sc.Addr())), 0o644)
	start(t, "caddy", []string{"XDG_DATA_HOME=" + dir, "XDG_CONFIG_HOME=" + dir, "HOME=" + dir,
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://" + col.OTLPGRPCAddr().String(),
		"OTEL_EXPORTER_OTLP_INSECURE=true", "OTEL_BSP_SCHEDULE_DELAY=100"},
		bin, "run", "--config", caddyfile, "--adapter", "caddyfile")
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if err := realcomp.WaitTCP("caddy", addr, 20*time.Second); err != nil {
		t.Fatal(err)
	}

	const tid = "5c3a0b0e9d8f4a6b8c7d6e5f4a3b2c1d"
	req, _ := http.NewRequest("GET", "http://"+addr+"/api/orders/7", nil)
	req.Header.Set("traceparent", "00-"+tid+"-1112131415161718-01")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || string(body) != "order 7" {
		t.Fatalf("through Caddy: %d %q", res.StatusCode, body)
	}

	var b collector.BreakdownResponse
	testkit.Eventually(t, "a breakdown with Caddy's ingress hop and the sidecar's", 20*time.Second, func() bool {
		res, err := http.Get("http://" + col.HTTPAddr().String() + "/api/v1/traces/" + tid + "/breakdown")
		if err != nil {
			return false
		}
		defer res.Body.Close()
		b = collector.BreakdownResponse{}
		json.NewDecoder(res.Body).Decode(&b)
		return hasHop(b, "ingress") && hasHop(b, "sidecar")
	})
	g, ok := col.Store().Group(tidOf(t, tid))
	if !ok || g.Ingress == nil || len(g.Sidecars) != 1 {
		t.Fatalf("group: %+v", g)
	}
	caddyMS, sidecarMS := float64(g.Ingress.RequestTime.Microseconds())/1000, float64(g.Sidecars[0].Duration.Microseconds())/1000
	t.Logf("Caddy's span %.3f ms, the sidecar's %.3f ms; hops %+v, missing %v", caddyMS, sidecarMS, b.Hops, b.Missing)
	if b.TotalSource != "ingress" || math.Abs(b.TotalMS-caddyMS) > 0.01 {
		t.Errorf("total %v from %s, want Caddy's %v from ingress", b.TotalMS, b.TotalSource, caddyMS)
	}
	if g.Ingress.Method != "GET" || g.Ingress.Path != "/api/orders/7" || g.Ingress.Status != 200 || len(g.Ingress.Tries) != 0 {
		t.Errorf("ingress record %+v", *g.Ingress)
	}
	if caddyMS <= sidecarMS || sidecarMS < 10 {
		t.Errorf("Caddy's span %v ms does not hold the sidecar's %v ms", caddyMS, sidecarMS)
	}
	var sum float64
	for _, h := range b.Hops {
		sum += h.MS
		if h.Hop == "ingress" && (h.Source != "ingress+sidecar" && h.Source != "ingress" || math.Abs(h.MS-(caddyMS-sidecarMS)) > 0.01) {
			t.Errorf("ingress hop %+v, want %v ms", h, caddyMS-sidecarMS)
		}
	}
	if math.Abs(sum-b.TotalMS) > 0.1 || !hasHop(b, "app") {
		t.Errorf("hops %+v sum %v, total %v", b.Hops, sum, b.TotalMS)
	}
	if !contains(b.Missing, "service") {
		t.Errorf("missing %v: Caddy gives no upstream time, the service hop is not known", b.Missing)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
