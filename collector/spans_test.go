package collector

import (
	"fmt"
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/hopscope/hopscope/correlate"
	"github.com/hopscope/hopscope/internal/contract"
	"github.com/hopscope/hopscope/internal/otlpwire"
)

// TestBackendSpanAttribution: a sidecar backend proxy's client span
// carries hopscope.attribution and, for an inferred call, a known
// hopscope.attribution.reason into the breakdown; an app's own client
// span (no such attribute) is exact.
func TestBackendSpanAttribution(t *testing.T) {
	in := newInterner(maxInterned)
	str := func(k, v string) *commonpb.KeyValue {
		return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
	}
	for _, tc := range []struct {
		attr, reason string
		want         correlate.Attribution
		wantReason   correlate.AttributionReason
	}{
		{"inferred", "", correlate.AttributionInferred, ""},
		{"inferred", "sole", correlate.AttributionInferred, correlate.ReasonSole},
		{"inferred", "value", correlate.AttributionInferred, correlate.ReasonValue},
		{"inferred", "route", correlate.AttributionInferred, correlate.ReasonRoute},
		{"inferred", "order", correlate.AttributionInferred, correlate.ReasonOrder},
		{"inferred", "guess", correlate.AttributionInferred, ""},
		{"ambiguous", "value", correlate.AttributionAmbiguous, ""},
		{"ambiguous", "", correlate.AttributionAmbiguous, ""},
		{"exact", "", correlate.AttributionExact, ""},
		{"", "", correlate.AttributionExact, ""},
		{"bogus", "", correlate.AttributionExact, ""},
	} {
		attrs := []*commonpb.KeyValue{str("db.system.name", "postgresql"), str("db.operation.name", "SELECT"), str("server.address", "db")}
		if tc.attr != "" {
			attrs = append(attrs, str(contract.AttrAttribution, tc.attr))
		}
		if tc.reason != "" {
			attrs = append(attrs, str(contract.AttrAttributionReason, tc.reason))
		}
		req := &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{ScopeSpans: []*tracepb.ScopeSpans{{Spans: []*tracepb.Span{{
			TraceId: make([]byte, 16), SpanId: []byte{1, 2, 3, 4, 5, 6, 7, 8}, Name: "SELECT db",
			Kind: tracepb.Span_SPAN_KIND_CLIENT, StartTimeUnixNano: 1e9, EndTimeUnixNano: 2e9, Attributes: attrs,
		}}}}}}}
		req.ResourceSpans[0].ScopeSpans[0].Spans[0].TraceId[0] = 1
		body, _ := proto.Marshal(req)
		var got correlate.Record
		otlpwire.Walk(body, func(res *otlpwire.Resource, _ *otlpwire.Scope, sp *otlpwire.Span) error {
			got = spanRecord(in, nil, res, sp)
			return nil
		})
		call, ok := got.(*correlate.BackendCall)
		if !ok || call.Attribution != tc.want || call.Reason != tc.wantReason || call.Kind != "postgres" {
			t.Errorf("hopscope.attribution %q reason %q: record %#v, want a postgres call attributed %s %q", tc.attr, tc.reason, got, tc.want, tc.wantReason)
		}
	}
}

