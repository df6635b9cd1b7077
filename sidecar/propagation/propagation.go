package propagation

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/contrib/propagators/b3"
	"go.opentelemetry.io/contrib/propagators/jaeger"
	otelprop "go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/hopscope/hopscope/correlate/xray"
	"github.com/hopscope/hopscope/internal/tracectx"
)

// Propagator names accepted by New.
const (
	NameTraceContext = "tracecontext"
	NameBaggage      = "baggage"
	NameB3           = "b3"
	NameB3Multi      = "b3multi"
	NameJaeger       = "jaeger"
	NameXRay         = "xray"
)

// Default is the comma-separated list of propagators the sidecar uses unless
// configured otherwise.
const Default = "tracecontext,baggage,b3,jaeger,xray"

// knownNames is the list shown in New's error message.
const knownNames = "tracecontext, baggage, b3, b3multi, jaeger, xray"

// DefaultNames returns Default as a list, ready for New.
func DefaultNames() []string { return strings.Split(Default, ",") }

// Source says which inbound header the trace context was taken from.
type Source string

// Sources returned by Extract.
const (
	// SourceNone: no configured header held a valid trace context; the
	// next span starts a new trace.
	SourceNone Source = "none"
	// SourceTraceContext: W3C traceparent (and tracestate).
	SourceTraceContext Source = "tracecontext"
	// SourceB3: the b3 single header or the X-B3-* headers.
	SourceB3 Source = "b3"
	// SourceJaeger: uber-trace-id.
	SourceJaeger Source = "jaeger"
	// SourceXRay: X-Amzn-Trace-Id with a Root and a Parent.
	SourceXRay Source = "xray"
	// SourceXRayRootOnly: X-Amzn-Trace-Id with a Root but no Parent, as an
	// ALB writes it. The context carries only the trace id (see
	// ContextWithTraceID and IDGenerator).
	SourceXRayRootOnly Source = "xray_root_only"
)

// Canonical (http.Header map key) forms of every header this package reads
// or writes.
const (
	hTraceparent  = "Traceparent"
	hTracestate   = "Tracestate"
	hBaggage      = "Baggage"
	hB3           = "B3"
	hB3TraceID    = "X-B3-Traceid"
	hB3SpanID     = "X-B3-Spanid"
	hB3ParentSpan = "X-B3-Parentspanid"
	hB3Sampled    = "X-B3-Sampled"
	hB3Flags      = "X-B3-Flags"
	hUberTraceID  = "Uber-Trace-Id"
	hXRay         = "X-Amzn-Trace-Id" // == xray.HeaderName
)

// Propagation extracts and injects the configured trace header formats. It
// is immutable after New (but for a cache of one tracestate's text) and
// safe for concurrent use.
type Propagation struct {
	traceContext bool
	baggage      bool
	b3           otelprop.TextMapPropagator // nil unless b3 or b3multi is configured
	jaeger       bool
	xray         bool

	stale   []string // canonical keys Inject deletes before writing
	maxSets int      // most headers one Inject writes
	fields  []string // keys Inject may set, as Fields reports them

	// otText keeps the text of the last tracestate of one ot entry
	// Inject wrote (tracestateText); the one field that changes.
	otText atomic.Pointer[otText]
}

// New returns a Propagation for the named formats: tracecontext, baggage, b3,
// b3multi, jaeger and xray (see DefaultNames). Names are case-sensitive;
// surrounding spaces are ignored. An unknown, empty or repeated name is an
// error. b3 and b3multi may both be given: both header forms are then
// written; either one alone makes Extract read both forms.
func New(names []string) (*Propagation, error) {
	p := &Propagation{}
	var b3Single, b3Multi bool
	seen := make(map[string]bool, len(names))
	for _, raw := range names {
		name := strings.TrimSpace(raw)
		if seen[name] {
			return nil, fmt.Errorf("duplicate propagator %q", name)
		}
		seen[name] = true
		switch name {
		case NameTraceContext:
			p.traceContext = true
		case NameBaggage:
			p.baggage = true
		case NameB3:
			b3Single = true
		case NameB3Multi:
			b3Multi = true
		case NameJaeger:
			p.jaeger = true
		case NameXRay:
			p.xray = true
		default:
			return nil, fmt.Errorf("unknown propagator %q (known: %s)", name, knownNames)
		}
	}

	// Deletion and Fields follow a fixed order, whatever the order of names.
	if p.traceContext {
		p.stale = append(p.stale, hTraceparent, hTracestate)
		p.fields = append(p.fields, otelprop.TraceContext{}.Fields()...)
		p.maxSets += 2 // traceparent, tracestate
	}
	if b3Single || b3Multi {
		var enc b3.Encoding
		if b3Single {
			enc |= b3.B3SingleHeader
			p.maxSets++ // b3
		}
		if b3Multi {
			enc |= b3.B3MultipleHeader
			p.maxSets += 3 // trace id, span id, sampled or flags
		}
		p.b3 = b3.New(b3.WithInjectEncoding(enc))
		// Both forms are read, so both forms are stale.
		p.stale = append(p.stale, hB3, hB3TraceID, hB3SpanID, hB3ParentSpan, hB3Sampled, hB3Flags)
		p.fields = append(p.fields, p.b3.Fields()...)
	}
	if p.jaeger {
		p.stale = append(p.stale, hUberTraceID)
		p.fields = append(p.fields, jaeger.Jaeger{}.Fields()...)
		p.maxSets++
	}
	if p.xray {
		p.stale = append(p.stale, hXRay)
		p.fields = append(p.fields, strings.ToLower(xray.HeaderName))
		p.maxSets++
	}
	if p.baggage {
		p.stale = append(p.stale, hBaggage)
		p.fields = append(p.fields, otelprop.Baggage{}.Fields()...)
		p.maxSets++
	}
	return p, nil
}

