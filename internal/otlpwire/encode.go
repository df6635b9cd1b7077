package otlpwire

import (
	"math"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/encoding/protowire"
)

// Field numbers, checked against the generated code of
// go.opentelemetry.io/proto/otlp v1.11.0 (the `protobuf:"..."` struct tags in
// collector/trace/v1, trace/v1, common/v1 and resource/v1). The tests decode
// the output with that generated code, so a wrong number fails them.
const (
	// ExportTraceServiceRequest
	reqResourceSpans = 1

	// ResourceSpans
	rsResource   = 1
	rsScopeSpans = 2
	rsSchemaURL  = 3

	// ScopeSpans
	ssScope     = 1
	ssSpans     = 2
	ssSchemaURL = 3

	// Span
	spanTraceID           = 1
	spanSpanID            = 2
	spanTraceState        = 3
	spanParentSpanID      = 4
	spanName              = 5
	spanKind              = 6  // varint (enum)
	spanStartTime         = 7  // fixed64
	spanEndTime           = 8  // fixed64
	spanAttributes        = 9  // repeated KeyValue
	spanDroppedAttributes = 10 // varint
	spanEvents            = 11
	spanDroppedEvents     = 12 // varint
	spanLinks             = 13
	spanDroppedLinks      = 14 // varint
	spanStatus            = 15
	spanFlags             = 16 // fixed32

	// Span.Event
	eventTime              = 1 // fixed64
	eventName              = 2
	eventAttributes        = 3
	eventDroppedAttributes = 4 // varint

	// Span.Link
	linkTraceID           = 1
	linkSpanID            = 2
	linkTraceState        = 3
	linkAttributes        = 4
	linkDroppedAttributes = 5 // varint
	linkFlags             = 6 // fixed32

	// Status
	statusMessage = 2
	statusCode    = 3 // varint (enum)

	// InstrumentationScope
	scopeName       = 1
	scopeVersion    = 2
	scopeAttributes = 3

	// Resource
	resourceAttributes = 1

	// KeyValue
	kvKey   = 1
	kvValue = 2

	// AnyValue (oneof)
	anyString = 1
	anyBool   = 2 // varint
	anyInt    = 3 // varint
	anyDouble = 4 // fixed64
	anyArray  = 5
	anyKvlist = 6
	anyBytes  = 7

	// ArrayValue and KeyValueList
	listValues = 1
)

// OTLP enum and flag values (opentelemetry.proto.trace.v1).
const (
	statusCodeOK    = 1
	statusCodeError = 2

	flagsHasIsRemote = 0x100 // SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK
	flagsIsRemote    = 0x200 // SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK
)

// AppendExportRequest appends to b the protobuf encoding of an
// opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest holding
// spans, and returns the extended slice. Nil spans are skipped; if no span is
// left, b is returned unchanged (an empty request encodes to zero bytes).
//
// Spans are grouped into one ResourceSpans per distinct resource (same
// pointer, or same attributes and schema URL) and, within it, one ScopeSpans
// per distinct instrumentation scope, in order of first appearance; spans
// keep their order within a scope. The mapping of every field (span kind,
// status code, flags, attribute types, clamping of dropped counts and
// timestamps) follows the stock otlptrace transform; unlike it,
// Link.trace_state is filled in (see the package documentation).
//
// Scalar attributes are encoded without allocating. Slice-typed attributes
// cost the one copy that attribute.Value's As*Slice accessors make; the
// grouping state comes from a pool. With b reused (b[:0]) across calls, an
// export of plain spans allocates nothing.
//
// AppendExportRequest is safe for concurrent use as long as each call has
// its own b.
func AppendExportRequest(b []byte, spans []sdktrace.ReadOnlySpan) []byte {
	g := grouperPool.Get().(*grouper)
	g.group(spans)
	for _, ri := range g.resources {
		b = g.appendResourceSpans(b, spans, ri)
	}
	g.reset()
	grouperPool.Put(g)
	return b
}

// ---------------------------------------------------------------------------
// Grouping.

// group is one (resource, scope) pair of a batch. Its spans form a chain
// through grouper.next; the groups of one resource form a chain through
// nextScope, starting at the resource's first group (its "leader").
type group struct {
	res   *resource.Resource
	scope instrumentation.Scope

	first, last int32 // span indexes

	nextScope int32 // next group of the same resource, or -1
	lastScope int32 // leaders only: last group of the resource's chain
	nextHash  int32 // leaders only: next leader with the same resource hash, or -1
}

