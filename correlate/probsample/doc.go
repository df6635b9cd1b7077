// Package probsample reads and writes the sampling threshold of the
// OpenTelemetry "probability sampling" specification
// (https://opentelemetry.io/docs/specs/otel/trace/tracestate-probability-sampling/):
// the `th` sub-key of the `ot` entry of a W3C tracestate, e.g. `ot=th:c`.
//
// A sampler that keeps a trace with probability p writes its rejection
// threshold T = (1-p)·2^56 as up to 14 lower-case hex digits, trailing
// zeros removed ("0" for p = 1). A trace is kept when its 56-bit
// randomness is at least T. Whoever counts the kept spans weights each by
// its adjusted count 1/p = 2^56/(2^56-T), which removes the bias that
// sampling would otherwise put in counts and histograms.
//
// The package is pure: no I/O, no state, no clock. ParseTracestate reads
// outside input (the tracestate of received spans) and never panics.
package probsample
