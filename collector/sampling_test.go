package collector

import (
	"context"
	"encoding/binary"
	"math"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/hopscope/hopscope/correlate"
	"github.com/hopscope/hopscope/internal/contract"
)

// sidecarSpans is an export request of one sidecar server span (with an
// app duration: hops sidecar and app) per trace id, each with tracestate
// ts, of service shop, route /orders/{id}.
func sidecarSpans(ids []correlate.TraceID, ts string, start time.Time) []byte {
	var spans []*tracepb.Span
	for i, id := range ids {
		sid := make([]byte, 8)
		binary.BigEndian.PutUint64(sid, uint64(i+1))
		spans = append(spans, &tracepb.Span{TraceId: id[:], SpanId: sid, Name: "GET /orders/{id}", Kind: tracepb.Span_SPAN_KIND_SERVER,
			TraceState: ts, StartTimeUnixNano: uint64(start.UnixNano()), EndTimeUnixNano: uint64(start.Add(12 * time.Millisecond).UnixNano()),
			Attributes: []*commonpb.KeyValue{strKV(contract.AttrComponent, contract.ComponentSidecar), strKV(contract.AttrHTTPRequestMethod, "GET"),
				strKV(contract.AttrHTTPRoute, "/orders/{id}"),
				{Key: contract.AttrAppDurationMS, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: 10}}}}})
	}
	req := &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
		Resource:   &resourcepb.Resource{Attributes: []*commonpb.KeyValue{strKV(contract.AttrServiceName, "shop")}},
		ScopeSpans: []*tracepb.ScopeSpans{{Spans: spans}},
	}}}
	b, err := proto.Marshal(req)
	if err != nil {
		panic(err)
	}
	return b
}

// traceIDs returns n distinct trace ids of a seed.
func traceIDs(seed uint64, n int) []correlate.TraceID {
	out := make([]correlate.TraceID, n)
	for i := range out {
		binary.BigEndian.PutUint64(out[i][:8], seed*0x9e3779b97f4a7c15+uint64(i)*0xbf58476d1ce4e5b9+1)
		binary.BigEndian.PutUint64(out[i][8:], uint64(i)+1)
	}
	return out
}

// hopCount is the _count of hopscope_hop_duration_seconds{hop} summed
// over its series.
func hopCount(t *testing.T, reg *prometheus.Registry, hop string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, mf := range mfs {
		if mf.GetName() != contract.MetricHopDuration {
			continue
		}
		for _, m := range mf.Metric {
			for _, l := range m.Label {
				if l.GetName() == contract.LabelHop && l.GetValue() == hop {
					n += float64(m.GetHistogram().GetSampleCount())
				}
			}
		}
	}
	return n
}

