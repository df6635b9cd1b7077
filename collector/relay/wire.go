package relay

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/hopscope/hopscope/correlate"
	"github.com/hopscope/hopscope/internal/otlpwire"
)

// SpanName, and the attribute names of a relayed record's span.
const (
	// SpanName is the name of every span that carries a relayed record.
	SpanName = "hopscope.relayed_record"
	// AttrType names the record's type: TypeIngress, TypeLoadBalancer or
	// TypeBrowser. A span without it is not a relayed record.
	AttrType = "hopscope.record.type"
	// AttrBody is the record's wire JSON.
	AttrBody = "hopscope.record.body"
	// AttrSource is the receiver that took the record in (the source
	// label of hopscope_collector_received_total).
	AttrSource = "hopscope.record.source"
	// AttrWhere is where in that receiver's input it was (file:line).
	AttrWhere = "hopscope.record.where"
	// ScopeName is the instrumentation scope of relayed records.
	ScopeName = "github.com/hopscope/hopscope/collector/relay"
)

// Record types.
const (
	TypeIngress      = "ingress"
	TypeLoadBalancer = "loadbalancer"
	TypeBrowser      = "browser"
)

// Item is one record with where it was taken in.
type Item struct {
	// Source and Where are the consumer.Input's.
	Source, Where string
	// Record is *correlate.IngressLog, *correlate.LoadBalancerLog or
	// *correlate.BrowserTiming.
	Record correlate.Record
	// ID is the trace id the record is routed by (RouteID).
	ID correlate.TraceID
}

// ErrNotRelayed: a span named SpanName that hopscope did not relay (no
// AttrType, an unknown type).
var ErrNotRelayed = errors.New("not a record relayed by a hopscope collector (no " + AttrType + ")")

// The wire forms: every field of the records, durations in nanoseconds
// and times as Unix nanoseconds, so that a relayed record joins exactly as
// the one parsed from the line (encoding/json of the records themselves
// would drop the upstream tries' timings, which are not part of the API).
type (
	wireKeys struct {
		TraceID   string `json:"trace_id,omitempty"`
		XRayRoot  string `json:"xray_root,omitempty"`
		RequestID string `json:"request_id,omitempty"`
	}
	wireTry struct {
		Addr     string `json:"addr,omitempty"`
		Status   int    `json:"status,omitempty"`
		Connect  int64  `json:"connect_ns,omitempty"`
		Header   int64  `json:"header_ns,omitempty"`
		Response int64  `json:"response_ns,omitempty"`
	}
	wireIngress struct {
		wireKeys
		Start       int64     `json:"start_unix_ns"`
		RequestTime int64     `json:"request_time_ns"`
		Tries       []wireTry `json:"tries,omitempty"`
		Resolution  int64     `json:"resolution_ns,omitempty"`
		Method      string    `json:"method,omitempty"`
		Path        string    `json:"path,omitempty"`
		Host        string    `json:"host,omitempty"`
		Status      int       `json:"status,omitempty"`
		Upstream    string    `json:"upstream,omitempty"`
	}
	wireLB struct {
		wireKeys
		Kind         string `json:"kind"`
		Start        int64  `json:"start_unix_ns"`
		Total        int64  `json:"total_ns"`
		Target       int64  `json:"target_ns"`
		Dispatched   bool   `json:"dispatched"`
		Resolution   int64  `json:"resolution_ns,omitempty"`
		Method       string `json:"method,omitempty"`
		Path         string `json:"path,omitempty"`
		Status       int    `json:"status,omitempty"`
		TargetAddr   string `json:"target_addr,omitempty"`
		TargetStatus int    `json:"target_status,omitempty"`
	}
	wireBrowser struct {
		wireKeys
		Page          string `json:"page,omitempty"`
		Initiator     string `json:"initiator,omitempty"`
		URL           string `json:"url,omitempty"`
		Start         int64  `json:"start_unix_ns"`
		Total         int64  `json:"total_ns"`
		DNS           int64  `json:"dns_ns"`
		Connect       int64  `json:"connect_ns"`
		TLS           int64  `json:"tls_ns,omitempty"`
		TLSStart      int64  `json:"tls_start_ns,omitempty"`
		ServerTime    int64  `json:"server_time_ns"`
		Download      int64  `json:"download_ns"`
		DNSStart      int64  `json:"dns_start_ns"`
		ConnectStart  int64  `json:"connect_start_ns"`
		RequestStart  int64  `json:"request_start_ns"`
		ResponseStart int64  `json:"response_start_ns"`
	}
)

