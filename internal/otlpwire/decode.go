package otlpwire

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"unsafe"

	"google.golang.org/protobuf/encoding/protowire"
)

// Decoding: the collector reads every received span but keeps only a few
// fields of a few of them, and forwards the rest unchanged. Walk visits
// the spans of an ExportTraceServiceRequest in its wire bytes without
// materializing them: each Span is a view (sub-slices of the input), and
// the raw bytes of the span, its resource and its scope can be sent on as
// they came (AppendRequest).

// Resource is a view of one ResourceSpans' resource.
type Resource struct {
	// Raw is the Resource message; nil when absent.
	Raw []byte
	// SchemaURL is the ResourceSpans' schema_url.
	SchemaURL []byte
}

// Attr finds a resource attribute.
func (r *Resource) Attr(key string) (Value, bool) {
	return findAttr(r.Raw, resourceAttributes, key)
}

// Scope is a view of one ScopeSpans' instrumentation scope.
type Scope struct {
	// Raw is the InstrumentationScope message; nil when absent.
	Raw []byte
	// SchemaURL is the ScopeSpans' schema_url.
	SchemaURL []byte
}

// Span is a view of one span. Its slices alias the decoded input.
type Span struct {
	Raw                           []byte
	TraceID, SpanID, ParentSpanID []byte
	Name                          []byte
	// TraceState is the span's W3C tracestate, as the header carries it
	// ("k1=v1,k2=v2"; empty when none).
	TraceState []byte
	Kind       int32
	Start, End uint64
	StatusCode int32

	// attrs are the attributes Walk decoded while checking the span,
	// while gen is theirs: a copy of the view kept past its callback
	// finds the cache moved on to another span and reads Raw again.
	attrs *attrCache
	gen   uint64
}

// attrCache holds the decoded attributes of the span a Walk visits: the
// collector looks up several attributes of every span (its record
// mapping, the gateway matcher), which would each decode the attribute
// messages again.
type attrCache struct {
	gen uint64
	kvs []keyValue
}

type keyValue struct {
	key []byte
	val Value
}

// cached returns the span's decoded attributes, if Walk's cache still
// holds them.
func (s *Span) cached() ([]keyValue, bool) {
	if s.attrs == nil || s.attrs.gen != s.gen {
		return nil, false
	}
	return s.attrs.kvs, true
}

// Attr finds a span attribute.
func (s *Span) Attr(key string) (Value, bool) {
	if kvs, ok := s.cached(); ok {
		for i := range kvs {
			if string(kvs[i].key) == key {
				return kvs[i].val, true
			}
		}
		return Value{}, false
	}
	return findAttr(s.Raw, spanAttributes, key)
}

// EachAttr calls fn for every attribute of the span, in order, in one
// pass (cheaper than several Attr lookups).
func (s *Span) EachAttr(fn func(key []byte, v Value)) {
	if kvs, ok := s.cached(); ok {
		for i := range kvs {
			fn(kvs[i].key, kvs[i].val)
		}
		return
	}
	_ = eachField(s.Raw, spanAttributes, func(kv []byte) error {
		if k, v, err := parseKeyValue(kv); err == nil {
			fn(k, v)
		}
		return nil
	})
}

// Value types (Value.Type): the AnyValue field numbers of the scalars.
const (
	TypeString = anyString
	TypeBool   = anyBool
	TypeInt    = anyInt
	TypeDouble = anyDouble
)

// Value is an attribute's scalar value.
type Value struct {
	// Type is 1 string, 2 bool, 3 int, 4 double, 0 other (array, map,
	// bytes: not decoded).
	Type   int
	Str    []byte
	Int    int64
	Double float64
	Bool   bool
}

// String returns the value as text for strings and ints, else "".
func (v Value) String() string {
	switch v.Type {
	case anyString:
		return string(v.Str)
	case anyInt:
		return strconv.FormatInt(v.Int, 10)
	}
	return ""
}

