package collector

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// hostileRequest is an export of n traces, each a sidecar server span
// whose service.name and http.route are random and a client span whose
// db.system, db.operation and server.address are random: what anyone who
// reaches 4317/4318 can send (issue 19, item 1).
func hostileRequest(n int, rng *rand.Rand) []byte {
	now := uint64(time.Now().UnixNano())
	word := func() string { return fmt.Sprintf("x%016x", rng.Uint64()) }
	req := &coltracepb.ExportTraceServiceRequest{}
	for i := 0; i < n; i++ {
		tid, sid, cid := make([]byte, 16), make([]byte, 8), make([]byte, 8)
		binary.BigEndian.PutUint64(tid, rng.Uint64()|1)
		binary.BigEndian.PutUint64(tid[8:], uint64(i+1))
		binary.BigEndian.PutUint64(sid, uint64(i+1)<<8)
		binary.BigEndian.PutUint64(cid, uint64(i+1)<<8|1)
		req.ResourceSpans = append(req.ResourceSpans, &tracepb.ResourceSpans{
			Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{strKV("service.name", word()), strKV("k8s.namespace.name", word()), strKV("hopscope.component", "sidecar")}},
			ScopeSpans: []*tracepb.ScopeSpans{{Spans: []*tracepb.Span{
				{TraceId: tid, SpanId: sid, Name: "GET", Kind: tracepb.Span_SPAN_KIND_SERVER, StartTimeUnixNano: now, EndTimeUnixNano: now + 4e6,
					Attributes: []*commonpb.KeyValue{strKV("http.route", "/"+word()), strKV("http.request.method", "GET"),
						{Key: "hopscope.app_duration_ms", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: 3}}}}},
				{TraceId: tid, SpanId: cid, ParentSpanId: sid, Name: "q", Kind: tracepb.Span_SPAN_KIND_CLIENT, StartTimeUnixNano: now + 1e6, EndTimeUnixNano: now + 2e6,
					Attributes: []*commonpb.KeyValue{strKV("db.system", word()), strKV("db.operation", word()), strKV("server.address", word())}},
			}}},
		})
	}
	body, _ := proto.Marshal(req)
	return body
}

// TestLabelCardinalityBounded: 20,000 spans with random service.name,
// k8s.namespace.name,
// http.route, db.system, db.operation and server.address leave every label
// of the collector's histograms within its limit, the refused values
// counted in hopscope_collector_label_overflow_total (issue 19, item 1:
// before, /metrics grew by one histogram per random value, 197 MB).
func TestLabelCardinalityBounded(t *testing.T) {
	cfg := DefaultConfig()
	cfg.OTLPGRPCListen, cfg.OTLPHTTPListen, cfg.ForwardListen, cfg.RUMListen, cfg.HTTPListen = "", "", "", "", "127.0.0.1:0"
	reg := prometheus.NewRegistry()
	c, err := New(cfg, Options{Registerer: reg, Gatherer: reg})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 19))
	const traces = 10_000 // 20,000 spans
	for i := 0; i < traces/1000; i++ {
		if err := c.consumeOTLP(context.Background(), hostileRequest(1000, rng)); err != nil {
			t.Fatal(err)
		}
	}
	c.em.flushAll(context.Background(), time.Now().Add(time.Hour))

	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var text bytes.Buffer
	enc := expfmt.NewEncoder(&text, expfmt.NewFormat(expfmt.TypeTextPlain))
	distinct := map[string]map[string]map[string]bool{} // metric → label → values
	series := map[string]int{}
	var overflow map[string]float64
	for _, mf := range mfs {
		enc.Encode(mf)
		name := mf.GetName()
		distinct[name] = map[string]map[string]bool{}
		series[name] = len(mf.GetMetric())
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if distinct[name][lp.GetName()] == nil {
					distinct[name][lp.GetName()] = map[string]bool{}
				}
				distinct[name][lp.GetName()][lp.GetValue()] = true
			}
			if name == "hopscope_collector_label_overflow_total" {
				if overflow == nil {
					overflow = map[string]float64{}
				}
				overflow[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
			}
		}
	}
	t.Logf("%d spans with random labels: /metrics %d bytes, %d hop series, %d backend series",
		2*traces, text.Len(), series["hopscope_hop_duration_seconds"], series["hopscope_backend_call_duration_seconds"])
	for _, tc := range []struct {
		metric, label string
		max           int
	}{
		{"hopscope_hop_duration_seconds", "k8s_namespace_name", maxNamespaces + 1},
		{"hopscope_hop_duration_seconds", "service_name", maxServices + 1},
		{"hopscope_hop_duration_seconds", "hop", len(hopBits) + maxBackendKinds + 1},
		{"hopscope_backend_call_duration_seconds", "k8s_namespace_name", maxNamespaces + 1},
		{"hopscope_backend_call_duration_seconds", "service_name", maxServices + 1},
		{"hopscope_backend_call_duration_seconds", "backend", maxBackendKinds + 1},
		{"hopscope_backend_call_duration_seconds", "target", maxTargetOps + 1},
		{"hopscope_backend_call_duration_seconds", "operation", maxTargetOps + 1},
	} {
		if n := len(distinct[tc.metric][tc.label]); n == 0 || n > tc.max {
			t.Errorf("%s: %d distinct %s values, want 1..%d", tc.metric, n, tc.label, tc.max)
		}
		if !distinct[tc.metric][tc.label]["other"] {
			t.Errorf("%s: no %s=\"other\" series though the input had more values than the limit", tc.metric, tc.label)
		}
	}
	if n, bound := series["hopscope_hop_duration_seconds"], maxHopSeries+len(hopBits)+maxBackendKinds; n > bound {
		t.Errorf("%d hop series, bound %d", n, bound)
	}
	if n, bound := series["hopscope_backend_call_duration_seconds"], (maxBackendSeries+maxBackendKinds+1)*6; n > bound {
		t.Errorf("%d backend series, bound %d", n, bound)
	}
	for _, label := range []string{"service", "backend", "route", "target_operation"} {
		if overflow[label] == 0 {
			t.Errorf("hopscope_collector_label_overflow_total{label=%q} not counted: %v", label, overflow)
		}
	}
}