// mapThreshold is the number of distinct resources above which leaders are
// found through a map instead of a linear scan.
const mapThreshold = 8

// maxPooledSpans bounds the scratch kept in the pool.
const maxPooledSpans = 1 << 16

type grouper struct {
	next      []int32 // per span: next span of its group, or -1
	groups    []group
	resources []int32 // leaders, in order of first appearance
	byHash    map[attribute.Distinct]int32
}

var grouperPool = sync.Pool{New: func() any { return new(grouper) }}

func (g *grouper) reset() {
	// Drop references to resources and scopes so the pool does not keep
	// them alive.
	clear(g.groups)
	g.groups = g.groups[:0]
	g.resources = g.resources[:0]
	if g.byHash != nil {
		clear(g.byHash)
	}
	if cap(g.next) > maxPooledSpans {
		g.next = nil
	}
}

func sameResource(a, b *resource.Resource) bool {
	return a == b || (a.SchemaURL() == b.SchemaURL() && a.Set().Equals(b.Set()))
}

func sameScope(a, b *instrumentation.Scope) bool {
	return a.Name == b.Name && a.Version == b.Version && a.SchemaURL == b.SchemaURL &&
		a.Attributes.Equals(&b.Attributes)
}

func (g *grouper) group(spans []sdktrace.ReadOnlySpan) {
	if cap(g.next) < len(spans) {
		g.next = make([]int32, len(spans))
	}
	g.next = g.next[:len(spans)]
	cur := int32(-1)
	for i, s := range spans {
		if s == nil {
			continue
		}
		res := s.Resource()
		scope := s.InstrumentationScope()
		if cur < 0 || !g.in(cur, res, &scope) {
			cur = g.find(res, &scope)
		}
		idx := int32(i)
		g.next[idx] = -1
		gr := &g.groups[cur]
		if gr.first < 0 {
			gr.first = idx
		} else {
			g.next[gr.last] = idx
		}
		gr.last = idx
	}
}

func (g *grouper) in(gi int32, res *resource.Resource, scope *instrumentation.Scope) bool {
	gr := &g.groups[gi]
	return sameResource(gr.res, res) && sameScope(&gr.scope, scope)
}

// find returns the group of (res, scope), creating it if needed.
func (g *grouper) find(res *resource.Resource, scope *instrumentation.Scope) int32 {
	leader := g.findLeader(res)
	if leader < 0 {
		return g.addLeader(res, scope)
	}
	gi := leader
	for gi >= 0 {
		if sameScope(&g.groups[gi].scope, scope) {
			return gi
		}
		gi = g.groups[gi].nextScope
	}
	gi = g.addGroup(res, scope)
	l := &g.groups[leader]
	g.groups[l.lastScope].nextScope = gi
	l.lastScope = gi
	return gi
}

func (g *grouper) findLeader(res *resource.Resource) int32 {
	if g.byHash == nil || len(g.resources) <= mapThreshold {
		for _, li := range g.resources {
			if sameResource(g.groups[li].res, res) {
				return li
			}
		}
		return -1
	}
	li, ok := g.byHash[res.Equivalent()]
	if !ok {
		return -1
	}
	for li >= 0 {
		if sameResource(g.groups[li].res, res) {
			return li
		}
		li = g.groups[li].nextHash
	}
	return -1
}

func (g *grouper) addGroup(res *resource.Resource, scope *instrumentation.Scope) int32 {
	gi := int32(len(g.groups))
	g.groups = append(g.groups, group{
		res:       res,
		scope:     *scope,
		first:     -1,
		last:      -1,
		nextScope: -1,
		lastScope: gi,
		nextHash:  -1,
	})
	return gi
}

func (g *grouper) addLeader(res *resource.Resource, scope *instrumentation.Scope) int32 {
	gi := g.addGroup(res, scope)
	g.resources = append(g.resources, gi)
	switch {
	case len(g.resources) == mapThreshold+1:
		// Switch to the map: index every leader so far.
		if g.byHash == nil {
			g.byHash = make(map[attribute.Distinct]int32)
		}
		for _, li := range g.resources {
			g.hashLeader(li)
		}
	case len(g.resources) > mapThreshold+1:
		g.hashLeader(gi)
	}
	return gi
}

func (g *grouper) hashLeader(li int32) {
	k := g.groups[li].res.Equivalent()
	if prev, ok := g.byHash[k]; ok {
		g.groups[li].nextHash = prev
	}
	g.byHash[k] = li
}

