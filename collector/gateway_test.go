package collector

import (
	"context"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/hopscope/hopscope/collector/otlp"
	"github.com/hopscope/hopscope/correlate"
	"github.com/hopscope/hopscope/internal/contract"
)

func strAttr(k, v string) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
}

func floatAttr(k string, v float64) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: v}}}
}

// TestGatewaySpansPlayIngress: Traefik's recorded retry trace (see
// collector/gateway/testdata) with a hopscope sidecar span behind its last
// attempt gives a breakdown whose ingress hop comes from Traefik's entry
// point span, with the three attempts as tries, the first two as the
// ingress_retries hop, and no http_egress backend made of Traefik's
// ReverseProxy spans. With --gateway-span-attributes emptied, the same
// spans give no ingress hop (and Traefik's attempts pass for the app's
// HTTP calls, as they did before gateway spans were recognised).
func TestGatewaySpansPlayIngress(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("gateway", "testdata", "traefik-retry.json"))
	if err != nil {
		t.Fatal(err)
	}
	var req coltracepb.ExportTraceServiceRequest
	if err := otlp.UnmarshalJSON(data, &req); err != nil {
		t.Fatal(err)
	}
	traceID, _ := hex.DecodeString("80f198ee56343ba864fe8b2a57d3eff7")
	start := uint64(1764151201000000000)
	// The sidecar answered the last attempt (3.0–4.1 ms): 0.8 ms of it, the
	// app 0.6 ms.
	req.ResourceSpans = append(req.ResourceSpans, &tracepb.ResourceSpans{
		Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{strAttr(contract.AttrServiceName, "shop")}},
		ScopeSpans: []*tracepb.ScopeSpans{{Spans: []*tracepb.Span{{
			TraceId: traceID, SpanId: []byte{0xb, 0, 0, 0, 0, 0, 0, 1}, ParentSpanId: []byte{0xa, 0, 0, 0, 0, 0, 0, 9},
			Name: "GET /retry", Kind: tracepb.Span_SPAN_KIND_SERVER,
			StartTimeUnixNano: start + 3_100_000, EndTimeUnixNano: start + 3_900_000,
			Attributes: []*commonpb.KeyValue{strAttr(contract.AttrComponent, contract.ComponentSidecar),
				strAttr(contract.AttrHTTPRequestMethod, "GET"), floatAttr(contract.AttrAppDurationMS, 0.6)},
		}}}},
	})
	body, err := proto.Marshal(&req)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		edit func(*Config)
		want map[string]float64
	}{
		{"defaults", nil, map[string]float64{"ingress": 1.3, "ingress_retries": 2, "service": 0.3, "sidecar": 0.2, "app": 0.6}},
		{"no span attribute rule", func(c *Config) { c.GatewaySpanAttributes = nil }, map[string]float64{"sidecar": 0.2, "app": 0, "http_egress": 0.6}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := offlineCollector(t, tt.edit)
			if err := c.consumeOTLP(context.Background(), body); err != nil {
				t.Fatal(err)
			}
			b, ok := c.store.View(correlate.TraceID(traceID))
			if !ok {
				t.Fatal("no trace")
			}
			if got := hops(b); !equalHops(got, tt.want) {
				t.Fatalf("hops %v, want %v (breakdown %+v)", got, tt.want, b)
			}
			if tt.edit != nil {
				return
			}
			if len(b.Backends) != 0 {
				t.Fatalf("backends %+v: a gateway's attempts are not the app's calls", b.Backends)
			}
			if len(b.Tries) != 3 || b.Tries[2].Status != 502 || b.Tries[0].Addr != "172.18.0.3:81" || b.Status != 502 || b.Route != "/retry" {
				t.Fatalf("tries %+v status %d route %s", b.Tries, b.Status, b.Route)
			}
		})
	}
}

func equalHops(got, want map[string]float64) bool {
	if len(got) != len(want) {
		return false
	}
	for k, v := range want {
		if d := got[k] - v; d > 0.001 || d < -0.001 {
			return false
		}
	}
	return true
}

// TestGatewayConfigValidated: bad --gateway-* values are refused naming
// the flag.
func TestGatewayConfigValidated(t *testing.T) {
	cfg := DefaultConfig()
	cfg.GatewayResourceAttributes = []string{"no-equals"}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "--gateway-resource-attributes") {
		t.Fatalf("Validate: %v", err)
	}
}
