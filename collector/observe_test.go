package collector

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/hopscope/hopscope/correlate"
)

// TestExemplarGate: an observation takes an exemplar when its bucket of
// its series has had none, or none for exemplarEvery; the clock is the
// collector's, and one that goes back does not silence a bucket.
func TestExemplarGate(t *testing.T) {
	a := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "a", Buckets: hopBuckets})
	b := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "b", Buckets: hopBuckets})
	t0 := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	var g exemplarGate
	for _, step := range []struct {
		name   string
		series prometheus.Observer
		v      float64
		at     time.Duration
		want   bool
	}{
		{"first of a bucket", a, 0.003, 0, true},
		{"same bucket, same instant", a, 0.004, 0, false},
		{"same bucket within the interval", a, 0.0049, exemplarEvery - time.Nanosecond, false},
		{"another bucket", a, 0.2, exemplarEvery / 2, true},
		{"another series, same bucket", b, 0.003, exemplarEvery / 2, true},
		{"same bucket after the interval", a, 0.003, exemplarEvery, true},
		{"clock gone back", a, 0.003, -time.Second, true},
	} {
		g.clock = func() time.Time { return t0.Add(step.at) }
		if got := g.due(step.series, step.v, g.now()); got != step.want {
			t.Errorf("%s: due = %v, want %v", step.name, got, step.want)
		}
	}
}

// TestObserveExemplars: of two traces observed into the same buckets
// within exemplarEvery, both are counted and the first's trace id is the
// exemplar; a trace a second later replaces it. Observing a due trace
// into series that exist makes (almost) nothing: newExemplar built a
// label map and a timestamp per observation before (33 allocations for
// three hops and a call).
func TestObserveExemplars(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := newMetrics(reg, func() correlate.StoreStats { return correlate.StoreStats{} })
	if err != nil {
		t.Fatal(err)
	}
	e := newEmitter(m, nil)
	clock := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	e.exemplars.clock = func() time.Time { return clock }
	bd := func(id byte) correlate.Breakdown {
		return correlate.Breakdown{TraceID: correlate.TraceID{15: id}, Service: "shop", Namespace: "prod", Route: "/orders/{id}",
			Hops:     []correlate.Hop{{Hop: "sidecar", MS: 0.3}, {Hop: "app", MS: 4.1}, {Hop: "postgres", MS: 1.2}},
			Backends: []correlate.Backend{{Kind: "postgres", Target: "db:5432", Operation: "SELECT", MS: 1.2, Attribution: correlate.AttributionExact}}}
	}
	exemplarOf := func() (count uint64, traceID string) {
		t.Helper()
		h := &dto.Metric{}
		if err := m.backend.WithLabelValues("prod", "shop", "postgres", "db:5432", "SELECT", "exact", "ok").(prometheus.Metric).Write(h); err != nil {
			t.Fatal(err)
		}
		for _, bk := range h.GetHistogram().GetBucket() {
			if x := bk.GetExemplar(); x != nil {
				for _, l := range x.GetLabel() {
					traceID = l.GetValue()
				}
			}
		}
		return h.GetHistogram().GetSampleCount(), traceID
	}
	e.observe(&traceState{}, bd(1))
	e.observe(&traceState{}, bd(2))
	if n, id := exemplarOf(); n != 2 || id != correlate.TraceID(correlate.TraceID{15: 1}).String() {
		t.Errorf("two traces in one instant: %d observations, exemplar %q, want 2 and the first trace's", n, id)
	}
	clock = clock.Add(exemplarEvery)
	e.observe(&traceState{}, bd(3))
	if n, id := exemplarOf(); n != 3 || id != correlate.TraceID(correlate.TraceID{15: 3}).String() {
		t.Errorf("a trace an interval later: %d observations, exemplar %q, want 3 and its trace id", n, id)
	}
	b, st := bd(0), &traceState{}
	allocs := testing.AllocsPerRun(100, func() {
		b.TraceID[14]++
		*st = traceState{}
		e.observe(st, b)
	})
	if allocs > 2 {
		t.Errorf("observing a due trace: %.0f allocations, want at most 2", allocs)
	}
}
