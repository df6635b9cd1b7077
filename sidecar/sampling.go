package sidecar

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/hopscope/hopscope/correlate/probsample"
)

// Head sampling: which traces the sidecar records spans of. RED metrics
// and access logs do not depend on it (record.go records them for every
// request); only the spans are sampled. The sampler is named as the
// OpenTelemetry SDK environment specification names it
// (OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG), and the flags
// --traces-sampler and --traces-sampler-arg win over the variables.
//
// The ratio samplers are hopscope's (ratioSampler), not the SDK's
// TraceIDRatioBased: they follow the OpenTelemetry "probability sampling"
// specification (tracestate-probability-sampling), deciding on the trace
// id's randomness and writing the threshold in the W3C tracestate's `ot`
// entry (`ot=th:c` for 1 in 4), so that the collector can weight what it
// receives by the adjusted count 1/p.

// Sampler names (OTEL_TRACES_SAMPLER's values).
const (
	SamplerAlwaysOn                = "always_on"
	SamplerAlwaysOff               = "always_off"
	SamplerTraceIDRatio            = "traceidratio"
	SamplerParentBasedAlwaysOn     = "parentbased_always_on"
	SamplerParentBasedAlwaysOff    = "parentbased_always_off"
	SamplerParentBasedTraceIDRatio = "parentbased_traceidratio"
)

// DefaultTracesSampler is the sampler when neither the flag nor the
// variable names one: every trace the sidecar starts is sampled, and an
// incoming trace context's sampled flag is honoured.
const DefaultTracesSampler = SamplerParentBasedAlwaysOn

// Variables of the OpenTelemetry SDK environment specification read here.
const (
	envTracesSampler    = "OTEL_TRACES_SAMPLER"
	envTracesSamplerArg = "OTEL_TRACES_SAMPLER_ARG"
)

const samplerNames = "always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio"

// samplerSettings is the resolved sampler: its name, the probability of
// the ratio samplers (1 for the others) and where each came from (a flag
// or a variable; "" for the default).
type samplerSettings struct {
	name, from    string
	arg           float64
	argFrom       string
	ratio, parent bool
}

// checkSamplerName reports whether name is one of the six samplers.
func checkSamplerName(name string) error {
	switch name {
	case SamplerAlwaysOn, SamplerAlwaysOff, SamplerTraceIDRatio, SamplerParentBasedAlwaysOn,
		SamplerParentBasedAlwaysOff, SamplerParentBasedTraceIDRatio:
		return nil
	}
	return fmt.Errorf("unknown sampler %q: must be one of %s", name, samplerNames)
}

// parseSamplerArg reads a sampling probability: a number from 0 to 1.
func parseSamplerArg(v string) (float64, error) {
	p, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number (a sampling probability from 0 to 1)", v)
	}
	if math.IsNaN(p) || p < 0 || p > 1 {
		return 0, fmt.Errorf("%q is out of range: a sampling probability is from 0 to 1", v)
	}
	return p, nil
}

// resolveSampler reads the sampler from the flags (name and arg; "" when
// not set), else from OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG,
// else the default (parentbased_always_on; an arg of 1 for the ratio
// samplers). Each flag wins over its variable. A bad value is an error
// naming its flag or variable; an arg is checked even for samplers that
// take none (a typo there is still a typo).
func resolveSampler(flagName, flagArg string, env getenv) (samplerSettings, error) {
	s := samplerSettings{name: DefaultTracesSampler, arg: 1}
	if v := strings.TrimSpace(flagName); v != "" {
		s.name, s.from = strings.ToLower(v), "--traces-sampler"
	} else if v, ok := env(envTracesSampler); ok && strings.TrimSpace(v) != "" {
		s.name, s.from = strings.ToLower(strings.TrimSpace(v)), envTracesSampler
	}
	if err := checkSamplerName(s.name); err != nil {
		return s, fmt.Errorf("%s: %w", s.from, err)
	}
	raw := strings.TrimSpace(flagArg)
	if raw != "" {
		s.argFrom = "--traces-sampler-arg"
	} else if v, ok := env(envTracesSamplerArg); ok && strings.TrimSpace(v) != "" {
		raw, s.argFrom = strings.TrimSpace(v), envTracesSamplerArg
	}
	if raw != "" {
		p, err := parseSamplerArg(raw)
		if err != nil {
			return s, fmt.Errorf("%s: %w", s.argFrom, err)
		}
		s.arg = p
	}
	s.ratio = s.name == SamplerTraceIDRatio || s.name == SamplerParentBasedTraceIDRatio
	s.parent = strings.HasPrefix(s.name, "parentbased_")
	if !s.ratio {
		s.arg, s.argFrom = 1, ""
	}
	return s, nil
}