// TestSamplingWeights: the collector observes each breakdown in the hop
// histograms as many times as its spans' tracestate threshold says (1/p),
// once without a threshold, once with an unreadable one (counted), and at
// most 4096 times (counted).
func TestSamplingWeights(t *testing.T) {
	for _, tc := range []struct {
		name        string
		tracestate  string
		perTrace    float64 // observations of each hop per breakdown
		invalid     float64 // spans counted with an unreadable th
		capped      float64 // breakdowns capped
		stochastic  bool    // perTrace is a mean
		traces      int
		wantBackend bool
	}{
		{name: "p=0.25", tracestate: "ot=th:c", perTrace: 4, traces: 5},
		{name: "p=0.25 among other entries", tracestate: "vendor=x,ot=rv:abcdef01234567;th:c", perTrace: 4, traces: 5},
		{name: "p=0.5", tracestate: "ot=th:8", perTrace: 2, traces: 5},
		{name: "p=1", tracestate: "ot=th:0", perTrace: 1, traces: 5},
		{name: "no tracestate", tracestate: "", perTrace: 1, traces: 5},
		{name: "no threshold", tracestate: "vendor=x,ot=rv:abcdef01234567", perTrace: 1, traces: 5},
		{name: "invalid threshold", tracestate: "ot=th:C0", perTrace: 1, invalid: 5, traces: 5},
		{name: "too long threshold", tracestate: "ot=th:123456789abcdef", perTrace: 1, invalid: 5, traces: 5},
		{name: "p=1/8192 capped", tracestate: "ot=th:fff8", perTrace: maxSamplingWeight, capped: 5, traces: 5},
		// 1/p = 10/3: 3 or 4 times, 3.33 on average.
		{name: "p=0.3 stochastic rounding", tracestate: "ot=th:b333333333333", perTrace: 10.0 / 3, traces: 2000, stochastic: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := time.Date(2026, 12, 7, 4, 0, 0, 0, time.UTC)
			cfg := DefaultConfig()
			cfg.OTLPGRPCListen, cfg.OTLPHTTPListen, cfg.ForwardListen, cfg.RUMListen, cfg.HTTPListen = "", "", "", "", "127.0.0.1:0"
			reg := prometheus.NewRegistry()
			c, err := New(cfg, Options{Registerer: reg, Gatherer: reg, Now: func() time.Time { return clock }})
			if err != nil {
				t.Fatal(err)
			}
			ids := traceIDs(uint64(len(tc.name)), tc.traces)
			if err := c.consumeOTLP(context.Background(), sidecarSpans(ids, tc.tracestate, clock)); err != nil {
				t.Fatal(err)
			}
			clock = clock.Add(cfg.ExportDelay + cfg.Window)
			c.em.due(clock, true)
			for _, hop := range []string{correlate.HopSidecar, correlate.HopApp} {
				got, want := hopCount(t, reg, hop), tc.perTrace*float64(tc.traces)
				if tc.stochastic {
					// Each trace adds 3 or 4 (variance 2/9): 5 standard
					// deviations of the sum.
					if sd := math.Sqrt(float64(tc.traces) * 2 / 9); math.Abs(got-want) > 5*sd {
						t.Errorf("hop %s: _count %v, want about %v", hop, got, want)
					}
					continue
				}
				if got != want {
					t.Errorf("hop %s: _count %v, want %v (%v per breakdown)", hop, got, want, tc.perTrace)
				}
			}
			if got := testutil.ToFloat64(c.m.thInvalid); got != tc.invalid {
				t.Errorf("%s %v, want %v", contract.MetricSamplingThresholdInvalid, got, tc.invalid)
			}
			if got := testutil.ToFloat64(c.m.weightCapped); got != tc.capped {
				t.Errorf("%s %v, want %v", contract.MetricSamplingWeightCapped, got, tc.capped)
			}
		})
	}
}

// TestObservations: whole weights are observed exactly, fractional ones
// round to a neighbour with the mean kept, the same for the same trace,
// and the cap holds.
func TestObservations(t *testing.T) {
	id := traceIDs(7, 1)[0]
	for _, tc := range []struct {
		w      float64
		lo, hi int
		capped bool
	}{
		{0, 1, 1, false}, {-3, 1, 1, false}, {math.NaN(), 1, 1, false}, {1, 1, 1, false},
		{4, 4, 4, false}, {1000, 1000, 1000, false}, {2.5, 2, 3, false},
		{maxSamplingWeight, maxSamplingWeight, maxSamplingWeight, false},
		{maxSamplingWeight + 0.5, maxSamplingWeight, maxSamplingWeight, true}, {math.Inf(1), maxSamplingWeight, maxSamplingWeight, true},
	} {
		n, capped := observations(tc.w, id)
		if n < tc.lo || n > tc.hi || capped != tc.capped {
			t.Errorf("observations(%v) = %d, %v; want %d..%d, %v", tc.w, n, capped, tc.lo, tc.hi, tc.capped)
		}
		if again, _ := observations(tc.w, id); again != n {
			t.Errorf("observations(%v) drew %d, then %d for the same trace", tc.w, n, again)
		}
	}
	const traces = 100000
	var sum int
	for _, id := range traceIDs(11, traces) {
		n, _ := observations(1.25, id)
		sum += n
	}
	if mean := float64(sum) / traces; math.Abs(mean-1.25) > 0.01 {
		t.Errorf("mean observations of weight 1.25: %v", mean)
	}
}
