package otlpwire

import (
	"bytes"
	"encoding/hex"
	"slices"
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

func kv(k string, v *commonpb.AnyValue) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: v}
}

func sampleRequest() *coltracepb.ExportTraceServiceRequest {
	tid, _ := hex.DecodeString("4bf92f3577b34da6a3ce929d0e0e4736")
	sp := func(id byte, parent []byte, kind tracepb.Span_SpanKind, name string, attrs ...*commonpb.KeyValue) *tracepb.Span {
		return &tracepb.Span{TraceId: tid, SpanId: []byte{id, 2, 3, 4, 5, 6, 7, 8}, ParentSpanId: parent, Name: name, Kind: kind,
			StartTimeUnixNano: 1000 + uint64(id), EndTimeUnixNano: 5000 + uint64(id), Attributes: attrs,
			Status: &tracepb.Status{Code: tracepb.Status_STATUS_CODE_ERROR, Message: "boom"}}
	}
	return &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{
		{Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{kv("service.name", &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "shop"}})}},
			SchemaUrl: "https://opentelemetry.io/schemas/1.26.0",
			ScopeSpans: []*tracepb.ScopeSpans{{Scope: &commonpb.InstrumentationScope{Name: "a"}, Spans: []*tracepb.Span{
				sp(1, nil, tracepb.Span_SPAN_KIND_SERVER, "GET /",
					kv("hopscope.component", &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "sidecar"}}),
					kv("http.response.status_code", &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: 200}}),
					kv("hopscope.app_duration_ms", &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: 12.5}}),
					kv("flag", &commonpb.AnyValue{Value: &commonpb.AnyValue_BoolValue{BoolValue: true}}),
					kv("list", &commonpb.AnyValue{Value: &commonpb.AnyValue_ArrayValue{ArrayValue: &commonpb.ArrayValue{Values: []*commonpb.AnyValue{{Value: &commonpb.AnyValue_StringValue{StringValue: "x"}}}}}})),
			}}, {Scope: &commonpb.InstrumentationScope{Name: "b", Version: "1"}, SchemaUrl: "s", Spans: []*tracepb.Span{
				sp(2, []byte{1, 2, 3, 4, 5, 6, 7, 8}, tracepb.Span_SPAN_KIND_CLIENT, "SELECT",
					kv("db.system.name", &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "postgresql"}})),
			}}}},
		{Resource: &resourcepb.Resource{}, ScopeSpans: []*tracepb.ScopeSpans{{Spans: []*tracepb.Span{sp(3, nil, tracepb.Span_SPAN_KIND_INTERNAL, "x")}}}},
	}}
}