// AppendText appends the value's text (String's) to b, without making a
// string of it.
func (v Value) AppendText(b []byte) []byte {
	switch v.Type {
	case anyString:
		return append(b, v.Str...)
	case anyInt:
		return strconv.AppendInt(b, v.Int, 10)
	}
	return b
}

// HasText reports whether String is not "".
func (v Value) HasText() bool {
	return (v.Type == anyString && len(v.Str) > 0) || v.Type == anyInt
}

// Is reports whether String is s, without making a string of the value.
func (v Value) Is(s string) bool {
	switch v.Type {
	case anyString:
		return string(v.Str) == s
	case anyInt:
		var buf [20]byte
		return string(strconv.AppendInt(buf[:0], v.Int, 10)) == s
	}
	return s == ""
}

// Float returns numbers as float64.
func (v Value) Float() (float64, bool) {
	switch v.Type {
	case anyDouble:
		return v.Double, true
	case anyInt:
		return float64(v.Int), true
	}
	return 0, false
}

// ErrMalformed wraps every decoding error.
var ErrMalformed = errors.New("malformed OTLP protobuf")

func malformed(where string, err error) error {
	return fmt.Errorf("%w: %s: %v", ErrMalformed, where, err)
}

// nextBytes returns the number and bytes of the next length-delimited
// field of msg, skipping the others, and what follows it; num is 0 when
// msg has no more. It is a loop step rather than a visitor taking a
// closure: Walk's loops would allocate their closures per message.
func nextBytes(msg []byte) (num protowire.Number, v, rest []byte, err error) {
	for len(msg) > 0 {
		num, typ, n := protowire.ConsumeTag(msg)
		if n < 0 {
			return 0, nil, nil, protowire.ParseError(n)
		}
		msg = msg[n:]
		if typ != protowire.BytesType {
			if n = protowire.ConsumeFieldValue(num, typ, msg); n < 0 {
				return 0, nil, nil, protowire.ParseError(n)
			}
			msg = msg[n:]
			continue
		}
		v, n := protowire.ConsumeBytes(msg)
		if n < 0 {
			return 0, nil, nil, protowire.ParseError(n)
		}
		return num, v, msg[n:], nil
	}
	return 0, nil, nil, nil
}

// Walk calls fn for every span of the ExportTraceServiceRequest in b. The
// views passed to fn are valid only during the call; their byte slices
// alias b. It returns the first decoding error or fn's error.
func Walk(b []byte, fn func(res *Resource, scope *Scope, span *Span) error) error {
	cache := new(attrCache)
	for rest := b; len(rest) > 0; {
		num, rs, r, err := nextBytes(rest)
		if err != nil {
			return malformed("ExportTraceServiceRequest", err)
		}
		rest = r
		if num != reqResourceSpans {
			continue
		}
		if err := walkResourceSpans(rs, cache, fn); err != nil {
			return err
		}
	}
	return nil
}

func walkResourceSpans(b []byte, cache *attrCache, fn func(*Resource, *Scope, *Span) error) error {
	var res Resource
	// The resource and schema may come after the scopes: found first, in
	// a pass that only skips the scopes' bytes.
	for rest := b; len(rest) > 0; {
		num, v, r, err := nextBytes(rest)
		if err != nil {
			return malformed("ResourceSpans", err)
		}
		rest = r
		switch num {
		case rsResource:
			res.Raw = v
		case rsSchemaURL:
			res.SchemaURL = v
		}
	}
	if res.Raw != nil {
		if err := validAttrs(res.Raw, resourceAttributes); err != nil {
			return malformed("resource", err)
		}
	}
	for rest := b; len(rest) > 0; {
		num, v, r, _ := nextBytes(rest) // read above without error
		rest = r
		if num != rsScopeSpans {
			continue
		}
		if err := walkScopeSpans(v, &res, cache, fn); err != nil {
			return err
		}
	}
	return nil
}

