package alb

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hopscope/hopscope/correlate"
	"github.com/hopscope/hopscope/correlate/internal/parsertest"
)

// The example entries of
// https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-access-logs.html#access-log-entry-examples
// verbatim (the page wraps them over several lines "only to make them
// easier to read"; here each is one line), in two editions: the archived
// one (testdata/aws-docs-archived.log, without conn_trace_id and with the
// list fields unquoted) and the current one (testdata/aws-docs-current.log,
// list fields quoted, conn_trace_id and the transform fields appended). See
// testdata/README.md for their provenance. Both editions describe the same
// seven requests, so they map to the same records.
var docWant = []correlate.LoadBalancerLog{
	// HTTP entry
	lb(rec{
		start: "2018-07-02T22:22:48.364Z", total: "1ms", target: "1ms",
		method: "GET", path: "/", status: 200, targetAddr: "10.0.0.1:80", targetStatus: 200,
		root: "1-58337262-36d228ad5d99923122bbe354", traceID: "5833726236d228ad5d99923122bbe354",
	}),
	// HTTPS entry
	lb(rec{
		start: "2018-07-02T22:22:48.364Z", total: "171ms", target: "48ms",
		method: "GET", path: "/", status: 200, targetAddr: "10.0.0.1:80", targetStatus: 200,
		root: "1-58337281-1d84f3d73c47ec4e58577259", traceID: "583372811d84f3d73c47ec4e58577259",
	}),
	// HTTP/2 entry
	lb(rec{
		start: "2018-07-02T22:22:48.364Z", total: "2ms", target: "2ms",
		method: "GET", path: "/", status: 200, targetAddr: "10.0.0.66:9000", targetStatus: 200,
		root: "1-58337327-72bd00b0343d75b906739c42", traceID: "5833732772bd00b0343d75b906739c42",
	}),
	// WebSockets entry
	lb(rec{
		start: "2018-07-02T22:22:48.364Z", total: "4ms", target: "3ms",
		method: "GET", path: "/", status: 101, targetAddr: "10.0.1.192:8010", targetStatus: 101,
		root: "1-58337364-23a8c76965a2ef7629b185e3", traceID: "5833736423a8c76965a2ef7629b185e3",
	}),
	// secured WebSockets entry
	lb(rec{
		start: "2018-07-02T22:22:48.364Z", total: "1ms", target: "1ms",
		method: "GET", path: "/", status: 101, targetAddr: "10.0.0.171:8010", targetStatus: 101,
		root: "1-58337364-23a8c76965a2ef7629b185e3", traceID: "5833736423a8c76965a2ef7629b185e3",
	}),
	// Lambda function, succeeded
	lb(rec{
		start: "2018-11-30T22:22:48.364Z", total: "1ms", target: "1ms",
		method: "GET", path: "/", status: 200, targetStatus: 200,
		root: "1-58337364-23a8c76965a2ef7629b185e3", traceID: "5833736423a8c76965a2ef7629b185e3",
	}),
	// Lambda function, failed
	lb(rec{
		start: "2018-11-30T22:22:48.364Z", total: "1ms", target: "1ms",
		method: "GET", path: "/", status: 502,
		root: "1-58337364-23a8c76965a2ef7629b185e3", traceID: "5833736423a8c76965a2ef7629b185e3",
	}),
}

func TestParseDocExamples(t *testing.T) {
	for _, file := range []string{"aws-docs-archived.log", "aws-docs-current.log"} {
		parsertest.CheckSamples(t, filepath.Join("testdata", file), Parse, docWant)
	}
}

// base is the documentation's HTTPS entry (current edition); the cases
// below change one part of it.
const base = `https 2018-07-02T22:23:00.186641Z app/my-loadbalancer/50dc6c495c0c9188 192.168.131.39:2817 10.0.0.1:80 0.086 0.048 0.037 200 200 0 57 "GET https://www.example.com:443/ HTTP/1.1" "curl/7.46.0" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/73e2d6bc24d8a067 "Root=1-58337281-1d84f3d73c47ec4e58577259" "www.example.com" "arn:aws:acm:us-east-2:123456789012:certificate/12345678-1234-1234-1234-123456789012" 1 2018-07-02T22:22:48.364000Z "authenticate,forward" "-" "-" "10.0.0.1:80" "200" "-" "-" TID_1234abcd5678ef90 "m.example.com" "-" "TransformSuccess"`

var baseRec = rec{
	start: "2018-07-02T22:22:48.364Z", total: "171ms", target: "48ms",
	method: "GET", path: "/", status: 200, targetAddr: "10.0.0.1:80", targetStatus: 200,
	root: "1-58337281-1d84f3d73c47ec4e58577259", traceID: "583372811d84f3d73c47ec4e58577259",
}

