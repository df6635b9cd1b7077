package gateway

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hopscope/hopscope/correlate"
	"github.com/hopscope/hopscope/internal/contract"
	"github.com/hopscope/hopscope/internal/otlpwire"
)

// Resolution is the precision given to span durations: gateways stamp
// spans in microseconds (Envoy) or finer.
const Resolution = time.Microsecond

// Attributes read besides the semantic conventions' (internal/contract).
const (
	attrUpstreamCluster = "upstream_cluster"  // Envoy
	attrUpstreamAddress = "upstream_address"  // Envoy
	attrGUIDRequestID   = "guid:x-request-id" // Envoy
	attrHTTPHost        = "http.host"
	attrHTTPTarget      = "http.target"
)

// Batch gathers the gateway spans of one OTLP export request: Add every
// span, then Results. A Batch is used by one goroutine. Only gateway
// server spans are kept; a request without any costs no more than the
// checks of its server spans and of each resource once.
type Batch struct {
	m       *Matcher
	servers []held
	// The last resource looked at and whether it matched: the spans of
	// one resource come together.
	lastRes  *byte
	lastOK   bool
	lastSeen bool
}

// held is a span kept until Results; its slices alias the request.
type held struct {
	res otlpwire.Resource
	sp  otlpwire.Span
}

// NewBatch returns an empty batch for one request.
func (m *Matcher) NewBatch() *Batch { return &Batch{m: m} }

// Add looks at one span of the request (its views must stay valid until
// Results). It reports whether the span is the gateway's (a gateway's
// server span, or a client span of a gateway's resource): the caller
// maps it to no other record.
func (b *Batch) Add(res *otlpwire.Resource, sp *otlpwire.Span) bool {
	if sp.Kind != kindServer && sp.Kind != kindClient || sp.End < sp.Start {
		return false
	}
	resMatch := b.resource(res)
	if sp.Kind == kindClient {
		return resMatch
	}
	if !b.m.serverSpan(resMatch, sp) {
		return false
	}
	b.servers = append(b.servers, held{res: *res, sp: *sp})
	return true
}

func (b *Batch) resource(res *otlpwire.Resource) bool {
	var p *byte
	if len(res.Raw) > 0 {
		p = &res.Raw[0]
	}
	if b.lastSeen && p == b.lastRes {
		return b.lastOK
	}
	b.lastRes, b.lastOK, b.lastSeen = p, b.m.Resource(res), true
	return b.lastOK
}

// Result is one gateway server span's ingress record.
type Result struct {
	// TraceID is the span's trace id.
	TraceID correlate.TraceID
	// Ingress is the record, without keys but the request id: the caller
	// files it under TraceID.
	Ingress *correlate.IngressLog
	// TrySpanIDs are the span ids of the client spans taken as its tries,
	// so that the caller drops any backend call it made of them.
	TrySpanIDs []correlate.SpanID
}

// Results maps every gateway server span of the request to its record,
// with the client spans of the same service and trace within it as tries.
// body is the request Add's spans came from: it is walked again for the
// client spans only when there is a gateway server span.
func (b *Batch) Results(body []byte) []Result {
	if len(b.servers) == 0 {
		return nil
	}
	traces := make(map[string]bool, len(b.servers))
	for _, s := range b.servers {
		traces[string(s.sp.TraceID)] = true
	}
	var clients []held
	_ = otlpwire.Walk(body, func(res *otlpwire.Resource, _ *otlpwire.Scope, sp *otlpwire.Span) error {
		if sp.Kind == kindClient && sp.End >= sp.Start && traces[string(sp.TraceID)] {
			clients = append(clients, held{res: *res, sp: *sp})
		}
		return nil
	}) // the first walk found the request well formed
	out := make([]Result, 0, len(b.servers))
	for i := range b.servers {
		s := &b.servers[i]
		rec := ingressOf(&s.sp)
		service := serviceOf(&s.res)
		var ids []correlate.SpanID
		var tries []held
		for _, c := range clients {
			if string(c.sp.TraceID) == string(s.sp.TraceID) && c.sp.Start >= s.sp.Start && c.sp.End <= s.sp.End &&
				serviceOf(&c.res) == service {
				tries = append(tries, c)
			}
		}
		slices.SortStableFunc(tries, func(a, b held) int {
			switch {
			case a.sp.Start < b.sp.Start:
				return -1
			case a.sp.Start > b.sp.Start:
				return 1
			}
			return 0
		})
		for _, c := range tries {
			rec.Tries = append(rec.Tries, tryOf(&c.sp))
			ids = append(ids, correlate.SpanIDOf(c.sp.SpanID))
		}
		out = append(out, Result{TraceID: correlate.TraceID(s.sp.TraceID), Ingress: rec, TrySpanIDs: ids})
	}
	return out
}

