package envoy

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/hopscope/hopscope/correlate"
	"github.com/hopscope/hopscope/correlate/internal/parsertest"
)

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

const ms = time.Millisecond

// TestTextSamples: every line of envoy-docs.log, the documentation's
// example first.
func TestTextSamples(t *testing.T) {
	parsertest.CheckSamples(t, filepath.Join("testdata", "envoy-docs.log"), ParseText, []correlate.IngressLog{
		{Keys: correlate.Keys{RequestID: "cc21d9b0-cf5c-432b-8c7e-98aeb7988cd2"},
			Start: at("2016-04-15T20:17:00.310Z"), RequestTime: 226 * ms, Resolution: ms,
			Tries:  []correlate.UpstreamTry{{Addr: "10.0.2.1:80", Status: 204, Response: 100 * ms}},
			Method: "POST", Path: "/api/v1/locations", Host: "locations", Status: 204},
		{Keys: correlate.Keys{RequestID: "d1e0c2f3-9a4b-4c5d-8e6f-0a1b2c3d4e5f"},
			Start: at("2026-11-26T10:00:00.105Z"), RequestTime: 37 * ms, Resolution: ms,
			Tries:  []correlate.UpstreamTry{{Addr: "10.1.2.3:8080", Status: 200, Response: 30 * ms}},
			Method: "GET", Path: "/orders/42", Host: "shop.example.com", Status: 200},
		{Keys: correlate.Keys{RequestID: "0b9f3c2e-0000-4000-8000-000000000001"},
			Start: at("2026-11-26T10:00:01Z"), RequestTime: 12 * ms, Resolution: ms,
			Method: "GET", Path: "/down", Host: "shop.example.com", Status: 503},
		{Start: at("2026-11-26T10:00:02Z"), Resolution: ms, Status: 400},
	})
}

// TestJSONSamples: every line of envoy-json.log.
func TestJSONSamples(t *testing.T) {
	parsertest.CheckSamples(t, filepath.Join("testdata", "envoy-json.log"), ParseJSON, []correlate.IngressLog{
		{RequestTime: 123 * ms, Resolution: ms},
		{Keys: correlate.Keys{TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", RequestID: "d1e0c2f3-9a4b-4c5d-8e6f-0a1b2c3d4e5f"},
			Start: at("2026-11-26T10:00:00.105Z"), RequestTime: 37 * ms, Resolution: ms,
			Tries:  []correlate.UpstreamTry{{Addr: "10.1.2.3:8080", Status: 200, Response: 30 * ms}},
			Method: "GET", Path: "/orders/42", Host: "shop.example.com", Status: 200,
			Upstream: "httproute/default/shop/rule/0"},
		{Keys: correlate.Keys{TraceID: "0000000000000000e457b5a2e4d86bd1", RequestID: "5c1b9a3e-1111-4222-8333-444455556666"},
			Start: at("2026-11-26T10:00:03.25Z"), RequestTime: 48 * ms, Resolution: ms,
			Tries:  []correlate.UpstreamTry{{}, {}, {Addr: "10.1.2.5:8080", Status: 200, Response: 20 * ms}},
			Method: "POST", Path: "/cart", Host: "shop.example.com", Status: 200,
			Upstream: "outbound|8080||cart.shop.svc.cluster.local"},
	})
}

const textBase = `[2026-11-26T10:00:00.105Z] "GET /orders/42 HTTP/1.1" 200 - 0 512 37 30 "203.0.113.7" "curl/8.5.0" "rid" "shop" "10.1.2.3:8080"`

// TestTextErrors: malformed lines are rejected with the field named;
// quirks Envoy writes are accepted.
func TestTextErrors(t *testing.T) {
	for _, tt := range []struct {
		name, line, wantErr string
		check               func(correlate.IngressLog) bool
	}{
		{"empty", "", "field 1 start_time: missing", nil},
		{"no bracket", parsertest.Edit(textBase, "[", ""), "field 1 start_time", nil},
		{"bad time", parsertest.Edit(textBase, "2026-11-26T10", "2026-13-26T10"), "field 1 start_time", nil},
		{"unquoted request", parsertest.Edit(textBase, `"GET /orders/42 HTTP/1.1"`, "GET"), "field 2 request", nil},
		{"bad status", parsertest.Edit(textBase, " 200 ", " 2000 "), "field 3 response_code", nil},
		{"bad bytes", parsertest.Edit(textBase, " 512 ", " 5x2 "), "field 6 bytes_sent", nil},
		{"duration dash", parsertest.Edit(textBase, " 37 ", " - "), "field 7 duration: missing", nil},
		{"negative duration", parsertest.Edit(textBase, " 37 ", " -37 "), "field 7 duration", nil},
		{"huge duration", parsertest.Edit(textBase, " 37 ", " 99999999999 "), "field 7 duration", nil},
		{"bad upstream time", parsertest.Edit(textBase, " 30 ", " 3.0 "), "field 8 upstream_service_time", nil},
		{"truncated", textBase[:len(textBase)-16], "field 13 upstream_host: missing", nil},
		{"unterminated quote", textBase[:len(textBase)-1], "field 13 upstream_host", nil},
		{"extra", textBase + " x", "text after the last field", nil},
		{"quote inside a user agent", parsertest.Edit(textBase, `"curl/8.5.0"`, `"a"b c"`), "",
			func(r correlate.IngressLog) bool { return r.RequestID == "rid" && r.Host == "shop" }},
		{"status 0", parsertest.Edit(textBase, " 200 ", " 0 "), "",
			func(r correlate.IngressLog) bool { return r.Status == 0 && r.Tries[0].Status == 0 }},
		{"trailing newline", textBase + "\n", "",
			func(r correlate.IngressLog) bool { return r.RequestTime == 37*ms }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseText(tt.line)
			if tt.wantErr != "" {
				parsertest.CheckResult(t, "ParseText", r, err, correlate.IngressLog{}, tt.wantErr)
				parsertest.CheckError(t, "ParseText", r, err, "envoy log: ")
				return
			}
			if err != nil || !tt.check(r) {
				t.Fatalf("ParseText = %+v, %v", r, err)
			}
		})
	}
}