// TestSpanRecordFields: the attributes spanRecord reads as views into the
// request come out as the strings and numbers the record had when they
// were made into strings at once: status codes as ints or text, a port as
// an int, server.address before network.peer.address whatever their order,
// the operation from the statement's first word (Unicode spaces as
// strings.Fields has them).
func TestSpanRecordFields(t *testing.T) {
	in := newInterner(maxInterned)
	s := func(k, v string) *commonpb.KeyValue {
		return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
	}
	i := func(k string, v int64) *commonpb.KeyValue {
		return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: v}}}
	}
	record := func(kind tracepb.Span_SpanKind, attrs ...*commonpb.KeyValue) correlate.Record {
		req := &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{ScopeSpans: []*tracepb.ScopeSpans{{Spans: []*tracepb.Span{{
			TraceId: []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, SpanId: []byte{1, 2, 3, 4, 5, 6, 7, 8}, Name: "span name",
			Kind: kind, StartTimeUnixNano: 1e9, EndTimeUnixNano: 2e9, Attributes: attrs,
		}}}}}}}
		body, _ := proto.Marshal(req)
		var got correlate.Record
		otlpwire.Walk(body, func(res *otlpwire.Resource, _ *otlpwire.Scope, sp *otlpwire.Span) error {
			got = spanRecord(in, nil, res, sp)
			return nil
		})
		return got
	}
	sidecar := func(status *commonpb.KeyValue) *correlate.SidecarSpan {
		r, _ := record(tracepb.Span_SPAN_KIND_SERVER, s(contract.AttrComponent, contract.ComponentSidecar),
			s(contract.AttrRequestID, "req-1"), s(contract.AttrHTTPRoute, "/orders/{id}"), s(contract.AttrHTTPRequestMethod, "GET"), status).(*correlate.SidecarSpan)
		return r
	}
	for _, tc := range []struct {
		name   string
		status *commonpb.KeyValue
		want   int
	}{
		{"int", i(contract.AttrHTTPResponseStatusCode, 503), 503},
		{"text", s(contract.AttrHTTPResponseStatusCode, "404"), 404},
		{"old name", i(contract.AttrHTTPStatusCodeOld, 201), 201},
		{"not a number", s(contract.AttrHTTPResponseStatusCode, "x"), 0},
		{"empty text", s(contract.AttrHTTPResponseStatusCode, ""), 0},
		{"signed text", s(contract.AttrHTTPResponseStatusCode, "+200"), 200},
		{"digits then text", s(contract.AttrHTTPResponseStatusCode, "200x"), 0},
		{"absent", s("other", "1"), 0},
	} {
		sp := sidecar(tc.status)
		if sp == nil || sp.Status != tc.want || sp.RequestID != "req-1" || sp.Route != "/orders/{id}" || sp.Method != "GET" ||
			sp.SpanID.String() != "0102030405060708" || !sp.ParentSpanID.IsZero() {
			t.Errorf("status %s: %#v, want status %d and the request's fields", tc.name, sp, tc.want)
		}
	}
	for _, tc := range []struct {
		name             string
		attrs            []*commonpb.KeyValue
		kind, op, target string
	}{
		{"port as int", []*commonpb.KeyValue{s("db.system.name", "redis"), s("db.operation.name", "GET"), s("server.address", "cache"), i("server.port", 6379)},
			"redis", "GET", "cache:6379"},
		{"server.address after network.peer.address", []*commonpb.KeyValue{s("db.system.name", "redis"), s("network.peer.address", "10.0.0.7"), s("server.address", "cache")},
			"redis", "span name", "cache"},
		{"server.address before network.peer.address", []*commonpb.KeyValue{s("db.system.name", "redis"), s("server.address", "cache"), s("network.peer.address", "10.0.0.7")},
			"redis", "span name", "cache"},
		{"network.peer.address alone", []*commonpb.KeyValue{s("db.system.name", "redis"), s("network.peer.address", "10.0.0.7")},
			"redis", "span name", "10.0.0.7"},
		{"operation from the statement", []*commonpb.KeyValue{s("db.system", "postgresql"), s("db.statement", "  select * from orders")},
			"postgres", "SELECT", ""},
		{"Unicode space before the statement", []*commonpb.KeyValue{s("db.system", "postgresql"), s("db.statement", "\u00a0update orders set x = 1")},
			"postgres", "UPDATE", ""},
		{"http egress", []*commonpb.KeyValue{s("http.request.method", "POST"), s("url.full", "https://pay.example/charge")},
			"http_egress", "POST", "https://pay.example/charge"},
		{"rpc", []*commonpb.KeyValue{s("rpc.system", "grpc"), s("rpc.method", "Charge"), s("server.address", "pay"), s("server.port", "443")},
			"grpc", "Charge", "pay:443"},
	} {
		call, _ := record(tracepb.Span_SPAN_KIND_CLIENT, tc.attrs...).(*correlate.BackendCall)
		if call == nil || call.Kind != tc.kind || call.Operation != tc.op || call.Target != tc.target {
			t.Errorf("%s: %#v, want %s %q at %q", tc.name, call, tc.kind, tc.op, tc.target)
		}
	}
}

