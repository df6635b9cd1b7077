package gateway

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/hopscope/hopscope/collector/otlp"
	"github.com/hopscope/hopscope/correlate"
	"github.com/hopscope/hopscope/internal/otlpwire"
)

// load reads a recorded OTLP/JSON request as the wire bytes the receiver
// hands on.
func load(t *testing.T, name string) []byte { return loadTB(t, name) }

func loadTB(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var req coltracepb.ExportTraceServiceRequest
	if err := otlp.UnmarshalJSON(data, &req); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	body, err := proto.Marshal(&req)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// run walks body through a batch of cfg's matcher and returns the results
// and the names of the spans Add took.
func run(t *testing.T, cfg Config, body []byte) ([]Result, []string) {
	t.Helper()
	m, err := NewMatcher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b := m.NewBatch()
	var taken []string
	err = otlpwire.Walk(body, func(res *otlpwire.Resource, _ *otlpwire.Scope, sp *otlpwire.Span) error {
		if b.Add(res, sp) {
			taken = append(taken, string(sp.Name))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.Results(body), taken
}

func ns(n int64) time.Time { return time.Unix(0, n).UTC() }

// TestRecordedEnvoy: the OpenTelemetry demo's Envoy front proxy. Its two
// "ingress" SERVER spans are recognised by upstream_cluster (its service
// name, frontend-proxy, is not a default), the one with an upstream span
// gets that span as its only try, and the frontend's own spans behind it
// are left alone.
func TestRecordedEnvoy(t *testing.T) {
	got, taken := run(t, DefaultConfig(), load(t, "envoy-otel-demo.json"))
	if want := []string{"ingress", "ingress"}; !reflect.DeepEqual(taken, want) {
		t.Fatalf("taken %q, want %q", taken, want)
	}
	want := []Result{
		{TraceID: tid(t, "61432d488c5740779ad434e04be1b6ce"), Ingress: &correlate.IngressLog{
			Keys:  correlate.Keys{RequestID: "be4db716-62f4-95a8-a998-a78fc925032f"},
			Start: ns(1701329056907724000), RequestTime: 4767 * time.Microsecond, Resolution: Resolution,
			Method: "GET", Path: "/api/cart", Status: 200, Upstream: "frontend"}},
		{TraceID: tid(t, "ced1a995ba1f3689af5d18d5e31abef0"), Ingress: &correlate.IngressLog{
			Keys:  correlate.Keys{RequestID: "2b094ff0-f36f-9b35-bcc2-aae60fe7e5f6"},
			Start: ns(1701329063983177000), RequestTime: 8745 * time.Microsecond, Resolution: Resolution,
			Tries:  []correlate.UpstreamTry{{Addr: "172.23.0.14:8080", Status: 200, Response: 8586 * time.Microsecond}},
			Method: "GET", Path: "/", Status: 200, Upstream: "frontend"},
			TrySpanIDs: sids(t, "857a13f25f2a7ea2")},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("\n got %+v\nwant %+v", dump(got), dump(want))
	}
}

// TestRecordedTraefik: Traefik's own retry test. The entry point's
// SERVER span (service name "tracing", recognised by entry_point) is the
// ingress; its three ReverseProxy attempts are the tries, in order, the
// first two the retries; the INTERNAL spans are nothing.
func TestRecordedTraefik(t *testing.T) {
	got, taken := run(t, DefaultConfig(), load(t, "traefik-retry.json"))
	if want := []string{"GET"}; !reflect.DeepEqual(taken, want) {
		t.Fatalf("taken %q, want %q (the client spans' resource is not known to be a gateway's)", taken, want)
	}
	try := func(ms float64) correlate.UpstreamTry {
		return correlate.UpstreamTry{Addr: "172.18.0.3:81", Status: 502, Response: time.Duration(ms * float64(time.Millisecond))}
	}
	want := []Result{{TraceID: tid(t, "80f198ee56343ba864fe8b2a57d3eff7"), Ingress: &correlate.IngressLog{
		Start: ns(1764151201000000000), RequestTime: 4400 * time.Microsecond, Resolution: Resolution,
		Tries:  []correlate.UpstreamTry{try(1.1), try(0.9), try(1.1)},
		Method: "GET", Path: "/retry", Host: "127.0.0.1:8000", Status: 502},
		TrySpanIDs: sids(t, "a000000000000001", "a000000000000005", "a000000000000009")}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("\n got %+v\nwant %+v", dump(got), dump(want))
	}
}

// TestRecordedCaddy: the span a live Caddy exported, with no service
// name configured (unknown_service:caddy) and no upstream span.
func TestRecordedCaddy(t *testing.T) {
	got, taken := run(t, DefaultConfig(), load(t, "caddy-live.json"))
	if len(taken) != 1 {
		t.Fatalf("taken %q", taken)
	}
	want := []Result{{TraceID: tid(t, "4bf92f3577b34da6a3ce929d0e0e4736"), Ingress: &correlate.IngressLog{
		Start: ns(1796595181000000000), RequestTime: 2269196 * time.Nanosecond, Resolution: Resolution,
		Method: "GET", Path: "/x", Host: "127.0.0.1", Status: 200}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("\n got %+v\nwant %+v", dump(got), dump(want))
	}
}

// TestConfigured: what the configuration says decides; the defaults do
// not apply when replaced.
func TestConfigured(t *testing.T) {
	envoy, traefik := load(t, "envoy-otel-demo.json"), load(t, "traefik-retry.json")
	for _, tt := range []struct {
		name    string
		cfg     Config
		body    []byte
		servers int
		taken   int // spans Add took
	}{
		{"no rules, no gateway", Config{}, envoy, 0, 0},
		{"by service name: the client span is taken at once", Config{Services: []string{"FRONTEND-PROXY"}}, envoy, 2, 3},
		{"by service prefix", Config{Services: []string{"frontend-*"}}, envoy, 2, 3},
		{"by service suffix", Config{Services: []string{"*-proxy"}}, envoy, 2, 3},
		{"by resource attribute", Config{ResourceAttributes: []string{"service.name=tracing"}}, traefik, 1, 4},
		{"by span attribute value", Config{SpanAttributes: []string{"entry_point=web"}}, traefik, 1, 1},
		{"by another span attribute value", Config{SpanAttributes: []string{"entry_point=websecure"}}, traefik, 0, 0},
		{"the frontend's own server span when named", Config{Services: []string{"frontend"}}, envoy, 1, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, taken := run(t, tt.cfg, tt.body)
			if len(got) != tt.servers || len(taken) != tt.taken {
				t.Fatalf("%d results, %d taken %q; want %d, %d", len(got), len(taken), taken, tt.servers, tt.taken)
			}
		})
	}
}

// TestIstioSidecarInbound: an Envoy span whose upstream_cluster is
// "inbound|…" is a mesh sidecar's, not a gateway's, whatever matched.
func TestIstioSidecarInbound(t *testing.T) {
	data, _ := os.ReadFile(filepath.Join("testdata", "envoy-otel-demo.json"))
	var req coltracepb.ExportTraceServiceRequest
	if err := otlp.UnmarshalJSON([]byte(strings.ReplaceAll(string(data), `"stringValue": "frontend"`, `"stringValue": "inbound|8080||"`)), &req); err != nil {
		t.Fatal(err)
	}
	body, _ := proto.Marshal(&req)
	for _, cfg := range []Config{DefaultConfig(), {Services: []string{"frontend-proxy"}}} {
		if got, _ := run(t, cfg, body); len(got) != 0 {
			t.Fatalf("%+v: %d results", cfg, len(got))
		}
	}
}

func TestValidate(t *testing.T) {
	for _, tt := range []struct {
		cfg  Config
		want string
	}{
		{DefaultConfig(), ""},
		{Config{Services: []string{"*"}}, "--gateway-services"},
		{Config{Services: []string{" "}}, "--gateway-services"},
		{Config{ResourceAttributes: []string{"service.name"}}, "--gateway-resource-attributes"},
		{Config{ResourceAttributes: []string{"=x"}}, "--gateway-resource-attributes"},
		{Config{SpanAttributes: []string{"=x"}}, "--gateway-span-attributes"},
	} {
		err := tt.cfg.Validate()
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%+v: %v, want %q", tt.cfg, err, tt.want)
		}
		if _, merr := NewMatcher(tt.cfg); (merr == nil) != (err == nil) {
			t.Errorf("NewMatcher and Validate disagree: %v, %v", merr, err)
		}
	}
}

func tid(t *testing.T, s string) correlate.TraceID {
	t.Helper()
	id, err := correlate.ParseTraceID(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func sids(t *testing.T, hex ...string) []correlate.SpanID {
	t.Helper()
	var out []correlate.SpanID
	for _, s := range hex {
		id, err := correlate.ParseSpanID(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, id)
	}
	return out
}

// dump makes results printable (the records are pointers).
func dump(rs []Result) []any {
	var out []any
	for _, r := range rs {
		out = append(out, *r.Ingress, r.TrySpanIDs)
	}
	return out
}