func toWireKeys(k correlate.Keys) wireKeys {
	return wireKeys{TraceID: k.TraceID, XRayRoot: k.XRayRoot, RequestID: k.RequestID}
}

func (w wireKeys) keys() correlate.Keys {
	return correlate.Keys{TraceID: w.TraceID, XRayRoot: w.XRayRoot, RequestID: w.RequestID}
}

// unixNano is t as Unix nanoseconds; the zero time stays 0.
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// fromUnixNano is the time of Unix nanoseconds n, in UTC (the zone of
// every time the parsers make: ALB and ingress logs write UTC, beacons
// give milliseconds since the epoch); 0 is the zero time.
func fromUnixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// marshalRecord returns the record's type and its wire JSON.
func marshalRecord(rec correlate.Record) (string, []byte, error) {
	var typ string
	var v any
	switch r := rec.(type) {
	case *correlate.IngressLog:
		w := wireIngress{wireKeys: toWireKeys(r.Keys), Start: unixNano(r.Start), RequestTime: int64(r.RequestTime),
			Resolution: int64(r.Resolution), Method: r.Method, Path: r.Path, Host: r.Host, Status: r.Status, Upstream: r.Upstream}
		for _, t := range r.Tries {
			w.Tries = append(w.Tries, wireTry{Addr: t.Addr, Status: t.Status, Connect: int64(t.Connect),
				Header: int64(t.Header), Response: int64(t.Response)})
		}
		typ, v = TypeIngress, w
	case *correlate.LoadBalancerLog:
		typ, v = TypeLoadBalancer, wireLB{wireKeys: toWireKeys(r.Keys), Kind: r.Kind, Start: unixNano(r.Start),
			Total: int64(r.Total), Target: int64(r.Target), Dispatched: r.Dispatched, Resolution: int64(r.Resolution),
			Method: r.Method, Path: r.Path, Status: r.Status, TargetAddr: r.TargetAddr, TargetStatus: r.TargetStatus}
	case *correlate.BrowserTiming:
		typ, v = TypeBrowser, wireBrowser{wireKeys: toWireKeys(r.Keys), Page: r.Page, Initiator: r.Initiator, URL: r.URL,
			Start: unixNano(r.Start), Total: int64(r.Total), DNS: int64(r.DNS), Connect: int64(r.Connect),
			TLS: int64(r.TLS), TLSStart: int64(r.TLSStart), ServerTime: int64(r.ServerTime),
			Download: int64(r.Download), DNSStart: int64(r.DNSStart), ConnectStart: int64(r.ConnectStart),
			RequestStart: int64(r.RequestStart), ResponseStart: int64(r.ResponseStart)}
	default:
		return "", nil, fmt.Errorf("relay: a %T is not relayed", rec)
	}
	b, err := json.Marshal(v)
	return typ, b, err
}

// unmarshalRecord is marshalRecord's inverse.
func unmarshalRecord(typ string, body []byte) (correlate.Record, error) {
	switch typ {
	case TypeIngress:
		var w wireIngress
		if err := json.Unmarshal(body, &w); err != nil {
			return nil, fmt.Errorf("ingress record: %w", err)
		}
		r := &correlate.IngressLog{Keys: w.keys(), Start: fromUnixNano(w.Start), RequestTime: time.Duration(w.RequestTime),
			Resolution: time.Duration(w.Resolution), Method: w.Method, Path: w.Path, Host: w.Host, Status: w.Status, Upstream: w.Upstream}
		for _, t := range w.Tries {
			r.Tries = append(r.Tries, correlate.UpstreamTry{Addr: t.Addr, Status: t.Status, Connect: time.Duration(t.Connect),
				Header: time.Duration(t.Header), Response: time.Duration(t.Response)})
		}
		return r, nil
	case TypeLoadBalancer:
		var w wireLB
		if err := json.Unmarshal(body, &w); err != nil {
			return nil, fmt.Errorf("load balancer record: %w", err)
		}
		return &correlate.LoadBalancerLog{Keys: w.keys(), Kind: w.Kind, Start: fromUnixNano(w.Start), Total: time.Duration(w.Total),
			Target: time.Duration(w.Target), Dispatched: w.Dispatched, Resolution: time.Duration(w.Resolution), Method: w.Method,
			Path: w.Path, Status: w.Status, TargetAddr: w.TargetAddr, TargetStatus: w.TargetStatus}, nil
	case TypeBrowser:
		var w wireBrowser
		if err := json.Unmarshal(body, &w); err != nil {
			return nil, fmt.Errorf("browser record: %w", err)
		}
		return &correlate.BrowserTiming{Keys: w.keys(), Page: w.Page, Initiator: w.Initiator, URL: w.URL,
			Start: fromUnixNano(w.Start), Total: time.Duration(w.Total), DNS: time.Duration(w.DNS),
			Connect: time.Duration(w.Connect), TLS: time.Duration(w.TLS), TLSStart: time.Duration(w.TLSStart),
			ServerTime: time.Duration(w.ServerTime),
			Download:   time.Duration(w.Download), DNSStart: time.Duration(w.DNSStart), ConnectStart: time.Duration(w.ConnectStart),
			RequestStart: time.Duration(w.RequestStart), ResponseStart: time.Duration(w.ResponseStart)}, nil
	}
	return nil, ErrNotRelayed
}