// TestSpanRecordResource: the sidecar span's service and namespace come
// from its resource (service.name, and k8s.namespace.name that the
// injector sets through the downward API), and reach the breakdown.
func TestSpanRecordResource(t *testing.T) {
	in := newInterner(maxInterned)
	kv := func(k, v string) *commonpb.KeyValue {
		return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
	}
	for _, tc := range []struct {
		name     string
		resource []*commonpb.KeyValue
		ns       string
	}{
		{"in Kubernetes", []*commonpb.KeyValue{kv(contract.AttrServiceName, "shop"), kv(contract.AttrK8sNamespaceName, "shop-prod"), kv(contract.AttrComponent, contract.ComponentSidecar)}, "shop-prod"},
		{"outside", []*commonpb.KeyValue{kv(contract.AttrServiceName, "shop"), kv(contract.AttrComponent, contract.ComponentSidecar)}, ""},
	} {
		req := &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
			Resource: &resourcepb.Resource{Attributes: tc.resource},
			ScopeSpans: []*tracepb.ScopeSpans{{Spans: []*tracepb.Span{{
				TraceId: []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, SpanId: []byte{1, 2, 3, 4, 5, 6, 7, 8}, Name: "GET",
				Kind: tracepb.Span_SPAN_KIND_SERVER, StartTimeUnixNano: 1e9, EndTimeUnixNano: 2e9, Attributes: []*commonpb.KeyValue{kv(contract.AttrHTTPRoute, "/orders/{id}")},
			}}}},
		}}}
		body, _ := proto.Marshal(req)
		var got *correlate.SidecarSpan
		otlpwire.Walk(body, func(res *otlpwire.Resource, _ *otlpwire.Scope, sp *otlpwire.Span) error {
			got, _ = spanRecord(in, nil, res, sp).(*correlate.SidecarSpan)
			return nil
		})
		if got == nil || got.Service != "shop" || got.Namespace != tc.ns {
			t.Fatalf("%s: %#v, want service shop in namespace %q", tc.name, got, tc.ns)
		}
		b := correlate.Compute(correlate.Group{Sidecars: []correlate.SidecarSpan{*got}})
		if b.Service != "shop" || b.Namespace != tc.ns {
			t.Errorf("%s: breakdown of service %q in namespace %q", tc.name, b.Service, b.Namespace)
		}
	}
}

// TestStatusOfAllocatesNothing: reading a status code, present or not, a
// number or not, allocates nothing (strconv.Atoi's error for "" was an
// allocation per sidecar span without a status).
func TestStatusOfAllocatesNothing(t *testing.T) {
	for _, tc := range []struct {
		name string
		v    otlpwire.Value
		want int
	}{
		{"int", otlpwire.Value{Type: otlpwire.TypeInt, Int: 200}, 200},
		{"text", otlpwire.Value{Type: otlpwire.TypeString, Str: []byte("404")}, 404},
		{"empty text", otlpwire.Value{Type: otlpwire.TypeString, Str: []byte{}}, 0},
		{"not a number", otlpwire.Value{Type: otlpwire.TypeString, Str: []byte("n/a")}, 0},
		{"sign alone", otlpwire.Value{Type: otlpwire.TypeString, Str: []byte("-")}, 0},
	} {
		var got int
		if allocs := testing.AllocsPerRun(100, func() { got = statusOf(tc.v) }); allocs != 0 || got != tc.want {
			t.Errorf("%s: statusOf = %d with %.0f allocations, want %d with none", tc.name, got, allocs, tc.want)
		}
	}
}

