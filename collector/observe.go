package collector

import (
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hopscope/hopscope/correlate"
	"github.com/hopscope/hopscope/internal/contract"
)

// exemplarEvery is how often a histogram bucket of one series takes a
// new exemplar: Prometheus keeps one per bucket and reads it at each
// scrape, and client_golang builds a label map and a timestamp for each
// (the most allocating step of a due trace), so the observations between
// are plain ones.
const exemplarEvery = time.Second

// maxExemplarGates bounds the buckets whose last exemplar is remembered:
// the series are bounded by the label limits (labels.go); past this the
// memory is emptied, and the next observation of each bucket takes an
// exemplar again.
const maxExemplarGates = 1 << 16

// exemplarGate says which observations carry their trace's exemplar: the
// first of each bucket of each series, then at most one per exemplarEvery.
type exemplarGate struct {
	// clock is the collector's (Options.Now); time.Now when nil.
	clock func() time.Time
	mu    sync.Mutex
	last  map[exemplarKey]int64 // unix nanoseconds of its last exemplar
}

func (g *exemplarGate) now() int64 {
	if g.clock == nil {
		return time.Now().UnixNano()
	}
	return g.clock().UnixNano()
}

type exemplarKey struct {
	series prometheus.Observer
	bucket int
}

// due reports whether an observation of v in series at now takes an
// exemplar, and if so records that it did.
func (g *exemplarGate) due(series prometheus.Observer, v float64, now int64) bool {
	k := exemplarKey{series: series, bucket: sort.SearchFloat64s(hopBuckets, v)}
	g.mu.Lock()
	defer g.mu.Unlock()
	if last, ok := g.last[k]; ok && now-last < int64(exemplarEvery) && now >= last {
		return false
	}
	if g.last == nil || len(g.last) >= maxExemplarGates {
		g.last = make(map[exemplarKey]int64)
	}
	g.last[k] = now
	return true
}

// exemplar is a trace's exemplar labels, made when first needed.
type exemplar struct {
	id     correlate.TraceID
	labels prometheus.Labels
}

func (x *exemplar) get() prometheus.Labels {
	if x.labels == nil {
		x.labels = prometheus.Labels{contract.ExemplarTraceID: x.id.String()}
	}
	return x.labels
}

// observe records the hops not observed before for this trace, each as
// many times as the trace's adjusted count says (sampling.go), the first
// with the exemplar when its bucket is due one (exemplarGate).
func (e *emitter) observe(st *traceState, b correlate.Breakdown) {
	lim := e.m.limits
	tid := &exemplar{id: b.TraceID}
	now := e.exemplars.now()
	times, capped := observations(st.weight, b.TraceID)
	if capped {
		e.m.weightCapped.Inc()
	}
	service := lim.app(b.Namespace, b.Service)
	for _, h := range b.Hops {
		if h.Hop == correlate.HopOther {
			continue
		}
		if bit, ok := hopBits[h.Hop]; ok {
			if st.hops&bit != 0 {
				continue
			}
			st.hops |= bit
		} else {
			k := hashStrings(h.Hop)
			if slices.Contains(st.otherHops, k) {
				continue
			}
			st.otherHops = append(st.otherHops, k)
		}
		v := h.MS / 1000
		if v < 0 {
			v = 0
		}
		hop := h.Hop
		if _, fixed := hopBits[hop]; !fixed {
			hop = lim.kind(hop) // a backend kind: db.system, rpc.system, …
		}
		a, route := lim.hop(service, b.Route, hop)
		e.observeTimes(e.m.hop.WithLabelValues(a.namespace, a.service, route, hop), v, tid, now, times)
	}
	// Calls have no identity of their own in the breakdown, and late
	// records move their offsets: count them per label set and observe
	// only those beyond what an earlier flush observed.
	// seen[i] counts this breakdown's calls of st.calls[i]'s label set: a
	// slice beside st.calls (on the stack for a few label sets), not a map
	// per trace.
	var seenBuf [8]int
	seen := seenBuf[:0]
	for range st.calls {
		seen = append(seen, 0)
	}
	for _, c := range b.Backends {
		outcome := "ok"
		if c.Error {
			outcome = "error"
		}
		attribution := string(c.Attribution)
		if attribution == "" {
			attribution = string(correlate.AttributionInferred)
		}
		k := hashStrings(c.Kind, c.Target, c.Operation, attribution, outcome)
		i := slices.IndexFunc(st.calls, func(x callCount) bool { return x.key == k })
		if i < 0 {
			st.calls = append(st.calls, callCount{key: k})
			seen = append(seen, 0)
			i = len(st.calls) - 1
		}
		seen[i]++
		if seen[i] <= st.calls[i].n {
			continue
		}
		st.calls[i].n = seen[i]
		kind := lim.kind(c.Kind)
		a, target, op := lim.backend(service, kind, c.Target, c.Operation)
		e.observeTimes(e.m.backend.WithLabelValues(a.namespace, a.service, kind, target, op, attribution, outcome), max(c.MS, 0)/1000, tid, now, times)
	}
}

// observeTimes observes v n times (n ≥ 1), the first with the exemplar
// when its bucket is due one.
func (e *emitter) observeTimes(obs prometheus.Observer, v float64, x *exemplar, now int64, n int) {
	if e.exemplars.due(obs, v, now) {
		obs.(prometheus.ExemplarObserver).ObserveWithExemplar(v, x.get())
		n--
	}
	for range n {
		obs.Observe(v)
	}
}
