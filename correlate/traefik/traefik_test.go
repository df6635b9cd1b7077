package traefik

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

// TestSamples: every line of traefik-json.log.
func TestSamples(t *testing.T) {
	parsertest.CheckSamples(t, filepath.Join("testdata", "traefik-json.log"), ParseJSON, []correlate.IngressLog{
		{Keys: correlate.Keys{TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", RequestID: "d1e0c2f3-9a4b-4c5d-8e6f-0a1b2c3d4e5f"},
			Start: at("2026-11-26T10:00:00.105123456Z"), RequestTime: 37125 * time.Microsecond, Resolution: Resolution,
			Tries:  []correlate.UpstreamTry{{Addr: "10.1.2.3:8080", Status: 200, Response: 30250 * time.Microsecond}},
			Method: "GET", Path: "/orders/42", Host: "shop.example.com", Status: 200, Upstream: "default-shop-8080@kubernetes"},
		{Keys: correlate.Keys{TraceID: "80f198ee56343ba864fe8b2a57d3eff7"},
			Start: at("2026-11-26T10:00:01Z"), RequestTime: 4201 * time.Microsecond, Resolution: Resolution,
			Tries:  []correlate.UpstreamTry{{}, {}, {Addr: "172.18.0.3:81", Status: 502, Response: 1100 * time.Microsecond}},
			Method: "GET", Path: "/retry", Host: "127.0.0.1", Status: 502, Upstream: "service2@file"},
		{Keys: correlate.Keys{TraceID: "5759e988bd862e3fe1be46a994272793", XRayRoot: "1-5759e988-bd862e3fe1be46a994272793"},
			Start: at("2026-11-26T10:00:02.5Z"), RequestTime: 85 * time.Microsecond, Resolution: Resolution,
			Method: "GET", Path: "/", Host: "shop.example.com", Status: 301},
	})
}

// TestErrors: malformed lines are rejected naming the field; lenient
// cases are accepted.
func TestErrors(t *testing.T) {
	for _, tt := range []struct {
		name, line, wantErr string
		check               func(correlate.IngressLog) bool
	}{
		{"not JSON", `Duration=3`, "invalid JSON", nil},
		{"CLF line", `203.0.113.7 - - [26/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 5 "-" "-" 1 "r@file" "http://10.1.2.3" 3ms`, "invalid JSON", nil},
		{"no Duration", `{"DownstreamStatus":200}`, `field "Duration": missing`, nil},
		{"Duration bool", `{"Duration":true}`, `field "Duration": want a string`, nil},
		{"Duration negative", `{"Duration":-1}`, `field "Duration"`, nil},
		{"Duration plus", `{"Duration":"+1"}`, `field "Duration"`, nil},
		{"Duration float", `{"Duration":1.5}`, `field "Duration"`, nil},
		{"Duration huge", `{"Duration":99999999999999999999}`, `field "Duration"`, nil},
		{"bad StartUTC", `{"Duration":1,"StartUTC":"today"}`, `field "StartUTC"`, nil},
		{"bad status", `{"Duration":1,"DownstreamStatus":2000}`, `field "DownstreamStatus"`, nil},
		{"bad OriginStatus", `{"Duration":1,"OriginStatus":"x"}`, `field "OriginStatus"`, nil},
		{"bad OriginDuration", `{"Duration":1,"OriginDuration":"1ms"}`, `field "OriginDuration"`, nil},
		{"too many retries", `{"Duration":1,"RetryAttempts":101}`, `field "RetryAttempts"`, nil},
		{"bad size", `{"Duration":1,"DownstreamContentSize":"big"}`, `field "DownstreamContentSize"`, nil},
		{"durations as strings", `{"Duration":"2000","OriginDuration":"1000","ServiceURL":"http://10.0.0.1"}`, "",
			func(r correlate.IngressLog) bool {
				return r.RequestTime == 2*time.Microsecond && len(r.Tries) == 1 && r.Tries[0].Addr == "http://10.0.0.1"
			}},
		{"StartLocal when no StartUTC", `{"Duration":1,"StartLocal":"2026-11-26T11:00:00+01:00"}`, "",
			func(r correlate.IngressLog) bool {
				return r.Start.Equal(at("2026-11-26T10:00:00Z")) && r.Start.Location() == time.UTC
			}},
		{"malformed traceparent ignored", `{"Duration":1,"request_Traceparent":"00-xyz"}`, "",
			func(r correlate.IngressLog) bool { return r.TraceID == "" }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseJSON(tt.line)
			if tt.wantErr != "" {
				parsertest.CheckResult(t, "ParseJSON", r, err, correlate.IngressLog{}, tt.wantErr)
				parsertest.CheckError(t, "ParseJSON", r, err, "traefik JSON log: ")
				return
			}
			if err != nil || !tt.check(r) {
				t.Fatalf("ParseJSON = %+v, %v", r, err)
			}
		})
	}
}

func BenchmarkParseJSON(b *testing.B) {
	parsertest.BenchLines(b, filepath.Join("testdata", "traefik-json.log"), ParseJSON)
}
