package collector

import (
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/hopscope/hopscope/correlate"
	"github.com/hopscope/hopscope/internal/contract"
	"github.com/hopscope/hopscope/internal/otlpwire"
)

// TestBackendSpanAttribution: a sidecar backend proxy's client span
// carries hopscope.attribution into the breakdown; an app's own client
// span (no such attribute) is exact.
func TestBackendSpanAttribution(t *testing.T) {
	str := func(k, v string) *commonpb.KeyValue {
		return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
	}
	for _, tc := range []struct {
		attr string
		want correlate.Attribution
	}{
		{"inferred", correlate.AttributionInferred},
		{"ambiguous", correlate.AttributionAmbiguous},
		{"exact", correlate.AttributionExact},
		{"", correlate.AttributionExact},
		{"bogus", correlate.AttributionExact},
	} {
		attrs := []*commonpb.KeyValue{str("db.system.name", "postgresql"), str("db.operation.name", "SELECT"), str("server.address", "db")}
		if tc.attr != "" {
			attrs = append(attrs, str(contract.AttrAttribution, tc.attr))
		}
		req := &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{ScopeSpans: []*tracepb.ScopeSpans{{Spans: []*tracepb.Span{{
			TraceId: make([]byte, 16), SpanId: []byte{1, 2, 3, 4, 5, 6, 7, 8}, Name: "SELECT db",
			Kind: tracepb.Span_SPAN_KIND_CLIENT, StartTimeUnixNano: 1e9, EndTimeUnixNano: 2e9, Attributes: attrs,
		}}}}}}}
		req.ResourceSpans[0].ScopeSpans[0].Spans[0].TraceId[0] = 1
		body, _ := proto.Marshal(req)
		var got correlate.Record
		otlpwire.Walk(body, func(res *otlpwire.Resource, _ *otlpwire.Scope, sp *otlpwire.Span) error {
			got = spanRecord(res, sp)
			return nil
		})
		call, ok := got.(*correlate.BackendCall)
		if !ok || call.Attribution != tc.want || call.Kind != "postgres" {
			t.Errorf("hopscope.attribution %q: record %#v, want a postgres call attributed %s", tc.attr, got, tc.want)
		}
	}
}
