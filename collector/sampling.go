package collector

import (
	"encoding/binary"
	"math"

	"github.com/hopscope/hopscope/correlate"
	"github.com/hopscope/hopscope/correlate/probsample"
)

// Sampling weights. A sidecar (or any OpenTelemetry SDK following the
// probability sampling specification) that keeps a trace with
// probability p writes ot=th:<threshold> in its spans' tracestate; every
// kept trace stands for 1/p requests (its adjusted count). The hop and
// backend-call histograms observe each breakdown as many times, so that
// their counts and quantiles describe all requests, not only the sampled
// ones. Prometheus histograms have no weighted Observe, hence:
//
//   - a whole adjusted count (1/p = 4 for p = 0.25) is observed that many
//     times;
//   - a fractional one (1/p = 3.33…) is rounded stochastically: down or up
//     with the probabilities that make the mean exact, the draw seeded by
//     the trace id (the high 64 bits mixed, not the low 56 that the
//     sampling decision used), so that a trace observed again (a late
//     record) draws the same;
//   - it is capped at maxSamplingWeight observations (counted in
//     hopscope_collector_sampling_weight_capped_total), which bounds the
//     work of one breakdown: sampling 1 in 4096 or less costs no more
//     observations per request than keeping every trace;
//   - only the first observation carries the exemplar (the trace id), so
//     exemplars still point at real, exported traces;
//   - a missing th (the trace was not sampled by probability, or kept
//     whole: p = 1) weighs 1; an unreadable th weighs 1 and the span is
//     counted in hopscope_collector_sampling_threshold_invalid_total.
//
// The weight adds variance: a quantile over n sampled requests is as
// noisy as one over n requests, though its count reads n/p.
const maxSamplingWeight = 4096

// spanWeight reads the adjusted count of a span's W3C tracestate: 0 when
// it has no threshold (weight 1), invalid when the threshold could not
// be read.
func spanWeight(tracestate []byte) (w float64, invalid bool) {
	if len(tracestate) == 0 {
		return 0, false
	}
	t, found, err := probsample.ParseTracestate(tracestate)
	if err != nil {
		return 0, true
	}
	if !found {
		return 0, false
	}
	return probsample.AdjustedCount(t), false
}

// observations is how many times a breakdown of adjusted count w (0 or
// less: 1) of trace id is observed, and whether w was past the cap.
func observations(w float64, id correlate.TraceID) (n int, capped bool) {
	if !(w > 1) { // also NaN
		return 1, false
	}
	if w > maxSamplingWeight {
		return maxSamplingWeight, true
	}
	whole := math.Floor(w)
	n = int(whole)
	if frac := w - whole; frac > 0 && unitOf(id) < frac {
		n++
	}
	return n, false
}

// unitOf is a number in [0, 1) drawn from the trace id's high 64 bits
// (splitmix64's finalizer spreads them).
func unitOf(id correlate.TraceID) float64 {
	x := binary.BigEndian.Uint64(id[:8])
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return float64(x>>11) / (1 << 53)
}