// ---------------------------------------------------------------------------
// Messages.

func (g *grouper) appendResourceSpans(b []byte, spans []sdktrace.ReadOnlySpan, leader int32) []byte {
	res := g.groups[leader].res
	rs := openLen(&b, reqResourceSpans, 3)
	if res != nil {
		m := openLen(&b, rsResource, 2)
		iter := res.Iter()
		for iter.Next() {
			kv := iter.Attribute()
			b = appendKeyValue(b, resourceAttributes, kv.Key, kv.Value)
		}
		b = closeLen(b, m, 2)
	}
	for gi := leader; gi >= 0; gi = g.groups[gi].nextScope {
		gr := &g.groups[gi]
		ss := openLen(&b, rsScopeSpans, 3)
		if gr.scope != (instrumentation.Scope{}) {
			b = appendScope(b, ssScope, &gr.scope)
		}
		for i := gr.first; i >= 0; i = g.next[i] {
			b = appendSpan(b, ssSpans, spans[i])
		}
		b = appendString(b, ssSchemaURL, gr.scope.SchemaURL)
		b = closeLen(b, ss, 3)
	}
	b = appendString(b, rsSchemaURL, res.SchemaURL())
	return closeLen(b, rs, 3)
}

func appendScope(b []byte, num protowire.Number, s *instrumentation.Scope) []byte {
	m := openLen(&b, num, 1)
	b = appendString(b, scopeName, s.Name)
	b = appendString(b, scopeVersion, s.Version)
	iter := s.Attributes.Iter()
	for iter.Next() {
		kv := iter.Attribute()
		b = appendKeyValue(b, scopeAttributes, kv.Key, kv.Value)
	}
	return closeLen(b, m, 1)
}

func appendSpan(b []byte, num protowire.Number, s sdktrace.ReadOnlySpan) []byte {
	m := openLen(&b, num, 2)

	sc := s.SpanContext()
	tid, sid := sc.TraceID(), sc.SpanID()
	b = appendBytes(b, spanTraceID, tid[:])
	b = appendBytes(b, spanSpanID, sid[:])
	b = appendTraceState(b, spanTraceState, sc.TraceState())
	parent := s.Parent()
	if psid := parent.SpanID(); psid.IsValid() {
		b = appendBytes(b, spanParentSpanID, psid[:])
	}
	b = appendString(b, spanName, s.Name())
	b = appendVarint(b, spanKind, uint64(otlpKind(s.SpanKind())))
	b = appendFixed64(b, spanStartTime, unixNano(s.StartTime().UnixNano()))
	b = appendFixed64(b, spanEndTime, unixNano(s.EndTime().UnixNano()))
	for _, kv := range s.Attributes() {
		b = appendKeyValue(b, spanAttributes, kv.Key, kv.Value)
	}
	b = appendVarint(b, spanDroppedAttributes, clampUint32(s.DroppedAttributes()))
	events := s.Events()
	for i := range events {
		b = appendEvent(b, spanEvents, &events[i])
	}
	b = appendVarint(b, spanDroppedEvents, clampUint32(s.DroppedEvents()))
	links := s.Links()
	for i := range links {
		b = appendLink(b, spanLinks, &links[i])
	}
	b = appendVarint(b, spanDroppedLinks, clampUint32(s.DroppedLinks()))
	st := s.Status()
	b = appendStatus(b, spanStatus, st.Code, st.Description)
	b = appendFixed32(b, spanFlags, spanFlagsFor(sc.TraceFlags(), parent))

	return closeLen(b, m, 2)
}

func appendEvent(b []byte, num protowire.Number, e *sdktrace.Event) []byte {
	m := openLen(&b, num, 1)
	b = appendFixed64(b, eventTime, unixNano(e.Time.UnixNano()))
	b = appendString(b, eventName, e.Name)
	for _, kv := range e.Attributes {
		b = appendKeyValue(b, eventAttributes, kv.Key, kv.Value)
	}
	b = appendVarint(b, eventDroppedAttributes, clampUint32(e.DroppedAttributeCount))
	return closeLen(b, m, 1)
}