// Fields returns the (lower-case) names of the headers Inject may set. The
// caller owns the returned slice.
func (p *Propagation) Fields() []string {
	return append([]string(nil), p.fields...)
}

// Extract returns ctx with the caller's trace context from h, and where it
// came from. Only configured formats are read, in this order, and the first
// valid one wins: traceparent (with tracestate), b3 or X-B3-*, uber-trace-id,
// X-Amzn-Trace-Id. Malformed values are skipped. With SourceNone, ctx is
// returned as given (plus baggage), so a span started from it begins a new
// trace.
//
// When baggage is configured, the baggage header is extracted into the
// returned ctx as well, whatever the Source.
//
// h is read as net/http stores headers: with canonical keys. ctx is normally
// the request's context, which carries no span; a span it does carry is
// hidden from the returned ctx when a header provided a trace context.
func (p *Propagation) Extract(ctx context.Context, h http.Header) (context.Context, Source) {
	c := carrier(h)
	if p.baggage && len(h[hBaggage]) > 0 {
		ctx = otelprop.Baggage{}.Extract(ctx, c)
	}

	// Extraction into a ctx that already holds a span context would make a
	// failed extraction look like a successful one; hide it. This allocates,
	// but only in that unusual case.
	base := ctx
	if trace.SpanContextFromContext(ctx).IsValid() {
		base = trace.ContextWithSpanContext(ctx, trace.SpanContext{})
	}

	// Two or more traceparent headers are invalid, as one malformed is
	// (W3C Trace Context: the trace restarts, or another format is read).
	if tp := h[hTraceparent]; p.traceContext && len(tp) == 1 && tp[0] != "" {
		if out := (otelprop.TraceContext{}).Extract(base, traceparentOnly(h)); hasRemote(out) {
			return withTracestate(out, h[hTracestate]), SourceTraceContext
		}
	}
	if p.b3 != nil && (first(h, hB3) != "" || first(h, hB3TraceID) != "") {
		if out := p.b3.Extract(base, c); hasRemote(out) {
			if b3Deferred(h) {
				// No sampling decision: the receiver decides, and the
				// sidecar samples what it starts.
				out = withSampled(out)
			}
			return out, SourceB3
		}
	}
	if p.jaeger {
		if v := first(h, hUberTraceID); v != "" {
			var jc otelprop.TextMapCarrier = c
			if strings.IndexByte(v, '%') >= 0 {
				// Jaeger clients URL-encode the value (%3A for ':').
				if u, err := url.PathUnescape(v); err == nil {
					jc = otelprop.MapCarrier{"uber-trace-id": u}
				}
			}
			if out := (jaeger.Jaeger{}).Extract(base, jc); hasRemote(out) {
				return out, SourceJaeger
			}
		}
	}
	if p.xray {
		if v := first(h, hXRay); v != "" {
			if ctx, src, ok := extractXRay(base, v); ok {
				return ctx, src
			}
		}
	}
	return ctx, SourceNone
}

// traceparentOnly is the carrier OpenTelemetry's TraceContext extracts
// from: it sees the traceparent but no tracestate, which withTracestate
// reads by the spec's rules (OpenTelemetry Go drops a whole tracestate
// for a repeated key and knows only the first level's key grammar).
type traceparentOnly http.Header

func (c traceparentOnly) Get(key string) string {
	if key == "traceparent" {
		return first(http.Header(c), hTraceparent)
	}
	return ""
}

func (c traceparentOnly) Set(string, string) {}

