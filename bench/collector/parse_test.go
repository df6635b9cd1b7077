package main

import (
	"fmt"
	"math"
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
	const plain = "traces --otlp-insecure --otlp-endpoint 127.0.0.1:4318 --workers 256 --rate 1000 --batch-size 8192 --child-spans 5 --duration 10s --otlp-http"
	const mapped = plain + ` --otlp-attributes hopscope.component="sidecar" --telemetry-attributes db.system="postgresql"`
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"default is the mapped load", nil, mapped},
		{"--mapped-spans still accepted", []string{"--mapped-spans"}, mapped},
		{"--mapped-spans=true", []string{"--mapped-spans=true"}, mapped},
		{"--plain", []string{"--plain"}, plain},
		{"--mapped-spans=false", []string{"--mapped-spans=false"}, plain},
		{"--plain with --mapped-spans=false", []string{"--plain", "--mapped-spans=false"}, plain},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parseFlags(append([]string{"--duration", "10s"}, tc.args...))
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(telemetrygenArgs(o, "http", "127.0.0.1:4318"), " "); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
			if o.duration != 10*time.Second || o.rounds != 1 || !slices.Equal(o.protocols, []string{"grpc", "http"}) {
				t.Errorf("defaults: %+v", o)
			}
		})
	}
}

func TestParseFlagsRefuses(t *testing.T) {
	for _, args := range [][]string{
		{"--plain", "--mapped-spans"},
		{"--mapped-spans=true", "--plain"},
		{"--profile", t.TempDir(), "--hopscope-bin", "/bin/true"},
		{"--profile", t.TempDir(), "--only", "jaeger"},
		{"--rounds", "0"},
		{"--hopscope-args", "--window 1m"}, // a value apart from its flag
	} {
		if _, err := parseFlags(args); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
	if o, err := parseFlags([]string{"--profile", "/tmp/p", "--only", "hopscope"}); err != nil || o.profileDir != "/tmp/p" {
		t.Errorf("--profile: %+v, %v", o, err)
	}
	if o, err := parseFlags([]string{"--hopscope-args", " --heap-huge-pages=false  --window=1m"}); err != nil ||
		fmt.Sprint(o.hopscopeArgs) != "[--heap-huge-pages=false --window=1m]" {
		t.Errorf("--hopscope-args: %q, %v", o.hopscopeArgs, err)
	}
}

// Go runtime series as hopscope's registry (client_golang's Go collector)
// and Jaeger's (the collector's process telemetry) expose them.
const memText = `go_memstats_alloc_bytes_total 1.5e+09
go_memstats_mallocs_total 3e+07
otelcol_process_runtime_total_alloc_bytes_total{otel_scope_name="go.opentelemetry.io/collector/service"} 2.5e+09
`

func TestCounters(t *testing.T) {
	s := parseProm(promText + memText)
	h, err := hopscopeCounters(s)
	if err != nil {
		t.Fatal(err)
	}
	if want := (counters{Accepted: 42, Refused: 3, Stored: -1, ExportFailed: -1, TracesActive: 5, AllocBytes: 1.5e9, Mallocs: 3e7}); h != want {
		t.Errorf("hopscope: got %+v, want %+v", h, want)
	}
	j, err := jaegerCounters(s, true)
	if err != nil {
		t.Fatal(err)
	}
	if want := (counters{Accepted: 1234587, Stored: 1234587, TracesActive: -1, AllocBytes: 2.5e9, Mallocs: -1}); j != want {
		t.Errorf("jaeger: got %+v, want %+v", j, want)
	}
	// Without the runtime series the allocations are unknown, not 0.
	if h, err := hopscopeCounters(parseProm(promText)); err != nil || h.AllocBytes != -1 || h.Mallocs != -1 {
		t.Errorf("hopscope without go_memstats: %+v, %v", h, err)
	}
	if _, err := hopscopeCounters(parseProm(memText)); err == nil {
		t.Error("hopscope counters without hopscope_collector_received_total accepted")
	}
	if _, err := jaegerCounters(parseProm(memText), true); err == nil {
		t.Error("jaeger counters after the load without otelcol_receiver_accepted_spans accepted")
	}
	if j, err := jaegerCounters(parseProm(memText), false); err != nil || j.Accepted != 0 {
		t.Errorf("jaeger before the load, no spans yet: %+v, %v", j, err)
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

func TestSummarizeRatios(t *testing.T) {
	o, err := parseFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	run := func(c, p string, round int, perCPU, rss, alloc float64) *measurement {
		return &measurement{Contender: c, Protocol: p, Round: round, SpansPerCPUSec: perCPU, RSSPerSpan: rss, AllocBytesPerSpan: alloc, AllocsPerSpan: -1}
	}
	rep := &report{Runs: []*measurement{
		run("hopscope", "grpc", 1, 90e3, 800, 1500), run("hopscope", "grpc", 2, 100e3, 820, 1600), run("hopscope", "grpc", 3, 200e3, 900, 1700),
		run("jaeger", "grpc", 1, 160e3, 1000, 3000), run("jaeger", "grpc", 2, 150e3, 1100, 3100), run("jaeger", "grpc", 3, 10e3, 1200, 3200),
		run("hopscope", "http", 1, 50e3, 500, 1000), // no Jaeger run over HTTP: no ratio
	}}
	summarize(rep, o)
	if len(rep.Summary) != 3 || len(rep.Ratios) != 1 {
		t.Fatalf("summary %d rows, ratios %d; want 3 and 1", len(rep.Summary), len(rep.Ratios))
	}
	r := rep.Ratios[0]
	// Medians: hopscope 100k, 820 B, 1600 B; Jaeger 150k, 1100 B, 3100 B.
	if r.Protocol != "grpc" || r.HopscopePerCPU != 100e3 || r.JaegerPerCPU != 150e3 ||
		math.Abs(r.SpansPerCPUSec-100.0/150) > 1e-9 || math.Abs(r.RSSPerSpan-820.0/1100) > 1e-9 ||
		r.HopscopeAllocBytes != 1600 || r.JaegerAllocBytes != 3100 {
		t.Errorf("ratio: %+v", r)
	}
	var b strings.Builder
	printReport(&b, rep, o)
	for _, want := range []string{"mapped load", "issue 14's target", "0.67×", "0.75×", "1600", "3100"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
}