func appendLink(b []byte, num protowire.Number, l *sdktrace.Link) []byte {
	m := openLen(&b, num, 1)
	sc := l.SpanContext
	tid, sid := sc.TraceID(), sc.SpanID()
	b = appendBytes(b, linkTraceID, tid[:])
	b = appendBytes(b, linkSpanID, sid[:])
	// The stock transform leaves Link.trace_state empty; the proto (and
	// the other language SDKs) carry it.
	b = appendTraceState(b, linkTraceState, sc.TraceState())
	for _, kv := range l.Attributes {
		b = appendKeyValue(b, linkAttributes, kv.Key, kv.Value)
	}
	b = appendVarint(b, linkDroppedAttributes, clampUint32(l.DroppedAttributeCount))
	b = appendFixed32(b, linkFlags, spanFlagsFor(sc.TraceFlags(), sc))
	return closeLen(b, m, 1)
}

// appendStatus always appends the field, empty or not, as the stock
// transform always sets Span.status.
func appendStatus(b []byte, num protowire.Number, code codes.Code, msg string) []byte {
	var c uint64
	switch code {
	case codes.Ok:
		c = statusCodeOK
	case codes.Error:
		c = statusCodeError
	}
	n := 0
	if msg != "" {
		n += 1 + protowire.SizeBytes(len(msg))
	}
	if c != 0 {
		n += 1 + protowire.SizeVarint(c)
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(n))
	b = appendString(b, statusMessage, msg)
	return appendVarint(b, statusCode, c)
}

// spanFlagsFor is the stock transform's buildSpanFlagsWith: the W3C trace
// flags in the low byte, "has is_remote" always set, "is_remote" when the
// parent (for a span) or the linked context (for a link) is remote.
func spanFlagsFor(tf trace.TraceFlags, ctx trace.SpanContext) uint32 {
	f := uint32(tf) | flagsHasIsRemote
	if ctx.IsRemote() {
		f |= flagsIsRemote
	}
	return f
}

func otlpKind(k trace.SpanKind) int {
	switch k {
	case trace.SpanKindInternal:
		return 1
	case trace.SpanKindServer:
		return 2
	case trace.SpanKindClient:
		return 3
	case trace.SpanKindProducer:
		return 4
	case trace.SpanKindConsumer:
		return 5
	default:
		return 0
	}
}

func unixNano(ns int64) uint64 { return uint64(max(0, ns)) }

func clampUint32(v int) uint64 {
	if v < 0 {
		return 0
	}
	if int64(v) > math.MaxUint32 {
		return math.MaxUint32
	}
	return uint64(v)
}

// appendTraceState appends ts in its W3C header form ("k1=v1,k2=v2"), as
// TraceState.String would, without building the string.
func appendTraceState(b []byte, num protowire.Number, ts trace.TraceState) []byte {
	members := ts.Len()
	if members == 0 {
		return b
	}
	n := 2*members - 1 // '=' per member, ',' between members
	ts.Walk(func(k, v string) bool {
		n += len(k) + len(v)
		return true
	})
	b = protowire.AppendTag(b, num, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(n))
	first := true
	ts.Walk(func(k, v string) bool {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, k...)
		b = append(b, '=')
		b = append(b, v...)
		return true
	})
	return b
}

// ---------------------------------------------------------------------------
// Attributes.

// appendKeyValue appends a KeyValue field. Scalar values get their exact
// length up front; composite ones (slices, maps) go through openLen. This is
// the hot path: a server span is mostly scalar attributes.
func appendKeyValue(b []byte, num protowire.Number, key attribute.Key, v attribute.Value) []byte {
	sc, ok := toScalar(v)
	if !ok {
		m := openLen(&b, num, 2)
		b = appendString(b, kvKey, string(key))
		b = appendAnyValue(b, kvValue, v)
		return closeLen(b, m, 2)
	}
	n := 1 + sizeLen(sc.size) + sc.size
	if key != "" {
		n += 1 + sizeLen(len(key)) + len(key)
	}
	b = appendTag(b, num, protowire.BytesType)
	b = appendLen(b, n)
	if key != "" {
		b = appendTag(b, kvKey, protowire.BytesType)
		b = appendLen(b, len(key))
		b = append(b, key...)
	}
	b = appendTag(b, kvValue, protowire.BytesType)
	b = appendLen(b, sc.size)
	return sc.appendTo(b)
}