// sampler builds the SDK sampler of s.
func (s samplerSettings) sampler() sdktrace.Sampler {
	var root sdktrace.Sampler
	switch s.name {
	case SamplerAlwaysOn, SamplerParentBasedAlwaysOn:
		root = sdktrace.AlwaysSample()
	case SamplerAlwaysOff, SamplerParentBasedAlwaysOff:
		root = sdktrace.NeverSample()
	default:
		root = newRatioSampler(s.arg)
	}
	if s.parent {
		return sdktrace.ParentBased(root)
	}
	return root
}

// ratioSampler samples a trace with probability p, consistently: the
// decision depends only on the trace's randomness (the trace id's low 56
// bits, or the `rv` sub-key of the `ot` tracestate entry when present),
// so every participant with the same p decides alike. A trace is sampled
// when its randomness is at least the rejection threshold T = (1-p)·2^56;
// a sampled span's tracestate gets `ot=th:<T>` (T in at most 14 hex
// digits, trailing zeros removed; "0" for p = 1), from which the
// collector reads the adjusted count 1/p.
type ratioSampler struct {
	threshold uint64
	th        string
	// root is the tracestate of a sampled span whose parent had none
	// (the usual case: the sidecar starts the trace), built once so that
	// the decision allocates nothing.
	root trace.TraceState
	desc string
}

// newRatioSampler returns the ratio sampler of probability p (0 ≤ p ≤ 1).
// p = 0 samples nothing and writes no threshold.
func newRatioSampler(p float64) sdktrace.Sampler {
	if p <= 0 {
		return sdktrace.NeverSample()
	}
	t := probsample.ThresholdOf(p)
	s := &ratioSampler{threshold: t, th: probsample.Encode(t), desc: fmt.Sprintf("ConsistentTraceIDRatio{%g}", p)}
	root, err := trace.TraceState{}.Insert("ot", "th:"+s.th)
	if err != nil {
		panic("sidecar: ot=th:" + s.th + " is not a valid tracestate entry: " + err.Error())
	}
	s.root = root
	return s
}

// ShouldSample decides on the trace's randomness.
func (s *ratioSampler) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	state := trace.SpanContextFromContext(p.ParentContext).TraceState()
	ot := state.Get("ot")
	if randomness(p.TraceID, ot) < s.threshold {
		return sdktrace.SamplingResult{Decision: sdktrace.Drop, Tracestate: state}
	}
	if state.Len() == 0 {
		return sdktrace.SamplingResult{Decision: sdktrace.RecordAndSample, Tracestate: s.root}
	}
	if ts, err := state.Insert("ot", withThreshold(ot, s.th)); err == nil {
		state = ts
	}
	return sdktrace.SamplingResult{Decision: sdktrace.RecordAndSample, Tracestate: state}
}

// Description names the sampler and its probability.
func (s *ratioSampler) Description() string { return s.desc }

// randomness is the trace's 56-bit randomness: the ot entry's rv sub-key
// (14 hex digits) when it has a valid one, else the trace id's low 56
// bits.
func randomness(id trace.TraceID, ot string) uint64 {
	for ot != "" {
		var kv string
		kv, ot, _ = strings.Cut(ot, ";")
		if v, ok := strings.CutPrefix(kv, "rv:"); ok && len(v) == 14 {
			if r, err := strconv.ParseUint(v, 16, 64); err == nil {
				return r
			}
		}
	}
	return binary.BigEndian.Uint64(id[8:16]) & (probsample.MaxThreshold - 1)
}

// withThreshold is the ot entry's value ot with its th sub-key set to th
// (first), the other sub-keys kept in their order.
func withThreshold(ot, th string) string {
	var b strings.Builder
	b.WriteString("th:")
	b.WriteString(th)
	for ot != "" {
		var kv string
		kv, ot, _ = strings.Cut(ot, ";")
		if kv == "" || strings.HasPrefix(kv, "th:") {
			continue
		}
		b.WriteByte(';')
		b.WriteString(kv)
	}
	return b.String()
}
