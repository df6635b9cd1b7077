package collector

import (
	"bytes"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/hopscope/hopscope/correlate"
	"github.com/hopscope/hopscope/internal/contract"
	"github.com/hopscope/hopscope/internal/otlpwire"
)

func msDuration(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }

// OTLP span kinds and status codes (opentelemetry.proto.trace.v1).
const (
	kindServer      = 2
	kindClient      = 3
	statusCodeError = 2
)

// spanFields are the attributes spanRecord reads, gathered in one pass,
// as they are in the request's bytes: spanRecord makes text of those it
// keeps, interned (intern.go) where they come from a small set.
type spanFields struct {
	component, requestID, xrayRoot, method, route           otlpwire.Value
	status                                                  int
	appMS, appStartMS                                       float64
	serverAddr, serverPort, dbSystem, dbOp, dbStmt, urlFull otlpwire.Value
	rpcSystem, rpcMethod                                    otlpwire.Value
	attribution, reason                                     otlpwire.Value
}

func gather(sp *otlpwire.Span) spanFields {
	var f spanFields
	sp.EachAttr(func(k []byte, v otlpwire.Value) {
		switch string(k) {
		case contract.AttrComponent:
			f.component = v
		case contract.AttrRequestID:
			f.requestID = v
		case contract.AttrXRayRoot:
			f.xrayRoot = v
		case contract.AttrHTTPRequestMethod, contract.AttrHTTPMethodOld:
			f.method = v
		case contract.AttrHTTPRoute:
			f.route = v
		case contract.AttrHTTPResponseStatusCode, contract.AttrHTTPStatusCodeOld:
			f.status = statusOf(v)
		case contract.AttrAppDurationMS:
			f.appMS, _ = v.Float()
		case contract.AttrAppStartMS:
			f.appStartMS, _ = v.Float()
		case contract.AttrServerAddress, contract.AttrNetPeerNameOld:
			f.serverAddr = v
		case contract.AttrNetworkPeerAddress:
			if !f.serverAddr.HasText() {
				f.serverAddr = v
			}
		case contract.AttrServerPort, contract.AttrNetPeerPortOld:
			f.serverPort = v
		case contract.AttrDBSystemName, contract.AttrDBSystemOld:
			f.dbSystem = v
		case contract.AttrDBOperationName, contract.AttrDBOperationOld:
			f.dbOp = v
		case contract.AttrDBQueryText, contract.AttrDBStatementOld:
			f.dbStmt = v
		case contract.AttrURLFull, contract.AttrHTTPURLOld:
			f.urlFull = v
		case contract.AttrRPCSystem:
			f.rpcSystem = v
		case contract.AttrRPCMethod:
			f.rpcMethod = v
		case contract.AttrAttribution:
			f.attribution = v
		case contract.AttrAttributionReason:
			f.reason = v
		}
	})
	return f
}

// statusOf reads an HTTP status code written as an int (as the sidecar
// and the SDKs do) or as text, without making text of an int and parsing
// it back (which allocated an error for every span without one); 0 when
// neither.
func statusOf(v otlpwire.Value) int {
	switch v.Type {
	case otlpwire.TypeInt:
		if v.Int > 0 && v.Int < 1000 {
			return int(v.Int)
		}
	case otlpwire.TypeString:
		// Atoi of anything but digits allocates its error: an empty or
		// non-numeric status (a span without one) is 0 without asking it.
		if numeric(v.Str) {
			if n, err := strconv.Atoi(string(v.Str)); err == nil {
				return n
			}
		}
	}
	return 0
}