// TestSpanRecordAllocations: mapping a span makes no text of the attribute
// values it keeps once they have been seen (interned: intern.go), only
// the record itself and what is the request's own (none here). The counts are the
// most a mapping may allocate; each kind of span is mapped once first.
func TestSpanRecordAllocations(t *testing.T) {
	in := newInterner(maxInterned)
	s := func(k, v string) *commonpb.KeyValue {
		return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
	}
	i := func(k string, v int64) *commonpb.KeyValue {
		return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: v}}}
	}
	for _, tc := range []struct {
		name  string
		kind  tracepb.Span_SpanKind
		attrs []*commonpb.KeyValue
		// The record: the span ids are binary (correlate.SpanID).
		max float64
	}{
		{"sidecar span", tracepb.Span_SPAN_KIND_SERVER, []*commonpb.KeyValue{s(contract.AttrComponent, contract.ComponentSidecar),
			s(contract.AttrHTTPRoute, "/orders/{id}"), s(contract.AttrHTTPRequestMethod, "GET"), i(contract.AttrHTTPResponseStatusCode, 200)}, 1},
		{"redis call", tracepb.Span_SPAN_KIND_CLIENT, []*commonpb.KeyValue{s("db.system.name", "redis"), s("db.operation.name", "GET"),
			s("server.address", "cache"), i("server.port", 6379)}, 1},
		{"postgres statement", tracepb.Span_SPAN_KIND_CLIENT, []*commonpb.KeyValue{s("db.system", "postgresql"), s("db.statement", "select 1"),
			s("server.address", "db"), s("server.port", "5432"), s(contract.AttrAttribution, "inferred"), s(contract.AttrAttributionReason, "sole")}, 1},
		{"http call", tracepb.Span_SPAN_KIND_CLIENT, []*commonpb.KeyValue{s(contract.AttrHTTPRequestMethod, "POST"), s("server.address", "api.stripe.com")}, 1},
	} {
		req := &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
			Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{s(contract.AttrServiceName, "shop"), s(contract.AttrK8sNamespaceName, "prod")}},
			ScopeSpans: []*tracepb.ScopeSpans{{Spans: []*tracepb.Span{{
				TraceId: []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, SpanId: []byte{1, 2, 3, 4, 5, 6, 7, 8}, ParentSpanId: []byte{0xa, 0xb, 0xc, 0xd, 0xe, 0xf, 1, 2}, Name: "span name",
				Kind: tc.kind, StartTimeUnixNano: 1e9, EndTimeUnixNano: 2e9, Attributes: tc.attrs,
			}}}},
		}}}
		body, _ := proto.Marshal(req)
		otlpwire.Walk(body, func(res *otlpwire.Resource, _ *otlpwire.Scope, sp *otlpwire.Span) error {
			var sid, parent correlate.SpanID
			switch r := spanRecord(in, nil, res, sp).(type) {
			case *correlate.SidecarSpan:
				sid, parent = r.SpanID, r.ParentSpanID
			case *correlate.BackendCall:
				sid, parent = r.SpanID, r.ParentSpanID
			default:
				t.Fatalf("%s: no record", tc.name)
			}
			if sid.String() != "0102030405060708" || parent.String() != "0a0b0c0d0e0f0102" {
				t.Errorf("%s: span id %s, parent %s", tc.name, sid, parent)
			}
			if allocs := testing.AllocsPerRun(50, func() { spanRecord(in, nil, res, sp) }); allocs > tc.max {
				t.Errorf("%s: %.0f allocations, want at most %.0f", tc.name, allocs, tc.max)
			}
			// From a request's arena (consumeOTLP): a chunk now and then.
			var a recordArena
			if allocs := testing.AllocsPerRun(100, func() { spanRecord(in, &a, res, sp) }); allocs != 0 {
				t.Errorf("%s from an arena: %.2f allocations per span, want 0 (a chunk per several)", tc.name, allocs)
			}
			return nil
		})
	}
}

