package collector

import (
	"bytes"
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/hopscope/hopscope/correlate"
)

// exportRequest builds an export of traces×(1+children) spans shaped like
// telemetrygen's: a server span with children, a few attributes each.
func exportRequest(traces, children int, seed uint64, mapped bool) *coltracepb.ExportTraceServiceRequest {
	var spans []*tracepb.Span
	now := uint64(time.Now().UnixNano())
	for i := 0; i < traces; i++ {
		tid := make([]byte, 16)
		binary.BigEndian.PutUint64(tid, seed)
		binary.BigEndian.PutUint64(tid[8:], uint64(i+1))
		root := make([]byte, 8)
		binary.BigEndian.PutUint64(root, uint64(i+1)<<8)
		spans = append(spans, &tracepb.Span{TraceId: tid, SpanId: root, Name: "lets-go", Kind: tracepb.Span_SPAN_KIND_SERVER,
			StartTimeUnixNano: now, EndTimeUnixNano: now + 1e6,
			Attributes: []*commonpb.KeyValue{strKV("net.sock.peer.addr", "1.2.3.4"), strKV("peer.service", "telemetrygen-server")}})
		if mapped {
			spans[len(spans)-1].Attributes = append(spans[len(spans)-1].Attributes, strKV("hopscope.component", "sidecar"), strKV("http.route", "/x"))
		}
		for c := 0; c < children; c++ {
			sid := make([]byte, 8)
			binary.BigEndian.PutUint64(sid, uint64(i+1)<<8|uint64(c+1))
			spans = append(spans, &tracepb.Span{TraceId: tid, SpanId: sid, ParentSpanId: root, Name: "okey-dokey-0", Kind: tracepb.Span_SPAN_KIND_CLIENT,
				StartTimeUnixNano: now, EndTimeUnixNano: now + 5e5,
				Attributes: []*commonpb.KeyValue{strKV("net.sock.peer.addr", "1.2.3.4"), strKV("peer.service", "telemetrygen-client")}})
			if mapped {
				spans[len(spans)-1].Attributes = append(spans[len(spans)-1].Attributes, strKV("db.system.name", "redis"), strKV("db.operation.name", "GET"))
			}
		}
	}
	return &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
		Resource:   &resourcepb.Resource{Attributes: []*commonpb.KeyValue{strKV("service.name", "telemetrygen")}},
		ScopeSpans: []*tracepb.ScopeSpans{{Scope: &commonpb.InstrumentationScope{Name: "telemetrygen"}, Spans: spans}},
	}}}
}

// BenchmarkIngestOTLP measures the collector's work per received span:
// walking the request's bytes, mapping, filing, with export off (the
// receivers hand over the bytes as they came). Reports spans/s.
func BenchmarkIngestOTLP(b *testing.B) {
	for _, mapped := range []bool{false, true} {
		name := "unmapped"
		if mapped {
			name = "mapped" // every span is a sidecar span or a backend call
		}
		b.Run(name, func(b *testing.B) { benchIngest(b, mapped, false) })
	}
	// Every iteration's traces new (the bodies above repeat every eight
	// iterations, whose spans the store then drops as duplicates): what
	// filing, not only mapping, costs.
	b.Run("mapped-fresh", func(b *testing.B) { benchIngest(b, true, true) })
}

// freshMark is the first six bytes of each trace id when fresh: the next
// two are the iteration's, patched into the body in place.
const freshMark = 0xa5a5_a5a5_a5a5_0000

func benchIngest(b *testing.B, mapped, fresh bool) {
	cfg := DefaultConfig()
	cfg.OTLPGRPCListen, cfg.OTLPHTTPListen, cfg.ForwardListen, cfg.RUMListen, cfg.HTTPListen = "", "", "", "", "127.0.0.1:0"
	cfg.MaxTraces = 1 << 20
	reg := prometheus.NewRegistry()
	c, err := New(cfg, Options{Registerer: reg, Gatherer: reg})
	if err != nil {
		b.Fatal(err)
	}
	const traces, children = 1365, 5 // ≈ 8192 spans, telemetrygen's batch
	var bodies [][]byte
	for i := 0; i < 8; i++ {
		seed := uint64(i + 1)
		if fresh {
			seed = freshMark
		}
		body, _ := proto.Marshal(exportRequest(traces, children, seed, mapped))
		bodies = append(bodies, body)
		if fresh {
			break
		}
	}
	var marks []int // offsets of the iteration's two bytes in bodies[0]
	if fresh {
		mark := binary.BigEndian.AppendUint64(nil, freshMark)[:6]
		for off := 0; ; {
			j := bytes.Index(bodies[0][off:], mark)
			if j < 0 {
				break
			}
			marks = append(marks, off+j+6)
			off += j + 6
		}
		if len(marks) != traces*(children+1) {
			b.Fatalf("found %d trace ids in the body, want %d", len(marks), traces*(children+1))
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if fresh {
			for _, m := range marks {
				binary.BigEndian.PutUint16(bodies[0][m:], uint16(i+1))
			}
		}
		if err := c.consumeOTLP(context.Background(), bodies[i%len(bodies)]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*traces*(children+1))/b.Elapsed().Seconds(), "spans/s")
}

// BenchmarkObserve measures what the emitter does per due trace for the
// histograms: a breakdown of the macro benchmark's shape (sidecar, app,
// one PostgreSQL call), each iteration a new trace into the same series.
func BenchmarkObserve(b *testing.B) {
	reg := prometheus.NewRegistry()
	m, err := newMetrics(reg, func() correlate.StoreStats { return correlate.StoreStats{} })
	if err != nil {
		b.Fatal(err)
	}
	e := newEmitter(m, nil)
	bd := correlate.Breakdown{Service: "shop", Namespace: "prod", Route: "/orders/{id}",
		Hops:     []correlate.Hop{{Hop: "sidecar", MS: 0.3}, {Hop: "app", MS: 4.1}, {Hop: "postgres", MS: 1.2}},
		Backends: []correlate.Backend{{Kind: "postgres", Target: "db:5432", Operation: "SELECT", MS: 1.2, Attribution: correlate.AttributionExact}}}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		bd.TraceID = correlate.TraceID{0: 1, 8: byte(i), 9: byte(i >> 8), 10: byte(i >> 16)}
		e.observe(&traceState{}, bd)
	}
}