// TestLabelValuesFromHostileInput: a span whose service.name is not valid
// UTF-8 (the Prometheus client panics on such a label value, which took
// the collector down) and whose route is 10 KB is observed with a valid,
// cut label.
func TestLabelValuesFromHostileInput(t *testing.T) {
	cfg := DefaultConfig()
	cfg.OTLPGRPCListen, cfg.OTLPHTTPListen, cfg.ForwardListen, cfg.RUMListen, cfg.HTTPListen = "", "", "", "", "127.0.0.1:0"
	reg := prometheus.NewRegistry()
	c, err := New(cfg, Options{Registerer: reg, Gatherer: reg})
	if err != nil {
		t.Fatal(err)
	}
	const placeholder = "SERVICE-PLACEHOLDER"
	now := uint64(time.Now().UnixNano())
	req := &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
		Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{strKV("service.name", placeholder), strKV("hopscope.component", "sidecar")}},
		ScopeSpans: []*tracepb.ScopeSpans{{Spans: []*tracepb.Span{{
			TraceId: []byte("0123456789abcdef"), SpanId: []byte("01234567"), Name: "GET", Kind: tracepb.Span_SPAN_KIND_SERVER,
			StartTimeUnixNano: now, EndTimeUnixNano: now + 4e6,
			Attributes: []*commonpb.KeyValue{strKV("http.route", "/"+strings.Repeat("ü", 5000)), strKV("http.request.method", "GET")}}}}},
	}}}
	body, _ := proto.Marshal(req)
	// Same length, so the protobuf framing stays right; proto.Marshal
	// would refuse the invalid string itself.
	body = bytes.Replace(body, []byte(placeholder), []byte("SERVICE-\xff\xfe\xfdPHOLDER!"), 1)
	if err := c.consumeOTLP(context.Background(), body); err != nil {
		t.Fatal(err)
	}
	c.em.flushAll(context.Background(), time.Now().Add(time.Hour))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, mf := range mfs {
		if mf.GetName() != "hopscope_hop_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				found = true
				if v := lp.GetValue(); !utf8.ValidString(v) || len(v) > maxLabelBytes {
					t.Errorf("label %s = %q (%d bytes)", lp.GetName(), v, len(v))
				}
			}
		}
	}
	if !found {
		t.Fatal("the span's hops were not observed")
	}
}

func TestLabelValue(t *testing.T) {
	long := strings.Repeat("a", maxLabelBytes-1) + "ü" // the rune straddles the cut
	for _, tc := range []struct{ in, want string }{
		{"shop", "shop"},
		{"", ""},
		{"a\xffb", "a\uFFFDb"},
		{strings.Repeat("x", 500), strings.Repeat("x", maxLabelBytes)},
		{long, strings.Repeat("a", maxLabelBytes-1)},
	} {
		if got := labelValue(tc.in); got != tc.want {
			t.Errorf("labelValue(%.20q…) = %.20q… (%d bytes), want %d bytes", tc.in, got, len(got), len(tc.want))
		}
	}
}

// FuzzSpanLabels: whatever OTLP bytes arrive, the spans the collector maps
// to records are observed with label values that are valid UTF-8 and at
// most maxLabelBytes (an invalid one panicked the Prometheus client), and
// no histogram passes its bound of series.
func FuzzSpanLabels(f *testing.F) {
	f.Add(hostileRequest(2, rand.New(rand.NewPCG(1, 2))))
	body, _ := proto.Marshal(exportRequest(2, 2, 1, true))
	f.Add(body)
	cfg := DefaultConfig()
	cfg.OTLPGRPCListen, cfg.OTLPHTTPListen, cfg.ForwardListen, cfg.RUMListen, cfg.HTTPListen = "", "", "", "", "127.0.0.1:0"
	reg := prometheus.NewRegistry()
	c, err := New(cfg, Options{Registerer: reg, Gatherer: reg})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if c.consumeOTLP(context.Background(), body) != nil {
			return
		}
		c.em.flushAll(context.Background(), time.Now().Add(time.Hour))
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			switch mf.GetName() {
			case "hopscope_hop_duration_seconds", "hopscope_backend_call_duration_seconds":
			default:
				continue
			}
			if n := len(mf.GetMetric()); n > maxHopSeries+len(hopBits)+maxBackendKinds {
				t.Fatalf("%s: %d series", mf.GetName(), n)
			}
			for _, m := range mf.GetMetric() {
				for _, lp := range m.GetLabel() {
					if v := lp.GetValue(); !utf8.ValidString(v) || len(v) > maxLabelBytes {
						t.Fatalf("%s: label %s = %q", mf.GetName(), lp.GetName(), v)
					}
				}
			}
		}
	})
}
