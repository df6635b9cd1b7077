package otlp

import (
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

// FuzzUnmarshalJSON: OTLP/JSON from the network never panics the decoder,
// and whatever it accepts survives a protobuf round trip.
func FuzzUnmarshalJSON(f *testing.F) {
	for _, s := range []string{
		`{}`,
		`{"resourceSpans":[]}`,
		`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b7","name":"x","kind":2}]}]}]}`,
		`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz"}]}]}]}`,
		`{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"shop"}}]}}]}`,
		`[1,2,3]`,
		`{"resourceSpans":[{"scopeSpans":[{"spans":[{"parentSpanId":"","startTimeUnixNano":"1"}]}]}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var msg coltracepb.ExportTraceServiceRequest
		if err := UnmarshalJSON(data, &msg); err != nil {
			return
		}
		b, err := proto.Marshal(&msg)
		if err != nil {
			t.Fatalf("accepted message does not marshal: %v", err)
		}
		var back coltracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(b, &back); err != nil || !proto.Equal(&msg, &back) {
			t.Fatalf("round trip changed the message: %v", err)
		}
	})
}