func walkScopeSpans(b []byte, res *Resource, cache *attrCache, fn func(*Resource, *Scope, *Span) error) error {
	var scope Scope
	// Like the resource, the scope may come after its spans.
	for rest := b; len(rest) > 0; {
		num, v, r, err := nextBytes(rest)
		if err != nil {
			return malformed("ScopeSpans", err)
		}
		rest = r
		switch num {
		case ssScope:
			scope.Raw = v
		case ssSchemaURL:
			scope.SchemaURL = v
		}
	}
	var sp Span
	for rest := b; len(rest) > 0; {
		num, raw, r, _ := nextBytes(rest) // read above without error
		rest = r
		if num != ssSpans {
			continue
		}
		if err := parseSpanCached(raw, &sp, cache); err != nil {
			return err
		}
		if err := fn(res, &scope, &sp); err != nil {
			return err
		}
	}
	return nil
}

// ParseSpan decodes one Span message into a view.
func ParseSpan(b []byte) (Span, error) {
	var s Span
	err := parseSpan(b, &s)
	return s, err
}

func parseSpan(b []byte, s *Span) error { return parseSpanCached(b, s, nil) }

// parseSpanCached is parseSpan keeping the span's decoded attributes in
// cache (when not nil) for the view's Attr and EachAttr.
func parseSpanCached(b []byte, s *Span, cache *attrCache) error {
	*s = Span{Raw: b}
	if cache != nil {
		cache.gen++
		cache.kvs = cache.kvs[:0]
		s.attrs, s.gen = cache, cache.gen
	}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return malformed("Span", protowire.ParseError(n))
		}
		b = b[n:]
		switch {
		case typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return malformed("Span", protowire.ParseError(n))
			}
			b = b[n:]
			switch num {
			case spanTraceID:
				s.TraceID = v
			case spanSpanID:
				s.SpanID = v
			case spanParentSpanID:
				s.ParentSpanID = v
			case spanName:
				s.Name = v
			case spanTraceState:
				s.TraceState = v
			case spanAttributes:
				k, val, err := parseKeyValue(v)
				if err != nil {
					return malformed("Span.attributes", err)
				}
				if cache != nil {
					cache.kvs = append(cache.kvs, keyValue{key: k, val: val})
				}
			case spanStatus:
				code, err := statusCodeOf(v)
				if err != nil {
					return malformed("Span.status", err)
				}
				s.StatusCode = code
			}
		case typ == protowire.VarintType && num == spanKind:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return malformed("Span.kind", protowire.ParseError(n))
			}
			b = b[n:]
			s.Kind = int32(v)
		case typ == protowire.Fixed64Type && (num == spanStartTime || num == spanEndTime):
			v, n := protowire.ConsumeFixed64(b)
			if n < 0 {
				return malformed("Span.time", protowire.ParseError(n))
			}
			b = b[n:]
			if num == spanStartTime {
				s.Start = v
			} else {
				s.End = v
			}
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return malformed("Span", protowire.ParseError(n))
			}
			b = b[n:]
		}
	}
	return nil
}

func statusCodeOf(b []byte) (int32, error) {
	var code int32
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return 0, protowire.ParseError(n)
		}
		b = b[n:]
		if num == statusCode && typ == protowire.VarintType {
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return 0, protowire.ParseError(n)
			}
			b = b[n:]
			code = int32(v)
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return 0, protowire.ParseError(n)
		}
		b = b[n:]
	}
	return code, nil
}

// validAttrs checks the KeyValue fields numbered field of a message.
func validAttrs(msg []byte, field protowire.Number) error {
	return eachField(msg, field, func(kv []byte) error {
		_, _, err := parseKeyValue(kv)
		return err
	})
}

// eachField calls fn with every field numbered field of msg. It is the
// attribute loop of the hot path: a loop of its own, because a closure
// handed to fields would be allocated per call.
func eachField(msg []byte, field protowire.Number, fn func([]byte) error) error {
	for len(msg) > 0 {
		num, typ, n := protowire.ConsumeTag(msg)
		if n < 0 {
			return protowire.ParseError(n)
		}
		msg = msg[n:]
		if num == field && typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(msg)
			if n < 0 {
				return protowire.ParseError(n)
			}
			msg = msg[n:]
			if err := fn(v); err != nil {
				return err
			}
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, msg)
		if n < 0 {
			return protowire.ParseError(n)
		}
		msg = msg[n:]
	}
	return nil
}

