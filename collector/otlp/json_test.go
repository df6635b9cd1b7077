package otlp

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// unmarshalJSONTree is the decoder prepareJSON replaced: the whole
// document as a tree of maps and slices, ids rewritten in it, marshalled
// again. Kept as the reference the fuzz target compares with.
func unmarshalJSONTree(data []byte, msg proto.Message) error {
	var doc any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return err
	}
	var fix func(v any) error
	fix = func(v any) error {
		switch x := v.(type) {
		case map[string]any:
			for k, val := range x {
				if s, ok := val.(string); ok && idKeys[k] {
					if s == "" {
						continue
					}
					b, err := hex.DecodeString(s)
					if err != nil {
						return err
					}
					x[k] = base64.StdEncoding.EncodeToString(b)
					continue
				}
				if err := fix(val); err != nil {
					return err
				}
			}
		case []any:
			for _, e := range x {
				if err := fix(e); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := fix(doc); err != nil {
		return err
	}
	fixed, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	return protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(fixed, msg)
}

func TestPrepareJSON(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{`{}`, `{}`, ""},
		{` { "a" : [ 1 , -2.5e+3 , true , false , null , "x" ] } trailing`, `{"a":[1,-2.5e+3,true,false,null,"x"]}`, ""},
		{`{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":""}`, `{"traceId":"S/kvNXezTaajzpKdDg5HNg==","spanId":""}`, ""},
		{`{"links":[{"span_id":"00f067aa0ba902b7","parent_span_id":1}]}`, `{"links":[{"span_id":"APBnqgupArc=","parent_span_id":1}]}`, ""},
		{`{"spanId":"00f067aa0ba902b"}`, "", "not hex"},
		{`{"traceId":"zz"}`, "", "not hex"},
		{`{"trace\u0049d":"00f067aa0ba902b7"}`, `{"traceId":"APBnqgupArc="}`, ""}, // escaped key
		{`{"name":"a\"b\u00e9\ud800"}`, "{\"name\":\"a\\\"bé\uFFFD\"}", ""},
		{"{\"name\":\"a\xffb\"}", "{\"name\":\"a\uFFFDb\"}", ""},
		{`{"a":01}`, "", "object not continued"},
		{`{"a":1.}`, "", "bad number"},
		{`{"a":tru}`, "", "bad literal"},
		{`{"a" 1}`, "", "no colon"},
		{`{a:1}`, "", "key is not a string"},
		{`[1,]`, "", "unexpected"},
		{`{"a":"x`, "", "unterminated"},
		{"{\"a\":\"x\ny\"}", "", "control character"},
		{``, "", "end of input"},
		{strings.Repeat("[", maxJSONDepth+1), "", "nested deeper"},
		{`[[],[],{}]`, "", "too many JSON elements"}, // 4 > 3
	} {
		limit := 3
		if strings.HasPrefix(tc.in, "[[[[") {
			limit = 2 * maxJSONDepth
		}
		got, err := prepareJSON([]byte(tc.in), limit)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("prepareJSON(%.40q): %s, %v; want an error with %q", tc.in, got, err, tc.err)
		case tc.err == "" && (err != nil || string(got) != tc.want):
			t.Errorf("prepareJSON(%.40q) = %s, %v; want %s", tc.in, got, err, tc.want)
		}
	}
	if _, err := prepareJSON([]byte(`[[],[],{}]`), 3); !errors.Is(err, ErrTooManyElements) {
		t.Errorf("over the limit: %v, want ErrTooManyElements", err)
	}
}

// TestUnmarshalJSONAsBefore: documents the tree decoder accepted decode
// to the same message.
func TestUnmarshalJSONAsBefore(t *testing.T) {
	for _, doc := range jsonSeeds {
		var got, want coltracepb.ExportTraceServiceRequest
		errGot, errWant := UnmarshalJSON([]byte(doc), &got), unmarshalJSONTree([]byte(doc), &want)
		if (errGot == nil) != (errWant == nil) || !proto.Equal(&got, &want) {
			t.Errorf("%.60s: got %v (%v), the tree decoder %v (%v)", doc, &got, errGot, &want, errWant)
		}
	}
}

var jsonSeeds = []string{
	`{}`,
	`{"resourceSpans":[]}`,
	`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b7","name":"x","kind":2}]}]}]}`,
	`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz"}]}]}]}`,
	`{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"shop"}}]}}]}`,
	`[1,2,3]`,
	`{"resourceSpans":[{"scopeSpans":[{"spans":[{"parentSpanId":"","startTimeUnixNano":"1"}]}]}]}`,
	`{"resource_spans":[{"scope_spans":[{"scope":{"name":"s","version":"1"},"spans":[{"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7",` +
		`"parent_span_id":"00f067aa0ba902b8","kind":"SPAN_KIND_CLIENT","start_time_unix_nano":1764151200000000000,"end_time_unix_nano":"1764151200005000000",` +
		`"attributes":[{"key":"n","value":{"intValue":"7"}},{"key":"d","value":{"doubleValue":1.5e3}},{"key":"b","value":{"boolValue":true}},` +
		`{"key":"a","value":{"arrayValue":{"values":[{"stringValue":"x"},{"kvlistValue":{"values":[{"key":"k","value":{"bytesValue":"AAE="}}]}}]}}}],` +
		`"events":[{"timeUnixNano":"1","name":"e"}],"links":[{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b9"}],` +
		`"status":{"code":"STATUS_CODE_ERROR","message":"boom"},"unknownField":{"x":[1,{"y":null}]}}]}]}]}`,
	`{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":"caf\u00e9 \"q\" \\ \/"}]}]}]} {"ignored":1}`,
	"{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"name\":\"bad \xff utf-8\"}]}]}]}",
}

// FuzzUnmarshalJSON: OTLP/JSON from the network never panics the decoder;
// whatever it accepts survives a protobuf round trip and is what the tree
// decoder it replaced made of it, and it never takes a document of more
// objects and arrays than its limit.
func FuzzUnmarshalJSON(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var msg coltracepb.ExportTraceServiceRequest
		if err := UnmarshalJSON(data, &msg); err != nil {
			if _, err := prepareJSON(data, DefaultMaxJSONElements); err == nil {
				return // refused by protojson
			}
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
		var tree coltracepb.ExportTraceServiceRequest
		if err := unmarshalJSONTree(data, &tree); err != nil || !proto.Equal(&msg, &tree) {
			t.Fatalf("the tree decoder made %v (%v) of it, prepareJSON %v", &tree, err, &msg)
		}
		if n := bytes.Count(data, []byte("{")) + bytes.Count(data, []byte("[")); n <= 3 {
			if _, err := prepareJSON(data, 3); err != nil && errors.Is(err, ErrTooManyElements) {
				t.Fatalf("%d brackets in all, yet over a limit of 3: %v", n, err)
			}
		}
	})
}

func ExampleUnmarshalJSON() {
	var req coltracepb.ExportTraceServiceRequest
	err := UnmarshalJSON([]byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","name":"GET /"}]}]}]}`), &req)
	fmt.Printf("%x %v\n", req.ResourceSpans[0].ScopeSpans[0].Spans[0].TraceId, err)
	// Output: 4bf92f3577b34da6a3ce929d0e0e4736 <nil>
}
