package collector

import (
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hopscope/hopscope/correlate"
	"github.com/hopscope/hopscope/internal/contract"
)

// observe records the hops not observed before for this trace, each as
// many times as the trace's adjusted count says (sampling.go), the first
// with the exemplar.
func (e *emitter) observe(st *traceState, b correlate.Breakdown) {
	lim := e.m.limits
	tid := prometheus.Labels{contract.ExemplarTraceID: b.TraceID.String()}
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
		observeTimes(e.m.hop.WithLabelValues(a.namespace, a.service, route, hop), v, tid, times)
	}
	// Calls have no identity of their own in the breakdown, and late
	// records move their offsets: count them per label set and observe
	// only those beyond what an earlier flush observed.
	seen := map[uint64]int{}
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
		seen[k]++
		i := slices.IndexFunc(st.calls, func(x callCount) bool { return x.key == k })
		if i < 0 {
			st.calls = append(st.calls, callCount{key: k})
			i = len(st.calls) - 1
		}
		if seen[k] <= st.calls[i].n {
			continue
		}
		st.calls[i].n = seen[k]
		kind := lim.kind(c.Kind)
		a, target, op := lim.backend(service, kind, c.Target, c.Operation)
		observeTimes(e.m.backend.WithLabelValues(a.namespace, a.service, kind, target, op, attribution, outcome), max(c.MS, 0)/1000, tid, times)
	}
}

// observeTimes observes v n times (n ≥ 1), the first with the exemplar.
func observeTimes(obs prometheus.Observer, v float64, exemplar prometheus.Labels, n int) {
	obs.(prometheus.ExemplarObserver).ObserveWithExemplar(v, exemplar)
	for range n - 1 {
		obs.Observe(v)
	}
}
