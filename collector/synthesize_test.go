package collector

import (
	"bufio"
	"context"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/hopscope/hopscope/collector/otlp"
	"github.com/hopscope/hopscope/correlate/beacon"
)

// TestLateALBParentsLoadBalancer is the realistic order: the sidecar span
// and the ingress line (and the beacon) arrive, the trace is exported
// after --export-delay, and the ALB line arrives 5 minutes later (ALB
// writes its logs every 5 minutes). The loadbalancer span then exported
// must be the parent the ingress span was given at the first export, and
// the trace one tree, the loadbalancer span enclosing the ingress span
// (also when only the ingress line came, from a host whose clock is 4 s
// behind the ALB's). Without ALB logs as an input no parent is reserved.
func TestLateALBParentsLoadBalancer(t *testing.T) {
	for _, tc := range []struct {
		scenario    string
		ingressOnly bool // no spans, no beacon
		albInput    bool
		lbParent    string // the loadbalancer span's parent
		ingressPar  string // the ingress span's parent at first export, "" = root; "loadbalancer" = the reserved id
	}{
		{"full_path", false, true, "request", "loadbalancer"},
		{"no_rum", false, true, "", "loadbalancer"},
		{"skew_plus_2s", true, true, "", "loadbalancer"},
		{"no_rum", false, false, "", ""},
		{"full_path", false, false, "request", "request"},
	} {
		name := tc.scenario + "/alb_input"
		if !tc.albInput {
			name = tc.scenario + "/no_alb_input"
		}
		if tc.ingressOnly {
			name += "/ingress_only"
		}
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join("testdata", "recorded", tc.scenario)
			capture := newSpanCapture(t)
			clock := time.Date(2026, 11, 26, 10, 0, 1, 0, time.UTC)
			cfg := DefaultConfig()
			cfg.OTLPGRPCListen, cfg.OTLPHTTPListen, cfg.ForwardListen, cfg.RUMListen = "", "", "", ""
			cfg.HTTPListen = "127.0.0.1:0"
			cfg.ExportOTLPEndpoint = capture.url
			if tc.albInput {
				cfg.ALBLogs = t.TempDir()
			}
			reg := prometheus.NewRegistry()
			c, err := New(cfg, Options{Registerer: reg, Gatherer: reg, Now: func() time.Time { return clock }})
			if err != nil {
				t.Fatal(err)
			}
			read := func(name string) []byte {
				b, err := os.ReadFile(filepath.Join(dir, name))
				if err != nil {
					t.Fatal(err)
				}
				return b
			}
			if !tc.ingressOnly {
				var req coltracepb.ExportTraceServiceRequest
				if err := otlp.UnmarshalJSON(read("spans.json"), &req); err != nil {
					t.Fatal(err)
				}
				body, _ := proto.Marshal(&req)
				if err := c.consumeOTLP(context.Background(), body); err != nil {
					t.Fatal(err)
				}
			}
			consumeLine(c, FormatIngressNginxJSON, SrcIngress, "ingress.log", 1, strings.TrimSpace(string(read("ingress.log"))))
			if _, err := os.Stat(filepath.Join(dir, "beacon.json")); err == nil && !tc.ingressOnly {
				bt, err := beacon.Parse(read("beacon.json"), beacon.DefaultLimits())
				if err != nil {
					t.Fatal(err)
				}
				if _, err := c.store.Add(clock, &bt); err != nil {
					t.Fatal(err)
				}
			}
			clock = clock.Add(cfg.ExportDelay)
			c.em.flush(context.Background(), c.em.due(clock, false))
			first := capture.byName()
			if first["ingress"] == nil || first["loadbalancer"] != nil {
				t.Fatalf("first export: %v", names(first))
			}
			ingressParent := hex.EncodeToString(first["ingress"].ParentSpanId)

			// Five minutes later, the ALB line.
			clock = clock.Add(5 * time.Minute)
			sc := bufio.NewScanner(strings.NewReader(string(read("alb.log"))))
			for sc.Scan() {
				consumeLine(c, FormatALB, SrcALB, "alb.log", 1, sc.Text())
			}
			clock = clock.Add(cfg.ExportDelay)
			c.em.flush(context.Background(), c.em.due(clock, false))
			all := capture.byName()
			lb := all["loadbalancer"]
			if lb == nil {
				t.Fatalf("no loadbalancer span after the ALB line: %v", names(all))
			}
			idOf := func(name string) string {
				if name == "" {
					return ""
				}
				return hex.EncodeToString(all[name].SpanId)
			}
			if got := hex.EncodeToString(lb.ParentSpanId); got != idOf(tc.lbParent) {
				t.Errorf("loadbalancer's parent %q, want %s's %q", got, tc.lbParent, idOf(tc.lbParent))
			}
			if ingressParent != idOf(tc.ingressPar) {
				t.Errorf("ingress's parent %q, want %s's %q", ingressParent, tc.ingressPar, idOf(tc.ingressPar))
			}
			if !tc.albInput {
				return
			}
			// One tree: one root, every parent exported.
			capture.mu.Lock()
			ids := map[string]bool{}
			for _, sp := range capture.spans {
				ids[hex.EncodeToString(sp.SpanId)] = true
			}
			var roots []string
			for _, sp := range capture.spans {
				if p := hex.EncodeToString(sp.ParentSpanId); p == "" || !ids[p] {
					roots = append(roots, sp.Name)
				}
			}
			capture.mu.Unlock()
			if len(roots) != 1 {
				t.Errorf("roots %v, want one", roots)
			}
			ing := all["ingress"]
			if lb.StartTimeUnixNano > ing.StartTimeUnixNano || lb.EndTimeUnixNano < ing.EndTimeUnixNano {
				t.Errorf("loadbalancer [%d, %d] does not enclose ingress [%d, %d]", lb.StartTimeUnixNano, lb.EndTimeUnixNano, ing.StartTimeUnixNano, ing.EndTimeUnixNano)
			}
		})
	}
}

func names(m map[string]*tracepb.Span) []string {
	var out []string
	for n := range m {
		out = append(out, n)
	}
	return out
}