// appendAnyValue appends v as an AnyValue field.
func appendAnyValue(b []byte, num protowire.Number, v attribute.Value) []byte {
	if sc, ok := toScalar(v); ok {
		b = appendTag(b, num, protowire.BytesType)
		b = appendLen(b, sc.size)
		return sc.appendTo(b)
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	switch v.Type() {
	case attribute.BYTESLICE:
		bs := v.AsByteSlice()
		b = protowire.AppendVarint(b, uint64(1+protowire.SizeBytes(len(bs))))
		b = protowire.AppendTag(b, anyBytes, protowire.BytesType)
		return protowire.AppendBytes(b, bs)
	case attribute.BOOLSLICE:
		vs := v.AsBoolSlice()
		arr := 4 * len(vs) // each element: tag, len 2, tag, 0|1
		b = appendArrayHeader(b, arr)
		for _, x := range vs {
			b = append(b, byte(protowire.EncodeTag(listValues, protowire.BytesType)), 2)
			b = appendBoolField(b, anyBool, x)
		}
		return b
	case attribute.INT64SLICE:
		vs := v.AsInt64Slice()
		arr := 0
		for _, x := range vs {
			arr += 1 + protowire.SizeBytes(1+protowire.SizeVarint(uint64(x)))
		}
		b = appendArrayHeader(b, arr)
		for _, x := range vs {
			b = protowire.AppendTag(b, listValues, protowire.BytesType)
			b = protowire.AppendVarint(b, uint64(1+protowire.SizeVarint(uint64(x))))
			b = protowire.AppendTag(b, anyInt, protowire.VarintType)
			b = protowire.AppendVarint(b, uint64(x))
		}
		return b
	case attribute.FLOAT64SLICE:
		vs := v.AsFloat64Slice()
		b = appendArrayHeader(b, 11*len(vs)) // tag, len 9, tag, 8 bytes
		for _, x := range vs {
			b = append(b, byte(protowire.EncodeTag(listValues, protowire.BytesType)), 9)
			b = protowire.AppendTag(b, anyDouble, protowire.Fixed64Type)
			b = protowire.AppendFixed64(b, math.Float64bits(x))
		}
		return b
	case attribute.STRINGSLICE:
		vs := v.AsStringSlice()
		arr := 0
		for _, x := range vs {
			arr += 1 + protowire.SizeBytes(1+protowire.SizeBytes(len(x)))
		}
		b = appendArrayHeader(b, arr)
		for _, x := range vs {
			b = protowire.AppendTag(b, listValues, protowire.BytesType)
			b = protowire.AppendVarint(b, uint64(1+protowire.SizeBytes(len(x))))
			b = protowire.AppendTag(b, anyString, protowire.BytesType)
			b = protowire.AppendString(b, x)
		}
		return b
	case attribute.SLICE:
		vs := v.AsSlice()
		m := reserve(&b, 2)
		a := openLen(&b, anyArray, 2)
		for _, x := range vs {
			b = appendAnyValue(b, listValues, x)
		}
		b = closeLen(b, a, 2)
		return closeLen(b, m, 2)
	case attribute.MAP:
		kvs := v.AsMap()
		m := reserve(&b, 2)
		l := openLen(&b, anyKvlist, 2)
		for _, kv := range kvs {
			b = appendKeyValue(b, listValues, kv.Key, kv.Value)
		}
		b = closeLen(b, l, 2)
		return closeLen(b, m, 2)
	}
	// Unreachable: toScalar covers every other type.
	return protowire.AppendVarint(b, 0)
}

// appendArrayHeader appends the length of an AnyValue holding an ArrayValue
// of arr bytes, then the array_value tag and length.
func appendArrayHeader(b []byte, arr int) []byte {
	b = protowire.AppendVarint(b, uint64(1+protowire.SizeBytes(arr)))
	b = protowire.AppendTag(b, anyArray, protowire.BytesType)
	return protowire.AppendVarint(b, uint64(arr))
}

// invalid is what the stock transform sends for a value of unknown type.
const invalid = "INVALID"

// scalar is an AnyValue whose size is known without fetching a slice: the
// EMPTY, BOOL, INT64, FLOAT64 and STRING types (and unknown ones, sent as
// the string "INVALID" like the stock transform does).
type scalar struct {
	typ  attribute.Type
	bits uint64 // BOOL, INT64, FLOAT64
	str  string // STRING
	size int    // encoded AnyValue body
}

func toScalar(v attribute.Value) (scalar, bool) {
	switch t := v.Type(); t {
	case attribute.EMPTY:
		return scalar{typ: t}, true
	case attribute.BOOL:
		var u uint64
		if v.AsBool() {
			u = 1
		}
		return scalar{typ: t, bits: u, size: 2}, true
	case attribute.INT64:
		u := uint64(v.AsInt64())
		return scalar{typ: t, bits: u, size: 1 + protowire.SizeVarint(u)}, true
	case attribute.FLOAT64:
		return scalar{typ: t, bits: math.Float64bits(v.AsFloat64()), size: 9}, true
	case attribute.STRING:
		s := v.AsString()
		return scalar{typ: t, str: s, size: 1 + sizeLen(len(s)) + len(s)}, true
	case attribute.BOOLSLICE, attribute.INT64SLICE, attribute.FLOAT64SLICE,
		attribute.STRINGSLICE, attribute.BYTESLICE, attribute.SLICE, attribute.MAP:
		return scalar{}, false
	default:
		return scalar{typ: attribute.STRING, str: invalid, size: 1 + 1 + len(invalid)}, true
	}
}

// appendTo appends the AnyValue body (the oneof member, always written
// even at its zero value).
func (sc *scalar) appendTo(b []byte) []byte {
	switch sc.typ {
	case attribute.BOOL:
		return append(b, byte(protowire.EncodeTag(anyBool, protowire.VarintType)), byte(sc.bits))
	case attribute.INT64:
		b = appendTag(b, anyInt, protowire.VarintType)
		return protowire.AppendVarint(b, sc.bits)
	case attribute.FLOAT64:
		b = appendTag(b, anyDouble, protowire.Fixed64Type)
		return protowire.AppendFixed64(b, sc.bits)
	case attribute.STRING:
		b = appendTag(b, anyString, protowire.BytesType)
		b = appendLen(b, len(sc.str))
		return append(b, sc.str...)
	}
	return b // EMPTY
}

// ---------------------------------------------------------------------------
// Wire helpers. Proto3 rules: scalar fields at their zero value are omitted;
// oneof members (appendBoolField inside AnyValue) are always written.

// appendTag appends the tag of a field numbered below 16 (one byte), which
// every field written through it is.
func appendTag(b []byte, num protowire.Number, typ protowire.Type) []byte {
	return append(b, byte(protowire.EncodeTag(num, typ)))
}

// appendLen appends a length varint, inlined for the common one-byte case.
func appendLen(b []byte, n int) []byte {
	if n < 0x80 {
		return append(b, byte(n))
	}
	return protowire.AppendVarint(b, uint64(n))
}

func sizeLen(n int) int {
	if n < 0x80 {
		return 1
	}
	return protowire.SizeVarint(uint64(n))
}

func appendString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func appendBytes(b []byte, num protowire.Number, v []byte) []byte {
	if len(v) == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

func appendVarint(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func appendFixed64(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.Fixed64Type)
	return protowire.AppendFixed64(b, v)
}

func appendFixed32(b []byte, num protowire.Number, v uint32) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.Fixed32Type)
	return protowire.AppendFixed32(b, v)
}