func (c traceparentOnly) Keys() []string { return nil }

// tracestateKey is the context key of the inbound tracestate, as a
// participant propagates it (tracectx.ParseTracestate).
type tracestateKey struct{}

// withTracestate adds the inbound tracestate headers, read by the spec's
// rules, to ctx and to its remote span context (where OpenTelemetry can
// hold it, for the exported spans). An invalid tracestate is dropped
// whole; none costs nothing.
func withTracestate(ctx context.Context, values []string) context.Context {
	if len(values) == 0 {
		return ctx
	}
	ts, err := tracectx.ParseTracestate(values)
	if err != nil || ts == "" {
		return ctx
	}
	if ots, err := trace.ParseTraceState(ts); err == nil {
		ctx = trace.ContextWithRemoteSpanContext(ctx, trace.SpanContextFromContext(ctx).WithTraceState(ots))
	}
	return context.WithValue(ctx, tracestateKey{}, ts)
}

// Tracestate returns the inbound request's tracestate that Extract put in
// ctx (or a context made from it), in the form a W3C participant sends it
// on: the empty string when there was none or it was invalid.
func Tracestate(ctx context.Context) string {
	ts, _ := ctx.Value(tracestateKey{}).(string)
	return ts
}

// extractXRay turns a valid X-Amzn-Trace-Id into a remote span context, or
// into a bare trace id when it has no Parent.
func extractXRay(ctx context.Context, v string) (context.Context, Source, bool) {
	xh, err := xray.Parse(v)
	if err != nil {
		return ctx, SourceNone, false
	}
	tid := trace.TraceID(xh.TraceID())
	parent, ok := xh.ParentID()
	if !ok {
		return ContextWithTraceID(ctx, tid), SourceXRayRootOnly, true
	}
	// Sampled=0 is the only "no": "?" asks the receiver to decide and no
	// Sampled field leaves it to the receiver, and the sidecar samples.
	var flags trace.TraceFlags
	if xh.Sampled != "0" {
		flags = trace.FlagsSampled
	}
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    tid,
		SpanID:     trace.SpanID(parent),
		TraceFlags: flags,
		Remote:     true,
	})
	return trace.ContextWithRemoteSpanContext(ctx, sc), SourceXRay, true
}

// b3Deferred reports whether the B3 headers carry no sampling decision:
// a single header with only trace and span ids, or X-B3-* without
// X-B3-Sampled and X-B3-Flags (the single header wins when both are sent,
// as in extraction).
func b3Deferred(h http.Header) bool {
	if v := first(h, hB3); v != "" {
		return strings.Count(v, "-") == 1
	}
	return first(h, hB3Sampled) == "" && first(h, hB3Flags) == ""
}

// withSampled is ctx with its remote span context marked sampled.
func withSampled(ctx context.Context) context.Context {
	sc := trace.SpanContextFromContext(ctx)
	return trace.ContextWithRemoteSpanContext(ctx, sc.WithTraceFlags(sc.TraceFlags()|trace.FlagsSampled))
}

// Inject writes the span context of ctx into h in every configured format,
// after deleting every header of every configured format from h, so that no
// stale inbound value reaches the app. Headers of formats that are not
// configured are left untouched; in particular the baggage header passes
// through unchanged unless baggage is configured, in which case it is
// rewritten from the baggage in ctx.
//
// When ctx holds no valid span context only the deletion happens (and
// baggage, when configured, is written). h must not be nil.
func (p *Propagation) Inject(ctx context.Context, h http.Header) {
	for _, k := range p.stale {
		delete(h, k)
	}
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() && !p.baggage {
		return
	}
	c := injectPool.Get().(*injectCarrier)
	c.h = h
	// One backing array for every value written, instead of one per header.
	c.buf = make([]string, 0, p.maxSets)
	if sc.IsValid() {
		if p.traceContext {
			// As OpenTelemetry's TraceContext.Inject writes them, without
			// making text of a tracestate that Tracestate(ctx) replaces,
			// and with the sampler's own (ot=th:…) made text once.
			c.set(hTraceparent, traceparent(sc))
			if ts := Tracestate(ctx); ts != "" {
				c.set(hTracestate, ts) // as received, where OpenTelemetry could not hold it
			} else if sc.TraceState().Len() > 0 {
				c.set(hTracestate, p.tracestateText(sc.TraceState()))
			}
		}
		if p.b3 != nil {
			p.b3.Inject(ctx, c)
		}
		if p.jaeger {
			jaeger.Jaeger{}.Inject(ctx, c)
		}
		if p.xray {
			c.set(hXRay, xray.Format(sc.TraceID(), sc.SpanID(), sc.IsSampled()))
		}
	}
	if p.baggage {
		otelprop.Baggage{}.Inject(ctx, c)
	}
	c.h, c.buf = nil, nil
	injectPool.Put(c)
}