func TestWalkAgainstProtobuf(t *testing.T) {
	req := sampleRequest()
	body, _ := proto.Marshal(req)
	var held []Held
	var seen []*Span
	err := Walk(body, func(res *Resource, scope *Scope, s *Span) error {
		c := *s
		seen = append(seen, &c)
		held = append(held, Held{Resource: res.Raw, ResourceSchema: res.SchemaURL, Scope: scope.Raw, ScopeSchema: scope.SchemaURL, Span: s.Raw})
		if string(s.Name) == "GET /" {
			if v, ok := res.Attr("service.name"); !ok || v.String() != "shop" {
				t.Errorf("resource service.name = %v", v)
			}
			if v, ok := s.Attr("hopscope.component"); !ok || v.String() != "sidecar" {
				t.Errorf("component = %v", v)
			}
			if v, ok := s.Attr("http.response.status_code"); !ok || v.String() != "200" {
				t.Errorf("status = %v", v)
			}
			if v, ok := s.Attr("hopscope.app_duration_ms"); !ok {
				t.Errorf("app duration missing")
			} else if f, _ := v.Float(); f != 12.5 {
				t.Errorf("app duration %v", f)
			}
			if v, ok := s.Attr("flag"); !ok || !v.Bool {
				t.Errorf("bool attr")
			}
			if _, ok := s.Attr("absent"); ok {
				t.Errorf("absent attribute found")
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var want []*tracepb.Span
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			want = append(want, ss.Spans...)
		}
	}
	if len(seen) != len(want) {
		t.Fatalf("walked %d spans, want %d", len(seen), len(want))
	}
	for i, w := range want {
		s := seen[i]
		if !bytes.Equal(s.TraceID, w.TraceId) || !bytes.Equal(s.SpanID, w.SpanId) || !bytes.Equal(s.ParentSpanID, w.ParentSpanId) ||
			string(s.Name) != w.Name || s.Kind != int32(w.Kind) || s.Start != w.StartTimeUnixNano || s.End != w.EndTimeUnixNano || s.StatusCode != int32(w.Status.Code) {
			t.Errorf("span %d: %+v, want %v", i, s, w)
		}
		var back tracepb.Span
		if err := proto.Unmarshal(s.Raw, &back); err != nil || !proto.Equal(&back, w) {
			t.Errorf("span %d raw bytes are not the span", i)
		}
	}
	// Sending the held spans on rebuilds the same request.
	out := AppendRequest(nil, held)
	var got coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(&got, req) {
		t.Errorf("AppendRequest changed the request:\n got %v\nwant %v", &got, req)
	}
}

// TestWalkAttrCache: a view's attributes, read from the cache Walk fills
// while it checks the span, are the span's: during the callback (against
// decoding Raw again) and in a copy kept after it, when the cache holds
// another span's (the gateway matcher keeps views).
func TestWalkAttrCache(t *testing.T) {
	req := sampleRequest()
	body, _ := proto.Marshal(req)
	attrsOf := func(s *Span) []string {
		var out []string
		s.EachAttr(func(k []byte, v Value) { out = append(out, string(k)+"="+v.String()) })
		return out
	}
	var kept []Span
	var during [][]string
	err := Walk(body, func(_ *Resource, _ *Scope, s *Span) error {
		if _, ok := s.cached(); !ok {
			t.Errorf("span %q: Walk left no attribute cache", s.Name)
		}
		fresh, err := ParseSpan(s.Raw)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := attrsOf(s), attrsOf(&fresh); !slices.Equal(got, want) {
			t.Errorf("span %q: cached attributes %q, decoded %q", s.Name, got, want)
		}
		during = append(during, attrsOf(s))
		kept = append(kept, *s)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range kept {
		s := &kept[i]
		if i < len(kept)-1 {
			if _, ok := s.cached(); ok {
				t.Errorf("span %d: a kept view still reads the cache after other spans", i)
			}
		}
		if got := attrsOf(s); !slices.Equal(got, during[i]) {
			t.Errorf("span %d kept: attributes %q, during the walk %q", i, got, during[i])
		}
	}
	if v, ok := kept[0].Attr("hopscope.component"); !ok || v.String() != "sidecar" {
		t.Errorf("kept first span: hopscope.component = %v, %v", v, ok)
	}
	if _, ok := kept[1].Attr("hopscope.component"); ok {
		t.Errorf("kept second span: found the first span's attribute")
	}
}

func TestWalkRejectsMalformed(t *testing.T) {
	body, _ := proto.Marshal(sampleRequest())
	for _, cut := range []int{1, 5, 17, len(body) / 2, len(body) - 1} {
		err := Walk(body[:cut], func(*Resource, *Scope, *Span) error { return nil })
		var pb coltracepb.ExportTraceServiceRequest
		if perr := proto.Unmarshal(body[:cut], &pb); perr != nil && err == nil {
			t.Errorf("truncated at %d: protobuf says %v, Walk accepted it", cut, perr)
		}
	}
}

// FuzzWalk: Walk never panics, and whatever it and protobuf both accept
// has the same spans.
func FuzzWalk(f *testing.F) {
	body, _ := proto.Marshal(sampleRequest())
	f.Add(body)
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0x02, 0x12, 0x00})
	f.Add(body[:len(body)/2])
	f.Fuzz(func(t *testing.T, b []byte) {
		n := 0
		err := Walk(b, func(_ *Resource, _ *Scope, s *Span) error {
			n++
			_, _ = s.Attr("service.name")
			return nil
		})
		var pb coltracepb.ExportTraceServiceRequest
		if err != nil || proto.Unmarshal(b, &pb) != nil {
			return
		}
		want := 0
		for _, rs := range pb.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				want += len(ss.Spans)
			}
		}
		if n != want {
			t.Fatalf("Walk saw %d spans, protobuf %d", n, want)
		}
	})
}

func BenchmarkWalk(b *testing.B) {
	req := &coltracepb.ExportTraceServiceRequest{}
	base := sampleRequest()
	for i := 0; i < 200; i++ {
		req.ResourceSpans = append(req.ResourceSpans, base.ResourceSpans...)
	}
	body, _ := proto.Marshal(req)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for i := 0; i < b.N; i++ {
		_ = Walk(body, func(_ *Resource, _ *Scope, s *Span) error { _, _ = s.Attr("hopscope.component"); return nil })
	}
}