// edit replaces the first occurrence of old in base, failing loudly when
// it is not there.
func edit(old, new string) string { return parsertest.Edit(base, old, new) }

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		line    string
		want    rec // ignored when wantErr is set
		change  func(*rec)
		wantErr string // substring of the error
	}{
		{name: "base", line: base, want: baseRec},
		{name: "trailing newline", line: base + "\n", want: baseRec},
		{name: "trailing CRLF", line: base + "\r\n", want: baseRec},
		{name: "exactly the 29 documented fields", line: base[:strings.Index(base, " TID_")], want: baseRec},
		{name: "unknown trailing fields, even malformed, ignored", line: base + ` "unterminated 7 x`, want: baseRec},
		{name: "runs of spaces between fields", line: edit(" 0.086 0.048 ", "  0.086   0.048 "), want: baseRec},

		// Timings.
		{name: "not dispatched: all -1 (malformed request)",
			line: edit("10.0.0.1:80 0.086 0.048 0.037 200 200", "- -1 -1 -1 400 -"),
			want: baseRec, change: func(r *rec) {
				r.total, r.target, r.notDispatched, r.targetAddr, r.status, r.targetStatus = "0", "0", true, "", 400, 0
			}},
		{name: "not dispatched: target timed out (0.000 -1 -1)",
			line: edit("0.086 0.048 0.037 200 200", "0.000 -1 -1 504 -"),
			want: baseRec, change: func(r *rec) {
				r.total, r.target, r.notDispatched, r.status, r.targetStatus = "0", "0", true, 504, 0
			}},
		{name: "dash timing is like -1",
			line: edit("0.086 0.048 0.037", "0.001 - -"),
			want: baseRec, change: func(r *rec) { r.total, r.target, r.notDispatched = "0", "0", true }},
		{name: "microsecond precision", line: edit("0.086 0.048 0.037", "0.000123 0.001456 0.000007"),
			want: baseRec, change: func(r *rec) { r.total, r.target, r.res = "1586us", "1456us", "1us" }},
		{name: "mixed precision: the coarsest wins", line: edit("0.086 0.048 0.037", "0.000123 0.05 0.000007"),
			want: baseRec, change: func(r *rec) { r.total, r.target, r.res = "50.13ms", "50ms", "10ms" }},
		{name: "whole seconds", line: edit("0.086 0.048 0.037", "0 61 0"),
			want: baseRec, change: func(r *rec) { r.total, r.target, r.res = "61s", "61s", "1s" }},
		{name: "nanosecond precision, exact", line: edit("0.086 0.048 0.037", "0.000000001 0.999999999 1.000000000"),
			want: baseRec, change: func(r *rec) { r.total, r.target, r.res = "2s", "999999999ns", "1ns" }},
		{name: "exact decimal: 0.1+0.2 is 300ms", line: edit("0.086 0.048 0.037", "0.100 0.200 0.000"),
			want: baseRec, change: func(r *rec) { r.total, r.target = "300ms", "200ms" }},
		{name: "long WebSockets connection", line: edit("0.086 0.048 0.037", "0.000 86400.123 0.000"),
			want: baseRec, change: func(r *rec) { r.total, r.target = "24h0m0.123s", "24h0m0.123s" }},

		// Request line.
		{name: "path without query", line: edit(`"GET https://www.example.com:443/ HTTP/1.1"`, `"GET https://www.example.com:443/orders/42?id=1&x=y HTTP/1.1"`),
			want: baseRec, change: func(r *rec) { r.path = "/orders/42" }},
		{name: "percent-encoded path kept as sent", line: edit(`"GET https://www.example.com:443/ HTTP/1.1"`, `"POST https://www.example.com:443/caf%C3%A9/a%20b#frag HTTP/2.0"`),
			want: baseRec, change: func(r *rec) { r.method, r.path = "POST", "/caf%C3%A9/a%20b" }},
		{name: "space in URI", line: edit(`"GET https://www.example.com:443/ HTTP/1.1"`, `"GET https://www.example.com:443/a b?c HTTP/1.1"`),
			want: baseRec, change: func(r *rec) { r.path = "/a b" }},
		{name: "escaped quote in request and user agent", line: edit(`"GET https://www.example.com:443/ HTTP/1.1" "curl/7.46.0"`, `"GET https://www.example.com:443/q\"x HTTP/1.1" "Mozilla/5.0 \"quoted\" \\dir"`),
			want: baseRec, change: func(r *rec) { r.path = `/q"x` }},
		{name: "gRPC", line: edit(`"GET https://www.example.com:443/ HTTP/1.1"`, `"POST https://www.example.com:443/helloworld.Greeter/SayHello HTTP/2.0"`),
			want: baseRec, change: func(r *rec) { r.method, r.path = "POST", "/helloworld.Greeter/SayHello" }},
		{name: "origin-form target", line: edit(`"GET https://www.example.com:443/ HTTP/1.1"`, `"GET /health?full=1 HTTP/1.1"`),
			want: baseRec, change: func(r *rec) { r.path = "/health" }},
		{name: "unparsable request as the load balancer logs it", line: edit(`"GET https://www.example.com:443/ HTTP/1.1"`, `"- http://203.0.113.10:80- -"`),
			want: baseRec, change: func(r *rec) { r.method, r.path = "", "" }},
		{name: "empty request as the load balancer logs it", line: edit(`"GET https://www.example.com:443/ HTTP/1.1"`, `"- - - "`),
			want: baseRec, change: func(r *rec) { r.method, r.path = "", "" }},
		{name: "request is a dash", line: edit(`"GET https://www.example.com:443/ HTTP/1.1"`, `"-"`),
			want: baseRec, change: func(r *rec) { r.method, r.path = "", "" }},
		{name: "binary junk as method", line: edit(`"GET https://www.example.com:443/ HTTP/1.1"`, "\"\x16\x03\x01 / HTTP/1.1\""),
			want: baseRec, change: func(r *rec) { r.method = "" }},

		// Trace id and other fields.
		{name: "trace id with Self, Root and a custom field", line: edit(`"Root=1-58337281-1d84f3d73c47ec4e58577259"`, `"Self=1-67891234-12456789abcdef012345678;Root=1-67891233-abcdef012345678912345678;CalledFrom=app"`),
			want: baseRec, change: func(r *rec) {
				r.root, r.traceID = "1-67891233-abcdef012345678912345678", "67891233abcdef012345678912345678"
			}},
		{name: "upper-case Root, trace id lower case", line: edit(`"Root=1-58337281-1d84f3d73c47ec4e58577259"`, `"Root=1-5759E988-BD862E3FE1BE46A994272793"`),
			want: baseRec, change: func(r *rec) {
				r.root, r.traceID = "1-5759E988-BD862E3FE1BE46A994272793", "5759e988bd862e3fe1be46a994272793"
			}},
		{name: "trace id missing", line: edit(`"Root=1-58337281-1d84f3d73c47ec4e58577259"`, `"-"`),
			want: baseRec, change: func(r *rec) { r.root, r.traceID = "", "" }},
		{name: "malformed Root is not an error", line: edit(`"Root=1-58337281-1d84f3d73c47ec4e58577259"`, `"Root=1-6655dd56-7bd889385aff85131b10****"`),
			want: baseRec, change: func(r *rec) { r.root, r.traceID = "", "" }},
		{name: "all-zero Root ignored", line: edit(`"Root=1-58337281-1d84f3d73c47ec4e58577259"`, `"Root=1-00000000-000000000000000000000000"`),
			want: baseRec, change: func(r *rec) { r.root, r.traceID = "", "" }},
		{name: "IPv6 client and target", line: edit("192.168.131.39:2817 10.0.0.1:80", "2001:db8::5:52000 2001:db8:0:1::7:8080"),
			want: baseRec, change: func(r *rec) { r.targetAddr = "2001:db8:0:1::7:8080" }},
		{name: "quoted target and status (any field may be quoted)", line: edit("10.0.0.1:80 0.086 0.048 0.037 200 200", `"10.0.0.1:80" 0.086 0.048 0.037 "200" "200"`),
			want: baseRec},
		{name: "creation time missing", line: edit("1 2018-07-02T22:22:48.364000Z", "1 -"),
			want: baseRec, change: func(r *rec) { r.start = "" }},
		{name: "creation time with offset normalised to UTC", line: edit("1 2018-07-02T22:22:48.364000Z", "1 2018-07-03T00:22:48.364+02:00"),
			want: baseRec},

		// Errors.
		{name: "empty line", line: "", wantErr: "ALB log: field 1 type: missing (the line has 0 fields, want at least 29)"},
		{name: "truncated line", line: base[:strings.Index(base, ` "-" "-" "10.0.0.1:80"`)],
			wantErr: "ALB log: field 24 redirect_url: missing (the line has 23 fields"},
		{name: "wrong field count: classic ELB line", line: `2015-05-13T23:39:43.945958Z my-loadbalancer 192.168.131.39:2817 10.0.0.1:80 0.000073 0.001048 0.000057 200 200 0 29 "GET http://www.example.com:80/ HTTP/1.1" "curl/7.38.0" - -`,
			wantErr: "field 16 ssl_protocol: missing (the line has 15 fields"},
		{name: "line cut inside a quoted field", line: base[:strings.Index(base, "curl/")+3],
			wantErr: "ALB log: field 14 user_agent: unterminated quote"},
		{name: "unterminated quote at the end of a field", line: edit(`"curl/7.46.0"`, `"curl/7.46.0\"`),
			wantErr: "ALB log: field 14 user_agent: closing quote not followed by a space"},
		{name: "text after closing quote", line: edit(`"curl/7.46.0"`, `"curl"/7.46.0`),
			wantErr: "ALB log: field 14 user_agent: closing quote not followed by a space"},
		{name: "bad number", line: edit("0.086 0.048", "0.0x6 0.048"),
			wantErr: `ALB log: field 6 request_processing_time: "0.0x6": not a decimal number of seconds`},
		{name: "negative timing other than -1", line: edit("0.048 0.037", "-0.048 0.037"),
			wantErr: `ALB log: field 7 target_processing_time: "-0.048": not a decimal number of seconds`},
		{name: "timing -1.000", line: edit("0.048 0.037", "0.048 -1.000"),
			wantErr: `ALB log: field 8 response_processing_time: "-1.000"`},
		{name: "exponent", line: edit("0.048 0.037", "4.8e-2 0.037"),
			wantErr: "field 7 target_processing_time"},
		{name: "dot without digits", line: edit("0.048 0.037", "1. 0.037"),
			wantErr: "field 7 target_processing_time"},
		{name: "fraction without integer", line: edit("0.048 0.037", ".048 0.037"),
			wantErr: "field 7 target_processing_time"},
		{name: "too many decimals", line: edit("0.048 0.037", "0.0480000001 0.037"),
			wantErr: "field 7 target_processing_time: \"0.0480000001\": more than 9 decimal places"},
		{name: "overflow", line: edit("0.048 0.037", "99999999999999999999 0.037"),
			wantErr: "field 7 target_processing_time: \"99999999999999999999\": out of range"},
		{name: "empty quoted timing", line: edit("0.048 0.037", `"" 0.037`),
			wantErr: "field 7 target_processing_time: \"\": empty value"},
		{name: "bad status", line: edit("0.037 200 200", "0.037 20O 200"),
			wantErr: `ALB log: field 9 elb_status_code: "20O": not a three-digit status code`},
		{name: "four-digit target status", line: edit("0.037 200 200", "0.037 200 2000"),
			wantErr: `ALB log: field 10 target_status_code: "2000"`},
		{name: "bad creation time", line: edit("1 2018-07-02T22:22:48.364000Z", "1 2018-07-02 22:22:48"),
			wantErr: `field 22 request_creation_time: "2018-07-02": not an ISO 8601 time`},
		{name: "long bad value shortened in the error", line: edit("0.048 0.037", strings.Repeat("9", 100)+"x 0.037"),
			wantErr: `field 7 target_processing_time: "` + strings.Repeat("9", 64) + `"…: `},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.line)
			var want correlate.LoadBalancerLog
			if tt.wantErr == "" {
				r := tt.want
				if tt.change != nil {
					tt.change(&r)
				}
				want = lb(r)
			}
			parsertest.CheckResult(t, "Parse", got, err, want, tt.wantErr)
		})
	}
}