// TestRecordArena: the records an arena hands out are distinct and keep
// what was written to them while more are handed out (a new chunk does
// not move the earlier ones).
func TestRecordArena(t *testing.T) {
	var a recordArena
	var scs []*correlate.SidecarSpan
	var bcs []*correlate.BackendCall
	for i := 0; i < 1000; i++ {
		sc, bc := a.sidecar(), a.backend()
		if sc.Status != 0 || bc.Kind != "" {
			t.Fatalf("record %d handed out twice or not zero: %+v %+v", i, sc, bc)
		}
		sc.Status, bc.Kind = i, fmt.Sprint(i)
		scs, bcs = append(scs, sc), append(bcs, bc)
	}
	for i := range scs {
		if scs[i].Status != i || bcs[i].Kind != fmt.Sprint(i) {
			t.Fatalf("record %d changed: status %d, kind %q", i, scs[i].Status, bcs[i].Kind)
		}
	}
	if c := len(a.sidecars.chunks[len(a.sidecars.chunks)-1]); c != maxArenaChunk {
		t.Errorf("chunk of %d records after 1000, want the cap %d", c, maxArenaChunk)
	}
	// Reset, the arena hands the same records out again, in order, and
	// makes no new chunk for as many.
	chunks := len(a.sidecars.chunks)
	a.reset()
	for i := 0; i < 1000; i++ {
		if sc := a.sidecar(); sc != scs[i] {
			t.Fatalf("record %d after reset: not the %dth of the chunks", i, i)
		}
	}
	if len(a.sidecars.chunks) != chunks {
		t.Errorf("%d chunks after reset and as many records, want %d", len(a.sidecars.chunks), chunks)
	}
}

// TestSpanRecordResourceOnce: with a request's arena, each resource's
// attributes are read once for its spans, and every span still gets its
// own resource's service and namespace (three resources, the middle one
// not a sidecar's).
func TestSpanRecordResourceOnce(t *testing.T) {
	kv := func(k, v string) *commonpb.KeyValue {
		return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
	}
	rs := func(service, ns string, sidecar bool, spans int) *tracepb.ResourceSpans {
		attrs := []*commonpb.KeyValue{kv(contract.AttrServiceName, service), kv(contract.AttrK8sNamespaceName, ns)}
		if sidecar {
			attrs = append(attrs, kv(contract.AttrComponent, contract.ComponentSidecar))
		}
		var sps []*tracepb.Span
		for i := 0; i < spans; i++ {
			sps = append(sps, &tracepb.Span{TraceId: []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, SpanId: []byte{1, 2, 3, 4, 5, 6, 7, byte(i + 1)},
				Name: "GET", Kind: tracepb.Span_SPAN_KIND_SERVER, StartTimeUnixNano: 1e9, EndTimeUnixNano: 2e9})
		}
		return &tracepb.ResourceSpans{Resource: &resourcepb.Resource{Attributes: attrs}, ScopeSpans: []*tracepb.ScopeSpans{{Spans: sps}}}
	}
	body, _ := proto.Marshal(&coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{
		rs("shop", "prod", true, 2), rs("app", "prod", false, 2), rs("billing", "fin", true, 2)}})
	in, a := newInterner(maxInterned), &recordArena{}
	var got []string
	otlpwire.Walk(body, func(res *otlpwire.Resource, _ *otlpwire.Scope, sp *otlpwire.Span) error {
		if r, ok := spanRecord(in, a, res, sp).(*correlate.SidecarSpan); ok {
			got = append(got, r.Service+"/"+r.Namespace)
		} else {
			got = append(got, "-")
		}
		return nil
	})
	if want := "[shop/prod shop/prod - - billing/fin billing/fin]"; fmt.Sprint(got) != want {
		t.Errorf("records by resource: %v, want %s", got, want)
	}
}
