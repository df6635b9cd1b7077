package main

import (
	"math"
	"testing"
)

func TestStageOf(t *testing.T) {
	const hs = "github.com/hopscope/hopscope/"
	for _, tc := range []struct {
		stack []string // leaf first
		want  string
	}{
		{[]string{"runtime.mallocgc", hs + "collector.spanRecord", hs + "collector.(*Collector).consumeOTLP.func1", hs + "internal/otlpwire.Walk"}, stageMapping},
		{[]string{"runtime.mapaccess2", hs + "correlate.(*Store).Add", hs + "collector.(*Collector).consumeOTLP.func1", hs + "internal/otlpwire.Walk"}, stageStore},
		{[]string{hs + "internal/otlpwire.walkSpan", hs + "internal/otlpwire.Walk", hs + "collector.(*Collector).consumeOTLP"}, stageWalk},
		{[]string{"runtime.mapassign", hs + "collector.(*Collector).consumeOTLP"}, stageGroup},
		{[]string{hs + "correlate.Compute", hs + "correlate.(*Store).Emit", hs + "collector.(*emitter).flush"}, stageBreakdown},
		// correlate's internals count for the Store method called.
		{[]string{"runtime.mallocgc", hs + "correlate.(*Store).compute", hs + "correlate.(*Store).get", hs + "correlate.(*Store).Emit", hs + "collector.(*emitter).flush"}, stageBreakdown},
		{[]string{"runtime.growslice", hs + "correlate.(*Store).merge", hs + "correlate.(*Store).Add", hs + "collector.(*Collector).consumeOTLP.func1"}, stageStore},
		// otlpwire's accessors count for the mapping that calls them.
		{[]string{"runtime.slicebytetostring", hs + "internal/otlpwire.Value.String", hs + "collector.gather", hs + "collector.spanRecord", hs + "collector.(*Collector).consumeOTLP.func1", hs + "internal/otlpwire.walkScopeSpans", hs + "internal/otlpwire.Walk"}, stageMapping},
		{[]string{hs + "internal/otlpwire.eachField", hs + "internal/otlpwire.(*Span).EachAttr", hs + "collector.gather"}, stageMapping},
		{[]string{hs + "internal/otlpwire.eachField", hs + "internal/otlpwire.(*Resource).Attr", hs + "collector.resValue", hs + "collector.spanRecord"}, stageMapping},
		{[]string{hs + "internal/otlpwire.(*Resource).Attr", hs + "collector.resIs", hs + "collector.spanRecord"}, stageMapping},
		// protowire counts for its caller.
		{[]string{"google.golang.org/protobuf/encoding/protowire.ConsumeVarint", hs + "internal/otlpwire.eachField", hs + "internal/otlpwire.Walk"}, stageWalk},
		{[]string{"github.com/prometheus/client_golang/prometheus.(*histogram).ObserveWithExemplar", hs + "collector.(*emitter).observe"}, stageMetrics},
		{[]string{"runtime.mapassign", hs + "collector.(*emitter).touchKey", hs + "collector.(*Collector).consumeOTLP"}, stageTouch},
		// The generic store of the one trace table.
		{[]string{hs + "correlate.Compute", hs + "correlate.(*Store[go.shape.struct { collector.held []otlpwire.Held }]).compute", hs + "correlate.(*Store[go.shape.struct { collector.held []otlpwire.Held }]).Due", hs + "collector.(*emitter).due"}, stageBreakdown},
		{[]string{"runtime.growslice", hs + "correlate.(*Store[go.shape.struct { collector.held []otlpwire.Held }]).merge", hs + "correlate.(*Store[go.shape.struct { collector.held []otlpwire.Held }]).AddTrace", hs + "collector.(*Collector).consumeOTLP"}, stageStore},
		{[]string{"runtime.growslice", hs + "collector.(*emitter).hold", hs + "collector.(*emitter).add", hs + "collector.(*Collector).consumeOTLP"}, stageTouch},
		{[]string{hs + "collector.(*emitter).due", hs + "collector.(*emitter).run"}, stageDue},
		{[]string{"compress/flate.(*decompressor).huffmanBlock", hs + "collector/otlp.readBody"}, stageDecompress},
		{[]string{"runtime.memmove", "io.ReadAll", hs + "collector/otlp.(*Receiver).serveHTTP", "net/http.HandlerFunc.ServeHTTP"}, stageReceive},
		{[]string{"google.golang.org/grpc/internal/transport.(*http2Server).operateHeaders", "google.golang.org/grpc.(*Server).serveStreams"}, stageGRPC},
		{[]string{"syscall.Syscall", "internal/poll.(*FD).Read", "net.(*conn).Read", "net/http.(*connReader).Read"}, stageNet},
		{[]string{"runtime.findRunnable", "runtime.schedule", "runtime.park_m"}, stageSched},
		// Anything under a GC worker or an assist is GC, whoever allocated.
		{[]string{"runtime.scanobject", "runtime.gcDrain", "runtime.gcBgMarkWorker.func2"}, stageGC},
		{[]string{"runtime.scanobject", "runtime.gcAssistAlloc1", "runtime.gcAssistAlloc", "runtime.mallocgc", hs + "collector.spanRecord"}, stageGC},
		{[]string{"runtime.futex", "runtime.sysmon"}, stageOther},
	} {
		if got := stageOf(tc.stack); got != tc.want {
			t.Errorf("%v: got %q, want %q", tc.stack, got, tc.want)
		}
	}
}

