package main

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// Lines as the Jaeger v1.76.0 binary (collector v0.140) and hopscope expose them.
const promText = `# HELP otelcol_receiver_accepted_spans_total Number of spans successfully pushed into the pipeline. [Alpha]
# TYPE otelcol_receiver_accepted_spans_total counter
otelcol_receiver_accepted_spans_total{otel_scope_name="go.opentelemetry.io/collector/receiver/receiverhelper",otel_scope_schema_url="",otel_scope_version="",receiver="otlp",transport="grpc"} 1.234567e+06
otelcol_receiver_accepted_spans_total{otel_scope_name="go.opentelemetry.io/collector/receiver/receiverhelper",otel_scope_schema_url="",otel_scope_version="",receiver="otlp",transport="http"} 20
otelcol_receiver_accepted_spans_total{receiver="jaeger",transport="grpc"} 99
otelcol_exporter_sent_spans_total{exporter="jaeger_storage_exporter",otel_scope_name="go.opentelemetry.io/collector/exporter/exporterhelper"} 1234587
hopscope_collector_received_total{source="otlp"} 42
hopscope_collector_received_total{source="forward"} 7
hopscope_collector_rejected_total{reason="bad, \"quoted\" }",source="otlp"} 3
hopscope_collector_traces_active 5 1732600000000
go_goroutines 12
broken{label="x" 1
# EOF
`

func TestParseProm(t *testing.T) {
	s := parseProm(promText)
	if v, ok := sum(s, "otelcol_receiver_accepted_spans", map[string]string{"receiver": "otlp"}); !ok || v != 1234587 {
		t.Errorf("accepted spans (name without _total) = %v, %v; want 1234587", v, ok)
	}
	if v, _ := sum(s, "otelcol_receiver_accepted_spans_total", map[string]string{"receiver": "otlp", "transport": "http"}); v != 20 {
		t.Errorf("accepted spans over http = %v, want 20", v)
	}
	if v, ok := sum(s, "hopscope_collector_received_total", map[string]string{"source": "otlp"}); !ok || v != 42 {
		t.Errorf("hopscope received = %v, %v", v, ok)
	}
	if v, ok := sum(s, "hopscope_collector_rejected_total", map[string]string{"source": "otlp", "reason": `bad, "quoted" }`}); !ok || v != 3 {
		t.Errorf("escaped label value: %v, %v", v, ok)
	}
	if v, ok := sum(s, "hopscope_collector_traces_active", nil); !ok || v != 5 {
		t.Errorf("gauge with timestamp = %v, %v", v, ok)
	}
	if _, ok := sum(s, "otelcol_receiver_refused_spans", nil); ok {
		t.Error("absent series found")
	}
	if _, ok := sum(s, "broken", nil); ok {
		t.Error("unterminated label set parsed")
	}
	if got := names(s, "hopscope_collector"); !slices.Equal(got, []string{"hopscope_collector_received_total", "hopscope_collector_rejected_total", "hopscope_collector_traces_active"}) {
		t.Errorf("names = %v", got)
	}
}

const telemetrygenLog = `2026-11-25T10:00:00.000Z	INFO	traces/traces.go:53	starting gRPC exporter
2026-11-25T10:00:00.001Z	INFO	grpclog/component.go:69	[core] original dial target is: "127.0.0.1:4317"	{"grpc_log": true}
2026-11-25T10:00:10.000Z	INFO	traces/worker.go:170	traces generated	{"worker": 0, "traces": 4113}
2026-11-25T10:00:10.000Z	INFO	traces/worker.go:170	traces generated	{"worker": 1, "traces": 4000}
2026-11-25T10:00:10.100Z	ERROR	traces/traces.go:67	failed to stop the exporter	{"error": "context deadline exceeded"}
2026-11-25T10:00:10.200Z	INFO	traces/traces.go:65	stopping the exporter
`

func TestParseTelemetrygen(t *testing.T) {
	r := parseTelemetrygen(telemetrygenLog)
	if r.Traces != 8113 || r.Workers != 2 || r.Errors != 1 {
		t.Errorf("got %+v", r)
	}
}

const benchOut = `goos: linux
goarch: amd64
pkg: github.com/hopscope/hopscope/correlate
cpu: AMD EPYC
BenchmarkCompute   	  212340	      5521 ns/op	    2456 B/op	      31 allocs/op
BenchmarkStoreAdd-2	  100000	     12000 ns/op	      3100 heap-bytes/trace	    5000 B/op	      40 allocs/op
PASS
`

func TestParseBench(t *testing.T) {
	ls := parseBench(benchOut)
	if len(ls) != 2 {
		t.Fatalf("got %d lines", len(ls))
	}
	if ls[0].Name != "BenchmarkCompute" || ls[0].N != 212340 || ls[0].Metrics["ns/op"] != 5521 || ls[0].Metrics["allocs/op"] != 31 {
		t.Errorf("compute: %+v", ls[0])
	}
	if ls[1].Name != "BenchmarkStoreAdd" || ls[1].Metrics["heap-bytes/trace"] != 3100 || ls[1].Metrics["B/op"] != 5000 {
		t.Errorf("store: %+v", ls[1])
	}
}

func TestPickList(t *testing.T) {
	got, err := pickList("protocols", " http, grpc,http ", allProtocols)
	if err != nil || !slices.Equal(got, []string{"grpc", "http"}) {
		t.Errorf("got %v, %v", got, err)
	}
	if _, err := pickList("protocols", "grpc,thrift", allProtocols); err == nil {
		t.Error("unknown value accepted")
	}
	if _, err := pickList("only", ",", allContenders); err == nil {
		t.Error("empty list accepted")
	}
}

func TestTelemetrygenArgs(t *testing.T) {
	o, err := parseFlags([]string{"--duration", "10s"})
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(telemetrygenArgs(o, "http", "127.0.0.1:4318"), " ")
	want := "traces --otlp-insecure --otlp-endpoint 127.0.0.1:4318 --workers 256 --rate 1000 --batch-size 8192 --child-spans 5 --duration 10s --otlp-http"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if o.duration != 10*time.Second || o.rounds != 1 || !slices.Equal(o.protocols, []string{"grpc", "http"}) {
		t.Errorf("defaults: %+v", o)
	}
}

func TestJaegerConfigLoopbackOnly(t *testing.T) {
	conf := fmt.Sprintf(jaegerConfig, 1, 2, 3, 4, 5, 6, 1000000)
	if strings.Contains(conf, "%!") {
		t.Fatalf("bad format verbs:\n%s", conf)
	}
	hosts := regexp.MustCompile(`(?m)^\s*(?:endpoint|host):\s*(\S+)`).FindAllStringSubmatch(conf, -1)
	if len(hosts) != 6 {
		t.Fatalf("want 6 listen addresses, got %d", len(hosts))
	}
	for _, h := range hosts {
		if !strings.HasPrefix(h[1], "127.0.0.1") {
			t.Errorf("listens on %s, not loopback", h[1])
		}
	}
	if !strings.Contains(conf, "max_traces: 1000000") {
		t.Error("max_traces not set")
	}
}