// TestJSONErrors: malformed JSON lines are rejected with the key named;
// trace ids are taken in their order of strength.
func TestJSONErrors(t *testing.T) {
	for _, tt := range []struct {
		name, line, wantErr string
		check               func(correlate.IngressLog) bool
	}{
		{"not JSON", `duration=3`, "invalid JSON", nil},
		{"array", `[1]`, "invalid JSON", nil},
		{"null", `null`, "want an object", nil},
		{"no duration", `{"protocol":"HTTP/1.1"}`, `field "duration": missing`, nil},
		{"duration dash", `{"duration":"-"}`, `field "duration": missing`, nil},
		{"duration object", `{"duration":{"ms":3}}`, `field "duration": want a string`, nil},
		{"duration float", `{"duration":3.5}`, `field "duration"`, nil},
		{"bad start", `{"duration":3,"start_time":"yesterday"}`, `field "start_time"`, nil},
		{"bad code", `{"duration":3,"response_code":"OK"}`, `field "response_code"`, nil},
		{"bad upstream time by its Istio name", `{"duration":3,"upstream_service_time":"x"}`, `field "x-envoy-upstream-service-time"`, nil},
		{"too many attempts", `{"duration":3,"upstream_service_time":1,"upstream_request_attempt_count":1000}`, `field "upstream_request_attempt_count"`, nil},
		{"text after", `{"duration":3} x`, "invalid JSON", nil},
		{"traceparent before trace_id before b3",
			`{"duration":3,"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01","trace_id":"11111111111111111111111111111111","x-b3-traceid":"2222222222222222"}`, "",
			func(r correlate.IngressLog) bool { return r.TraceID == "4bf92f3577b34da6a3ce929d0e0e4736" }},
		{"bad traceparent falls back to trace_id",
			`{"duration":3,"traceparent":"garbage","trace_id":"11111111111111111111111111111111"}`, "",
			func(r correlate.IngressLog) bool { return r.TraceID == "11111111111111111111111111111111" }},
		{"64-bit trace_id is not a trace id", `{"duration":3,"trace_id":"1111111111111111"}`, "",
			func(r correlate.IngressLog) bool { return r.TraceID == "" }},
		{"unknown keys of any type", `{"duration":3,"x":{"y":[true,null]}}`, "",
			func(r correlate.IngressLog) bool { return r.RequestTime == 3*ms && r.Tries == nil }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseJSON(tt.line)
			if tt.wantErr != "" {
				parsertest.CheckResult(t, "ParseJSON", r, err, correlate.IngressLog{}, tt.wantErr)
				parsertest.CheckError(t, "ParseJSON", r, err, "envoy JSON log: ")
				return
			}
			if err != nil || !tt.check(r) {
				t.Fatalf("ParseJSON = %+v, %v", r, err)
			}
		})
	}
}

func BenchmarkParseText(b *testing.B) {
	parsertest.BenchLines(b, filepath.Join("testdata", "envoy-docs.log"), ParseText)
}

func BenchmarkParseJSON(b *testing.B) {
	parsertest.BenchLines(b, filepath.Join("testdata", "envoy-json.log"), ParseJSON)
}