var errFound = errors.New("found")

// findAttr scans the attributes (field number field) of msg for key.
func findAttr(msg []byte, field protowire.Number, key string) (Value, bool) {
	var out Value
	err := eachField(msg, field, func(kv []byte) error {
		k, v, err := parseKeyValue(kv)
		if err != nil || string(k) != key {
			return nil
		}
		out = v
		return errFound
	})
	return out, err == errFound
}

// parseKeyValue decodes a KeyValue's key and scalar value.
func parseKeyValue(b []byte) (key []byte, val Value, err error) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, val, protowire.ParseError(n)
		}
		b = b[n:]
		if typ == protowire.BytesType && (num == kvKey || num == kvValue) {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return nil, val, protowire.ParseError(n)
			}
			b = b[n:]
			if num == kvKey {
				key = v
			} else if val, err = parseAnyValue(v); err != nil {
				return nil, val, err
			}
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return nil, val, protowire.ParseError(n)
		}
		b = b[n:]
	}
	return key, val, nil
}

func parseAnyValue(b []byte) (Value, error) {
	var v Value
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return v, protowire.ParseError(n)
		}
		b = b[n:]
		switch {
		case num == anyString && typ == protowire.BytesType:
			s, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return v, protowire.ParseError(n)
			}
			b = b[n:]
			v = Value{Type: anyString, Str: s}
		case (num == anyBool || num == anyInt) && typ == protowire.VarintType:
			x, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return v, protowire.ParseError(n)
			}
			b = b[n:]
			if num == anyBool {
				v = Value{Type: anyBool, Bool: x != 0}
			} else {
				v = Value{Type: anyInt, Int: int64(x)}
			}
		case num == anyDouble && typ == protowire.Fixed64Type:
			x, n := protowire.ConsumeFixed64(b)
			if n < 0 {
				return v, protowire.ParseError(n)
			}
			b = b[n:]
			v = Value{Type: anyDouble, Double: math.Float64frombits(x)}
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return v, protowire.ParseError(n)
			}
			b = b[n:]
			v = Value{}
		}
	}
	return v, nil
}

// Held is one span as it came, with the resource and scope it came under,
// for sending on with AppendRequest.
type Held struct {
	Resource, ResourceSchema []byte
	Scope, ScopeSchema       []byte
	Span                     []byte
}

// AppendRequest appends an ExportTraceServiceRequest holding spans,
// grouped under their resources and scopes (spans whose resource and scope
// bytes are the same slice, or equal, share a group), to b.
func AppendRequest(b []byte, spans []Held) []byte {
	type group struct {
		res, resSchema []byte
		scopes         []int // indexes into scopeGroups
	}
	type scopeGroup struct {
		scope, schema []byte
		spans         [][]byte
	}
	var groups []group
	var sgs []scopeGroup
	for _, h := range spans {
		gi := -1
		for i := range groups {
			if string(groups[i].res) == string(h.Resource) && string(groups[i].resSchema) == string(h.ResourceSchema) {
				gi = i
				break
			}
		}
		if gi < 0 {
			groups = append(groups, group{res: h.Resource, resSchema: h.ResourceSchema})
			gi = len(groups) - 1
		}
		si := -1
		for _, idx := range groups[gi].scopes {
			if string(sgs[idx].scope) == string(h.Scope) && string(sgs[idx].schema) == string(h.ScopeSchema) {
				si = idx
				break
			}
		}
		if si < 0 {
			sgs = append(sgs, scopeGroup{scope: h.Scope, schema: h.ScopeSchema})
			si = len(sgs) - 1
			groups[gi].scopes = append(groups[gi].scopes, si)
		}
		sgs[si].spans = append(sgs[si].spans, h.Span)
	}
	for _, g := range groups {
		var rs []byte
		if g.res != nil {
			rs = protowire.AppendTag(rs, rsResource, protowire.BytesType)
			rs = protowire.AppendBytes(rs, g.res)
		}
		for _, idx := range g.scopes {
			sg := sgs[idx]
			var ss []byte
			if sg.scope != nil {
				ss = protowire.AppendTag(ss, ssScope, protowire.BytesType)
				ss = protowire.AppendBytes(ss, sg.scope)
			}
			for _, sp := range sg.spans {
				ss = protowire.AppendTag(ss, ssSpans, protowire.BytesType)
				ss = protowire.AppendBytes(ss, sp)
			}
			if len(sg.schema) > 0 {
				ss = protowire.AppendTag(ss, ssSchemaURL, protowire.BytesType)
				ss = protowire.AppendBytes(ss, sg.schema)
			}
			rs = protowire.AppendTag(rs, rsScopeSpans, protowire.BytesType)
			rs = protowire.AppendBytes(rs, ss)
		}
		if len(g.resSchema) > 0 {
			rs = protowire.AppendTag(rs, rsSchemaURL, protowire.BytesType)
			rs = protowire.AppendBytes(rs, g.resSchema)
		}
		b = protowire.AppendTag(b, reqResourceSpans, protowire.BytesType)
		b = protowire.AppendBytes(b, rs)
	}
	return b
}

