package correlate

import (
	"fmt"
	"runtime"
	"testing"
	"time"
)

func BenchmarkCompute(b *testing.B) {
	g := fullPath()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		Compute(g)
	}
}

// BenchmarkStoreAdd files a full trace (ALB, ingress, sidecar span, three
// backend calls) per iteration and reports the heap held per trace.
func BenchmarkStoreAdd(b *testing.B) { benchStoreAdd(b, false) }

// BenchmarkStoreAddEmit also emits each trace, as the collector does once
// its records have come: heap-bytes/trace is then what a trace costs for
// the rest of the window.
func BenchmarkStoreAddEmit(b *testing.B) { benchStoreAdd(b, true) }

func benchStoreAdd(b *testing.B, emit bool) {
	s, _ := NewStore(StoreConfig{Window: time.Hour, MaxTraces: 1 << 30, MaxPending: 1000, MaxSpansPerTrace: 100}, Hooks[struct{}]{})
	base := fullPath()
	ids := make([]string, b.N)
	for i := range ids {
		ids[i] = fmt.Sprintf("%032x", i+1)
	}
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		g := base
		id := ids[i]
		lb, in, sc := *g.LB, *g.Ingress, g.Sidecars[0]
		lb.Keys, in.Keys, sc.Keys = Keys{TraceID: id}, Keys{TraceID: id}, Keys{TraceID: id}
		s.Add(t0, &lb)
		s.Add(t0, &in)
		s.Add(t0, &sc)
		for _, c := range g.Backends {
			c.Keys = Keys{TraceID: id}
			s.Add(t0, &c)
		}
		if emit {
			s.Due(t0, true)
		}
	}
	b.StopTimer()
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/float64(b.N), "heap-bytes/trace")
	runtime.KeepAlive(s)
}

var spanIDs = []string{"00f067aa0ba902b1", "00f067aa0ba902b2", "00f067aa0ba902b3", "00f067aa0ba902b4", "00f067aa0ba902b5"}

// BenchmarkStoreAddTrace files a trace the way the collector's OTLP
// receiver does (AddTrace, one call for what one request brought): five
// sidecar spans and a PostgreSQL call, the macro benchmark's load, and
// emits it.
func BenchmarkStoreAddTrace(b *testing.B) {
	s, _ := NewStore(StoreConfig{Window: time.Hour, MaxTraces: 1 << 30, MaxPending: 1000, MaxSpansPerTrace: 100}, Hooks[struct{}]{})
	base := fullPath()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		var id TraceID
		id[0], id[8] = 1, byte(i)
		id[9], id[10], id[11] = byte(i>>8), byte(i>>16), byte(i>>24)
		recs := make([]Record, 0, 6)
		for j := 0; j < 5; j++ {
			sc := base.Sidecars[0]
			sc.Keys, sc.SpanID = Keys{}, hexSpanID(spanIDs[j])
			recs = append(recs, &sc)
		}
		c := base.Backends[0]
		c.Keys = Keys{}
		recs = append(recs, &c)
		s.AddTrace(t0, id, recs, nil)
		s.Due(t0, true)
	}
}