func serviceOf(res *otlpwire.Resource) string {
	if v, ok := res.Attr(contract.AttrServiceName); ok {
		return v.String()
	}
	return ""
}

// ingressOf maps a gateway's server span to its record.
func ingressOf(sp *otlpwire.Span) *correlate.IngressLog {
	rec := &correlate.IngressLog{
		Start:       time.Unix(0, int64(sp.Start)).UTC(),
		RequestTime: time.Duration(sp.End - sp.Start),
		Resolution:  Resolution,
	}
	var path, target, url, host, serverAddr string
	sp.EachAttr(func(k []byte, v otlpwire.Value) {
		switch string(k) {
		case contract.AttrHTTPRequestMethod, contract.AttrHTTPMethodOld:
			rec.Method = v.String()
		case contract.AttrHTTPResponseStatusCode, contract.AttrHTTPStatusCodeOld:
			rec.Status = statusOf(v)
		case contract.AttrURLPath:
			path = v.String()
		case attrHTTPTarget:
			target = v.String()
		case contract.AttrURLFull, contract.AttrHTTPURLOld:
			url = v.String()
		case attrHTTPHost:
			host = v.String()
		case contract.AttrServerAddress:
			serverAddr = v.String()
		case attrGUIDRequestID:
			rec.RequestID = v.String()
		case attrUpstreamCluster:
			rec.Upstream = v.String()
		}
	})
	switch {
	case path != "":
		rec.Path = path
	case target != "":
		rec.Path = pathOf(target)
	case url != "":
		rec.Path = pathOf(url)
	}
	rec.Host = host
	if rec.Host == "" {
		rec.Host = serverAddr
	}
	return rec
}

// tryOf maps a gateway's client span to one upstream attempt.
func tryOf(sp *otlpwire.Span) correlate.UpstreamTry {
	t := correlate.UpstreamTry{Response: time.Duration(sp.End - sp.Start)}
	var addr, port string
	sp.EachAttr(func(k []byte, v otlpwire.Value) {
		switch string(k) {
		case attrUpstreamAddress:
			t.Addr = v.String()
		case contract.AttrServerAddress:
			addr = v.String()
		case contract.AttrServerPort:
			port = v.String()
		case contract.AttrHTTPResponseStatusCode, contract.AttrHTTPStatusCodeOld:
			t.Status = statusOf(v)
		}
	})
	if t.Addr == "" && addr != "" {
		t.Addr = addr
		if port != "" {
			t.Addr += ":" + port
		}
	}
	return t
}

// statusOf reads an HTTP status written as an int or as text (Envoy
// writes its tags as strings); 0 when neither.
func statusOf(v otlpwire.Value) int {
	switch v.Type {
	case otlpwire.TypeInt:
		if v.Int > 0 && v.Int < 1000 {
			return int(v.Int)
		}
	case otlpwire.TypeString:
		if n, err := strconv.Atoi(string(v.Str)); err == nil && n > 0 && n < 1000 {
			return n
		}
	}
	return 0
}

// pathOf returns the path of a request target in origin form ("/p?q")
// or absolute form ("https://host/p?q"), without query and fragment; ""
// for anything else.
func pathOf(target string) string {
	if !strings.HasPrefix(target, "/") {
		i := strings.Index(target, "://")
		if i <= 0 {
			return ""
		}
		rest := target[i+3:]
		j := strings.IndexAny(rest, "/?#")
		if j < 0 || rest[j] != '/' {
			return ""
		}
		target = rest[j:]
	}
	if j := strings.IndexAny(target, "?#"); j >= 0 {
		target = target[:j]
	}
	return target
}
