package collector

import (
	"github.com/hopscope/hopscope/correlate"
	"github.com/hopscope/hopscope/internal/otlpwire"
)

// traceState is what the collector keeps of one trace besides its
// records: the store holds it in the trace's entry (correlate.Store's
// type parameter: inline, one allocation per trace, no type assertion)
// and hands it to the emitter when the trace is due. Once the trace is
// exported it keeps only what late records need: the ids of the spans
// received (a late span's parent, duplicates), the hops and backend calls
// already observed in the histograms and the spans already synthesized.
// The store's lock guards it.
type traceState struct {
	held      []otlpwire.Held
	heldBytes int                  // of held, counted in emitter.heldBytes
	ids       [][8]byte            // span ids received (only when exporting)
	idSet     map[[8]byte]struct{} // replaces ids past idSetAt
	otherHops []uint64             // hashes of observed hops beyond hopBits (backend kinds)
	calls     []callCount          // backend calls observed, per label set
	// weight is the trace's adjusted count, 1/p of the sampler that kept
	// it, read from its spans' tracestate (sampling.go); 0: none known,
	// weight 1.
	weight float64
	hops   uint16 // observed hops, one bit per hopBits entry
	synth  uint16 // synthesized spans exported, one bit per synthBits entry
}

// idSetAt is the number of span ids past which a trace's ids move from a
// slice (8 bytes each) to a map (fast lookups for big traces).
const idSetAt = 32

// knows reports whether span id was received.
func (st *traceState) knows(id [8]byte) bool {
	if st.idSet != nil {
		_, ok := st.idSet[id]
		return ok
	}
	for _, x := range st.ids {
		if x == id {
			return true
		}
	}
	return false
}

// addID notes span id, false when it was known already.
func (st *traceState) addID(id [8]byte) bool {
	if st.knows(id) {
		return false
	}
	if st.idSet != nil {
		st.idSet[id] = struct{}{}
		return true
	}
	st.ids = append(st.ids, id)
	if len(st.ids) > idSetAt {
		st.idSet = make(map[[8]byte]struct{}, 2*len(st.ids))
		for _, x := range st.ids {
			st.idSet[x] = struct{}{}
		}
		st.ids = nil
	}
	return true
}

// callCount is how many backend calls of one label set (hashed) a trace
// has had observed.
type callCount struct {
	key uint64
	n   int
}

// Hops and synthesized spans a trace can have, one bit each in
// traceState.hops and traceState.synth.
var (
	hopBits   = bitsOf(correlate.HopNames())
	synthBits = bitsOf([]string{"client", correlate.HopDNS, correlate.HopConnect, correlate.HopTLS, "request", correlate.HopDownload,
		correlate.HopLoadBalancer, correlate.HopIngress, correlate.HopService, correlate.HopApp})
)

func bitsOf(names []string) map[string]uint16 {
	if len(names) > 16 {
		panic("collector: more than 16 names for a uint16 bit set")
	}
	m := map[string]uint16{}
	for i, n := range names {
		m[n] = 1 << i
	}
	return m
}

// hashStrings is FNV-1a over ss, each followed by a 0 byte.
func hashStrings(ss ...string) uint64 {
	h := uint64(14695981039346656037)
	for _, s := range ss {
		for i := 0; i < len(s); i++ {
			h ^= uint64(s[i])
			h *= 1099511628211
		}
		h *= 1099511628211 // a 0 byte between strings
	}
	return h
}