// rec is a LoadBalancerLog written for tables: durations and times as
// strings, Kind and Resolution defaulted.
type rec struct {
	start, total, target, res string
	notDispatched             bool
	method, path              string
	status, targetStatus      int
	targetAddr                string
	root, traceID             string
}

func lb(r rec) correlate.LoadBalancerLog {
	l := correlate.LoadBalancerLog{
		Keys:         correlate.Keys{TraceID: r.traceID, XRayRoot: r.root},
		Kind:         "alb",
		Total:        dur(r.total),
		Target:       dur(r.target),
		Dispatched:   !r.notDispatched,
		Resolution:   time.Millisecond,
		Method:       r.method,
		Path:         r.path,
		Status:       r.status,
		TargetAddr:   r.targetAddr,
		TargetStatus: r.targetStatus,
	}
	if r.res != "" {
		l.Resolution = dur(r.res)
	}
	if r.start != "" {
		t, err := time.Parse(time.RFC3339Nano, r.start)
		if err != nil {
			panic(err)
		}
		l.Start = t.UTC()
	}
	return l
}

func dur(s string) time.Duration {
	d, err := time.ParseDuration(s)
	if err != nil {
		panic(err)
	}
	return d
}

func BenchmarkParse(b *testing.B) {
	parsertest.BenchLines(b, filepath.Join("testdata", "aws-docs-current.log"), Parse)
}