// As `go tool pprof -traces` prints a profile (abridged).
const tracesOut = `File: hopscope-profiled
Type: cpu
Time: 2026-12-06 17:00:00 UTC
Duration: 27s, Total samples = 1.52s ( 5.63%)
-----------+-------------------------------------------------------
     1.20s   github.com/hopscope/hopscope/internal/otlpwire.Walk
             github.com/hopscope/hopscope/collector.(*Collector).consumeOTLP
-----------+-------------------------------------------------------
      300ms   runtime.mallocgc
             github.com/hopscope/hopscope/collector.spanRecord
-----------+-------------------------------------------------------
      90ms   runtime.makeslicecopy
             github.com/hopscope/hopscope/correlate.fitted[go.shape.struct { github.com/hopscope/hopscope/correlate.Keys; SpanID string }] (inline)
             github.com/hopscope/hopscope/correlate.(*Store).get
             github.com/hopscope/hopscope/correlate.(*Store).Emit (inline)
             github.com/hopscope/hopscope/collector.(*emitter).flush
-----------+-------------------------------------------------------
     bytes:  16B
      20ms   runtime.scanobject
             runtime.gcBgMarkWorker
-----------+-------------------------------------------------------
`

func TestGroupTraces(t *testing.T) {
	got := groupTraces(tracesOut)
	// An inlined frame (Emit) counts: the fitted copy is the breakdown's.
	want := []stageShare{{stageWalk, 1.2}, {stageMapping, 0.3}, {stageBreakdown, 0.09}, {stageGC, 0.02}}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].Stage != want[i].Stage || math.Abs(got[i].Value-want[i].Value) > 1e-9 {
			t.Errorf("%d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestParseValue(t *testing.T) {
	for in, want := range map[string]float64{"10ms": 0.01, "1.20s": 1.2, "250us": 250e-6, "512kB": 512e3, "1.50MB": 1.5e6, "16B": 16, "32768": 32768} {
		if got, ok := parseValue(in); !ok || math.Abs(got-want) > 1e-9*math.Max(1, want) {
			t.Errorf("%s: got %v, %v; want %v", in, got, ok, want)
		}
	}
	for _, in := range []string{"File:", "Type:", "x", ""} {
		if _, ok := parseValue(in); ok {
			t.Errorf("%q parsed as a value", in)
		}
	}
}

func TestMergeStages(t *testing.T) {
	a := &profileStages{CPUSeconds: []stageShare{{stageWalk, 1}, {stageGC, 3}}, AllocObject: []stageShare{{stageMapping, 10}}}
	b := &profileStages{CPUSeconds: []stageShare{{stageWalk, 1}}, AllocBytes: []stageShare{{stageMapping, 100}}}
	rows, cpu, objs, bytes := mergeStages([]*profileStages{a, b})
	if cpu != 5 || objs != 10 || bytes != 100 {
		t.Errorf("totals %v %v %v", cpu, objs, bytes)
	}
	// Most CPU first; a stage with allocations and no CPU last.
	if len(rows) != 3 || rows[0].Stage != stageGC || rows[1].Stage != stageWalk || rows[1].CPU != 2 || rows[2].Stage != stageMapping || rows[2].AllocBytes != 100 {
		t.Errorf("rows %+v", rows)
	}
}