// numeric reports whether b is what strconv.Atoi can read: an optional
// sign and at least one decimal digit.
func numeric(b []byte) bool {
	if len(b) > 0 && (b[0] == '+' || b[0] == '-') {
		b = b[1:]
	}
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// spanRecord maps one OTLP span to the correlate record it stands for
// (without its trace id, which stays binary: consumeOTLP files the record
// under it with Store.AddTrace): the
// hopscope sidecar's server span (attributes: internal/contract), or an app's client span to a backend.
// Other spans (the app's own server and internal spans) give no record;
// they are only forwarded to the trace backend. The kind is checked before
// any attribute, and the attributes are read in one pass.
func spanRecord(in *interner, a *recordArena, res *otlpwire.Resource, sp *otlpwire.Span) correlate.Record {
	if len(sp.TraceID) != 16 || sp.End < sp.Start || (sp.Kind != kindServer && sp.Kind != kindClient) {
		return nil
	}
	f := gather(sp)
	start := time.Unix(0, int64(sp.Start))
	dur := time.Duration(sp.End - sp.Start)
	if sp.Kind == kindServer {
		rf := a.resource(in, res)
		if !f.component.Is(contract.ComponentSidecar) && !rf.sidecar {
			return nil
		}
		r := a.sidecar()
		*r = correlate.SidecarSpan{
			// The request's own ids are not interned: one per request.
			Keys:   correlate.Keys{RequestID: f.requestID.String(), XRayRoot: f.xrayRoot.String()},
			SpanID: correlate.SpanIDOf(sp.SpanID), ParentSpanID: correlate.SpanIDOf(sp.ParentSpanID),
			Service: rf.service, Namespace: rf.namespace,
			Method: in.value(f.method), Route: in.value(f.route), Status: f.status, Start: start, Duration: dur,
			App: msDuration(f.appMS), AppStart: msDuration(f.appStartMS)}
		return r
	}
	kind, op, target := backendOf(in, f, sp.Name)
	if kind == "" {
		return nil
	}
	at := attributionOf(f.attribution)
	r := a.backend()
	*r = correlate.BackendCall{
		SpanID: correlate.SpanIDOf(sp.SpanID), ParentSpanID: correlate.SpanIDOf(sp.ParentSpanID),
		Kind: kind, Target: target, Operation: op, Start: start, Duration: dur,
		Error: sp.StatusCode == statusCodeError, Attribution: at, Reason: reasonOf(at, f.reason)}
	return r
}

// recordArena hands out the records of one request's spans from chunks
// instead of one allocation each: the store copies a record into the
// trace's slice when it files it (correlate.Store.AddTrace) and keeps no
// pointer to it, so the records only live as long as the request. The
// chunks grow from 4 records to 256, so that a sidecar's small request
// takes little, and are kept for the next request (reset; the arena lives
// in consumeOTLP's pooled grouping): writing records into memory already
// in the cache, rather than fresh chunks, was a third of the mapping's
// cost. A nil arena allocates each record.
type recordArena struct {
	sidecars arenaOf[correlate.SidecarSpan]
	backends arenaOf[correlate.BackendCall]
	// res is what the mapping reads of the resource last seen (its Raw
	// aliases the request), read once for all of its spans.
	res    resourceFields
	resSet bool
}

// reset makes the arena's records free for the next request; the request
// goes with it (res points into its bytes).
func (a *recordArena) reset() {
	a.sidecars.reset()
	a.backends.reset()
	a.res, a.resSet = resourceFields{}, false
}

// arenaOf is recordArena's chunks of one record type.
type arenaOf[T any] struct {
	chunks    [][]T
	cur, used int // chunk handing out, records handed out of it
}

func (a *arenaOf[T]) next() *T {
	for a.cur < len(a.chunks) && a.used == len(a.chunks[a.cur]) {
		a.cur, a.used = a.cur+1, 0
	}
	if a.cur == len(a.chunks) {
		size := 4
		if n := len(a.chunks); n > 0 {
			size = min(2*len(a.chunks[n-1]), maxArenaChunk)
		}
		a.chunks = append(a.chunks, make([]T, size))
	}
	a.used++
	return &a.chunks[a.cur][a.used-1]
}

// reset hands the chunks out again from the first. Their records are not
// cleared: each is written whole when handed out, and what they point to
// (interned strings, request ids) is small and goes when overwritten.
func (a *arenaOf[T]) reset() { a.cur, a.used = 0, 0 }

// records is how many records the chunks hold.
func (a *arenaOf[T]) records() int {
	n := 0
	for _, c := range a.chunks {
		n += len(c)
	}
	return n
}

// resourceFields are the resource attributes a sidecar span's record
// takes.
type resourceFields struct {
	raw                []byte
	sidecar            bool
	service, namespace string
}

// resource reads res's fields, once per resource of the request: a
// resource's spans come one after the other, and looking its attributes
// up for each of them was 7% of the collector's CPU.
func (a *recordArena) resource(in *interner, res *otlpwire.Resource) resourceFields {
	if a != nil && a.resSet && sameBytes(a.res.raw, res.Raw) {
		return a.res
	}
	f := resourceFields{raw: res.Raw, sidecar: resIs(res, contract.AttrComponent, contract.ComponentSidecar),
		service: resValue(in, res, contract.AttrServiceName), namespace: resValue(in, res, contract.AttrK8sNamespaceName)}
	if a != nil {
		a.res, a.resSet = f, true
	}
	return f
}

// sameBytes reports whether a and b are the same bytes of memory.
func sameBytes(a, b []byte) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

const maxArenaChunk = 256

func (a *recordArena) sidecar() *correlate.SidecarSpan {
	if a == nil {
		return new(correlate.SidecarSpan)
	}
	return a.sidecars.next()
}

func (a *recordArena) backend() *correlate.BackendCall {
	if a == nil {
		return new(correlate.BackendCall)
	}
	return a.backends.next()
}

// resIs reports whether the resource's attribute key is the text s.
func resIs(res *otlpwire.Resource, key, s string) bool {
	v, ok := res.Attr(key)
	return ok && v.Is(s)
}

// resValue is the resource's attribute key as text, interned.
func resValue(in *interner, res *otlpwire.Resource, key string) string {
	v, _ := res.Attr(key)
	return in.value(v)
}

// reasonOf reads hopscope.attribution.reason of an inferred call: one of
// the known reasons, else "" (the set stays bounded).
func reasonOf(a correlate.Attribution, v otlpwire.Value) correlate.AttributionReason {
	if a != correlate.AttributionInferred {
		return ""
	}
	for _, r := range []correlate.AttributionReason{correlate.ReasonSole, correlate.ReasonValue, correlate.ReasonRoute, correlate.ReasonOrder} {
		if v.Is(string(r)) {
			return r
		}
	}
	return ""
}

// attributionOf reads a sidecar backend proxy's hopscope.attribution; an
// app's own client span runs inside the request's context: exact.
func attributionOf(v otlpwire.Value) correlate.Attribution {
	for _, a := range []correlate.Attribution{correlate.AttributionInferred, correlate.AttributionAmbiguous} {
		if v.Is(string(a)) {
			return a
		}
	}
	return correlate.AttributionExact
}

// backendOf classifies a client span by the OpenTelemetry semantic
// conventions (old and new attribute names). What it returns is interned
// but for a target taken from the full URL.
func backendOf(in *interner, f spanFields, name []byte) (kind, op, target string) {
	if f.serverAddr.HasText() {
		if f.serverPort.HasText() {
			var buf [128]byte
			b := f.serverAddr.AppendText(buf[:0])
			b = append(b, ':')
			target = in.bytes(f.serverPort.AppendText(b))
		} else {
			target = in.value(f.serverAddr)
		}
	}
	if f.dbSystem.HasText() {
		kind = in.value(f.dbSystem)
		if kind == contract.DBSystemPostgreSQL {
			kind = contract.HopPostgres
		}
		op = in.value(f.dbOp)
		if op == "" {
			op = statementVerb(in, f.dbStmt)
		}
		if op == "" {
			op = in.bytes(name)
		}
		return kind, op, target
	}
	if f.method.HasText() {
		if target == "" {
			target = f.urlFull.String()
		}
		return contract.HopHTTPEgress, in.value(f.method), target
	}
	if f.rpcSystem.HasText() {
		return in.value(f.rpcSystem), in.value(f.rpcMethod), target
	}
	return "", "", ""
}

// statementVerb is the first word of a statement, upper-cased, as
// strings.Fields and strings.ToUpper would make it, interned.
func statementVerb(in *interner, v otlpwire.Value) string {
	if v.Type != otlpwire.TypeString {
		return strings.ToUpper(firstField(v.String()))
	}
	w := bytes.TrimLeftFunc(v.Str, unicode.IsSpace)
	if i := bytes.IndexFunc(w, unicode.IsSpace); i >= 0 {
		w = w[:i]
	}
	if len(w) == 0 {
		return ""
	}
	var buf [32]byte
	up := buf[:0]
	for _, c := range w {
		if c >= 0x80 {
			return in.text(strings.ToUpper(string(w)))
		}
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		up = append(up, c)
	}
	return in.bytes(up)
}

func firstField(s string) string {
	if w := strings.Fields(s); len(w) > 0 {
		return w[0]
	}
	return ""
}