// traceparent is sc's traceparent header: version 00, the trace and span
// ids, and the flags W3C defines (sampled, random), as OpenTelemetry's
// TraceContext.Inject writes it; one allocation.
func traceparent(sc trace.SpanContext) string {
	var b [55]byte
	tid, sid := sc.TraceID(), sc.SpanID()
	b[0], b[1], b[2] = '0', '0', '-'
	hex.Encode(b[3:35], tid[:])
	b[35] = '-'
	hex.Encode(b[36:52], sid[:])
	b[52] = '-'
	f := byte(sc.TraceFlags() & (trace.FlagsSampled | trace.FlagsRandom))
	b[53], b[54] = hexDigits[f>>4], hexDigits[f&0xf]
	return string(b[:])
}

const hexDigits = "0123456789abcdef"

// tracestateText is ts as a header value. A tracestate of one ot entry
// (what the sidecar's ratio sampler writes on the traces it starts) is
// made text once and kept: every sampled request's would be the same.
func (p *Propagation) tracestateText(ts trace.TraceState) string {
	if ts.Len() == 1 {
		if ot := ts.Get("ot"); ot != "" {
			if c := p.otText.Load(); c != nil && c.ot == ot {
				return c.text
			}
			text := ts.String()
			p.otText.Store(&otText{ot: ot, text: text})
			return text
		}
	}
	return ts.String()
}

// OutboundTracestate is the tracestate Inject writes for the span
// context sc started under ctx: the inbound one as received, else sc's
// own (a ratio sampler's ot=th:…), else "". Calls made on the request's
// behalf carry it on.
func (p *Propagation) OutboundTracestate(ctx context.Context, sc trace.SpanContext) string {
	if ts := Tracestate(ctx); ts != "" {
		return ts
	}
	if sc.TraceState().Len() == 0 {
		return ""
	}
	return p.tracestateText(sc.TraceState())
}

// otText is a tracestate of one ot entry, its value and its text.
type otText struct{ ot, text string }

// injectCarrier is the carrier Inject hands to propagators. The values it
// sets share one backing array (each header's slice capped at its one
// element, so appending to it elsewhere copies). It is pooled so that
// passing it as an interface does not allocate.
type injectCarrier struct {
	h   http.Header
	buf []string
}

var injectPool = sync.Pool{New: func() any { return new(injectCarrier) }}

var _ otelprop.TextMapCarrier = (*injectCarrier)(nil)

func (c *injectCarrier) Get(key string) string { return first(c.h, canonicalKey(key)) }

func (c *injectCarrier) Set(key, value string) { c.set(canonicalKey(key), value) }

func (c *injectCarrier) set(canonical, value string) {
	if len(c.buf) == cap(c.buf) {
		c.h[canonical] = []string{value}
		return
	}
	n := len(c.buf)
	c.buf = append(c.buf, value)
	c.h[canonical] = c.buf[n : n+1 : n+1]
}

func (c *injectCarrier) Keys() []string { return carrier(c.h).Keys() }

// hasRemote reports whether a propagator put a valid remote span context
// into ctx.
func hasRemote(ctx context.Context) bool {
	sc := trace.SpanContextFromContext(ctx)
	return sc.IsValid() && sc.IsRemote()
}

func first(h http.Header, key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// carrier adapts http.Header to the OpenTelemetry carrier interfaces like
// otel's HeaderCarrier, but maps the lower-case names the propagators use to
// canonical keys without allocating.
type carrier http.Header

var (
	_ otelprop.TextMapCarrier = carrier(nil)
	_ otelprop.ValuesGetter   = carrier(nil)
)

func (c carrier) Get(key string) string { return first(http.Header(c), canonicalKey(key)) }

func (c carrier) Values(key string) []string { return c[canonicalKey(key)] }

func (c carrier) Set(key, value string) { c[canonicalKey(key)] = []string{value} }

func (c carrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

func canonicalKey(key string) string {
	switch key {
	case "traceparent":
		return hTraceparent
	case "tracestate":
		return hTracestate
	case "baggage":
		return hBaggage
	case "b3":
		return hB3
	case "x-b3-traceid":
		return hB3TraceID
	case "x-b3-spanid":
		return hB3SpanID
	case "x-b3-parentspanid":
		return hB3ParentSpan
	case "x-b3-sampled":
		return hB3Sampled
	case "x-b3-flags":
		return hB3Flags
	case "uber-trace-id":
		return hUberTraceID
	}
	return textproto.CanonicalMIMEHeaderKey(key)
}