// Compact copies spans into one new allocation and returns them pointing
// into it, with the number of bytes it holds. Resources, scopes and schema
// URLs that spans share (the same bytes of the same request) are copied
// once. Held spans point into the request they were read from: kept for
// export as they are, one small span keeps a whole request of up to
// 16 MiB alive; compacted, what is held is what is counted.
func Compact(spans []Held) ([]Held, int) {
	// The shared parts of one trace's spans in one request are few (a
	// resource, a scope, their schemas): a short list, not a map.
	type part struct {
		p   *byte
		n   int
		off int // in the arena; -1 before it is copied
	}
	type key struct {
		p *byte
		n int
	}
	var shared []part
	var index map[key]int // past a few parts (spans with a resource each)
	find := func(b []byte) int {
		p := unsafe.SliceData(b)
		if index != nil {
			if i, ok := index[key{p, len(b)}]; ok {
				return i
			}
			return -1
		}
		for i := range shared {
			if shared[i].p == p && shared[i].n == len(b) {
				return i
			}
		}
		return -1
	}
	size := 0
	add := func(b []byte) {
		if len(b) == 0 || find(b) >= 0 {
			return
		}
		shared = append(shared, part{unsafe.SliceData(b), len(b), -1})
		size += len(b)
		switch {
		case index != nil:
			index[key{unsafe.SliceData(b), len(b)}] = len(shared) - 1
		case len(shared) > 16:
			index = make(map[key]int, 2*len(shared))
			for i, sp := range shared {
				index[key{sp.p, sp.n}] = i
			}
		}
	}
	for _, h := range spans {
		add(h.Resource)
		add(h.ResourceSchema)
		add(h.Scope)
		add(h.ScopeSchema)
		size += len(h.Span)
	}
	arena := make([]byte, 0, size)
	copyOf := func(b []byte) []byte {
		off := len(arena)
		arena = append(arena, b...)
		return arena[off:len(arena):len(arena)]
	}
	put := func(b []byte) []byte {
		if len(b) == 0 {
			return b[:0:0]
		}
		i := find(b)
		if shared[i].off < 0 {
			shared[i].off = len(arena)
			return copyOf(b)
		}
		return arena[shared[i].off : shared[i].off+len(b) : shared[i].off+len(b)]
	}
	out := make([]Held, len(spans))
	for i, h := range spans {
		out[i] = Held{Resource: put(h.Resource), ResourceSchema: put(h.ResourceSchema),
			Scope: put(h.Scope), ScopeSchema: put(h.ScopeSchema), Span: h.Span[:0:0]}
		if len(h.Span) > 0 {
			out[i].Span = copyOf(h.Span)
		}
	}
	return out, size
}
