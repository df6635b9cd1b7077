package backend

import (
	"sync"

	"go.opentelemetry.io/otel/trace"
)

// Attribution says how a backend call was tied to an inbound request.
type Attribution string

// The attributions, as the collector's breakdown carries them.
const (
	// Exact: the call carried the request's trace context (a traceparent
	// header, a sqlcommenter comment).
	Exact Attribution = "exact"
	// Inferred: exactly one inbound request was in flight in the pod when
	// the call began.
	Inferred Attribution = "inferred"
	// Ambiguous: none or several were; the call starts a trace of its own.
	Ambiguous Attribution = "ambiguous"
)

// Tracker knows the inbound requests in flight in the pod. The sidecar's
// inbound proxy enters each request; the backend proxies ask it at the
// start of each call.
type Tracker struct {
	mu       sync.Mutex
	inFlight map[uint64]inbound // every request in flight, by entry
	next     uint64
}

// inbound is what the tracker keeps of a request in flight: its span
// context and the tracestate it came with, as a W3C participant sends it
// on (OpenTelemetry's TraceState in sc cannot hold every valid one).
type inbound struct {
	sc         trace.SpanContext
	tracestate string
}

// NewTracker returns an empty tracker.
func NewTracker() *Tracker {
	return &Tracker{inFlight: map[uint64]inbound{}}
}

// Enter records an inbound request in flight and returns the function
// that ends it.
func (t *Tracker) Enter(sc trace.SpanContext) (leave func()) {
	id := t.EnterID(sc)
	return func() { t.Leave(id) }
}

// EnterID is Enter without the closure, for the proxy's hot path: the
// request leaves with Leave(id).
func (t *Tracker) EnterID(sc trace.SpanContext) uint64 {
	return t.EnterWithState(sc, "")
}

// EnterWithState is EnterID for a request that came with a tracestate
// (propagation.Tracestate): a call attributed to it carries it on.
func (t *Tracker) EnterWithState(sc trace.SpanContext, tracestate string) uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.next++
	t.inFlight[t.next] = inbound{sc: sc, tracestate: tracestate}
	return t.next
}

// Leave ends the request EnterID returned id for; twice is harmless.
func (t *Tracker) Leave(id uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.inFlight, id)
}

// Attribute ties a call beginning now to its inbound request: to explicit
// when the call carried a valid trace context, else to the only request in
// flight, else to none.
func (t *Tracker) Attribute(explicit trace.SpanContext) (trace.SpanContext, Attribution) {
	sc, _, a := t.attribute(explicit)
	return sc, a
}

// attribute is Attribute with the tracestate of the inferred request ("" for
// an exact or ambiguous call: an exact call carries its own).
func (t *Tracker) attribute(explicit trace.SpanContext) (trace.SpanContext, string, Attribution) {
	if explicit.IsValid() {
		return explicit, "", Exact
	}
	if t == nil {
		return trace.SpanContext{}, "", Ambiguous
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.inFlight) == 1 {
		for _, sole := range t.inFlight {
			if sole.sc.IsValid() {
				return sole.sc, sole.tracestate, Inferred
			}
		}
	}
	return trace.SpanContext{}, "", Ambiguous
}

// InFlight is the number of inbound requests in flight.
func (t *Tracker) InFlight() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.inFlight)
}