func strAttr(k, v string) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
}

// Encode returns an OTLP ExportTraceServiceRequest's protobuf bytes with
// one span per item: named SpanName, its trace id the item's ID, a span
// id from the record's bytes, its attributes the record's type, wire
// JSON (AttrBody), source and place; observed is its start and end.
func Encode(items []Item, observed time.Time) ([]byte, error) {
	spans := make([]*tracepb.Span, 0, len(items))
	ts := uint64(observed.UnixNano())
	for i, it := range items {
		typ, body, err := marshalRecord(it.Record)
		if err != nil {
			return nil, fmt.Errorf("record %d: %w", i, err)
		}
		attrs := []*commonpb.KeyValue{strAttr(AttrType, typ), strAttr(AttrBody, string(body)), strAttr(AttrSource, it.Source)}
		if it.Where != "" {
			attrs = append(attrs, strAttr(AttrWhere, it.Where))
		}
		h := fnv.New64a()
		_, _ = h.Write(it.ID[:])
		_, _ = h.Write(body)
		spans = append(spans, &tracepb.Span{TraceId: it.ID[:], SpanId: binary.BigEndian.AppendUint64(nil, h.Sum64()|1),
			Name: SpanName, Kind: tracepb.Span_SPAN_KIND_INTERNAL, StartTimeUnixNano: ts, EndTimeUnixNano: ts, Attributes: attrs})
	}
	req := &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
		Resource:   &resourcepb.Resource{Attributes: []*commonpb.KeyValue{strAttr("service.name", "hopscope-collector")}},
		ScopeSpans: []*tracepb.ScopeSpans{{Scope: &commonpb.InstrumentationScope{Name: ScopeName}, Spans: spans}},
	}}}
	return proto.Marshal(req)
}

// IsRelayed reports whether a span is one Encode made (by its name: the
// cheap test the collector makes of every span it takes in).
func IsRelayed(sp *otlpwire.Span) bool { return string(sp.Name) == SpanName }

// FromSpan returns the record a span Encode made carries. An error says
// why a span named SpanName is not a relayed record.
func FromSpan(sp *otlpwire.Span) (Item, error) {
	var typ, body, source, where string
	sp.EachAttr(func(key []byte, v otlpwire.Value) {
		switch string(key) {
		case AttrType:
			typ = string(v.Str)
		case AttrBody:
			body = string(v.Str)
		case AttrSource:
			source = string(v.Str)
		case AttrWhere:
			where = string(v.Str)
		}
	})
	if typ == "" {
		return Item{}, ErrNotRelayed
	}
	rec, err := unmarshalRecord(typ, []byte(body))
	if err != nil {
		return Item{}, err
	}
	var id correlate.TraceID
	copy(id[:], sp.TraceID)
	return Item{Source: source, Where: where, Record: rec, ID: id}, nil
}

// Decode returns the relayed records of an OTLP ExportTraceServiceRequest
// (protobuf bytes), as the collector reads them; spans that are not
// relayed records are skipped. A span named SpanName that does not decode
// is counted in bad with the first reason in firstErr; err is for a
// request that is not OTLP at all.
func Decode(body []byte) (items []Item, bad int, firstErr, err error) {
	err = otlpwire.Walk(body, func(_ *otlpwire.Resource, _ *otlpwire.Scope, sp *otlpwire.Span) error {
		if !IsRelayed(sp) {
			return nil
		}
		it, err := FromSpan(sp)
		if err != nil {
			bad++
			if firstErr == nil {
				firstErr = err
			}
			return nil
		}
		items = append(items, it)
		return nil
	})
	if err != nil {
		return nil, 0, nil, fmt.Errorf("decoding ExportTraceServiceRequest: %w", err)
	}
	return items, bad, firstErr, nil
}