func appendBoolField(b []byte, num protowire.Number, v bool) []byte {
	b = protowire.AppendTag(b, num, protowire.VarintType)
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

var zeros [10]byte // the longest varint

// openLen appends to *b the tag of a length-delimited field and reserves
// hint bytes for its length, to be filled in by closeLen once the body is
// written. It returns the offset of the reservation. (It takes *b rather than
// returning b so that callers in nested blocks cannot shadow b with :=.)
func openLen(b *[]byte, num protowire.Number, hint int) int {
	*b = protowire.AppendTag(*b, num, protowire.BytesType)
	return reserve(b, hint)
}

func reserve(b *[]byte, hint int) int {
	at := len(*b)
	*b = append(*b, zeros[:hint]...)
	return at
}

// closeLen writes the length of the body that follows the hint bytes
// reserved at offset at. When the length does not take exactly hint bytes
// as a varint, the body is moved so that the encoding stays minimal: hints
// are chosen so that this is rare.
func closeLen(b []byte, at, hint int) []byte {
	n := len(b) - at - hint
	size := protowire.SizeVarint(uint64(n))
	switch {
	case size > hint:
		b = append(b, zeros[:size-hint]...)
		copy(b[at+size:], b[at+hint:at+hint+n])
	case size < hint:
		copy(b[at+size:], b[at+hint:])
		b = b[:at+size+n]
	}
	v := uint64(n)
	for i := at; v >= 0x80; i++ {
		b[i] = byte(v) | 0x80
		v >>= 7
	}
	b[at+size-1] = byte(v)
	return b
}
