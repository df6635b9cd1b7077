package haproxy

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hopscope/hopscope/correlate"
	"github.com/hopscope/hopscope/correlate/internal/parsertest"
)

// rec is a LoadBalancerLog written for tables.
type rec struct {
	start                  string // RFC 3339, UTC
	total, target          time.Duration
	notDispatched          bool
	method, path           string
	status                 int
	targetAddr             string
	traceID, root, request string
}

func lb(r rec) correlate.LoadBalancerLog {
	t, err := time.Parse(time.RFC3339Nano, r.start)
	if err != nil {
		panic(err)
	}
	return correlate.LoadBalancerLog{
		Keys:       correlate.Keys{TraceID: r.traceID, XRayRoot: r.root, RequestID: r.request},
		Kind:       "haproxy",
		Start:      t.UTC(),
		Total:      r.total,
		Target:     r.target,
		Dispatched: !r.notDispatched,
		Resolution: time.Millisecond,
		Method:     r.method, Path: r.path,
		Status:     r.status,
		TargetAddr: r.targetAddr,
	}
}

const ms = time.Millisecond

// The examples of HAProxy's configuration manual (sections 8.2.3, 8.2.4,
// 8.8 and 8.9 of configuration.txt as Debian's haproxy 2.6 ships it), each
// joined into one line: testdata/haproxy-docs.log. Their syslog header is
// in UTC here.
var docsWant = []rec{
	{ // "option logasap": +Ta and +bytes
		start: "2009-02-06T12:14:14.655Z", total: 30 * ms, target: 14 * ms,
		method: "GET", path: "/image.iso", status: 200, targetAddr: "static/srv1",
	},
	{ // the manual's HTTP log example; its capture is the Host header
		start: "2009-02-06T12:14:14.655Z", total: 109 * ms, target: 69 * ms,
		method: "GET", path: "/index.html", status: 200, targetAddr: "static/srv1", request: "1wt.eu",
	},
	{ // the HTTPS log format: fields after the request line ignored
		start: "2009-02-06T12:14:14.655Z", total: 109 * ms, target: 69 * ms,
		method: "GET", path: "/index.html", status: 200, targetAddr: "static/srv1", request: "1wt.eu",
	},
	{ // no milliseconds in the date, no version in the request line
		start: "2004-08-09T20:26:09Z", total: 162 * ms, target: 162 * ms,
		method: "GET", path: "/", status: 200, targetAddr: "proxy-out/cache1", request: "fr.adserver.yahoo.co",
	},
	{
		start: "2004-08-09T20:30:46Z", total: 182 * ms, target: 182 * ms,
		method: "GET", path: "/", status: 200, targetAddr: "proxy-out/cache1", request: "w.ods.org",
	},
	{
		start: "2004-08-09T20:30:46Z", total: 128 * ms, target: 126 * ms,
		method: "GET", path: "/", status: 301, targetAddr: "proxy-out/cache1", request: "www.sytadin.equipement.gouv.fr",
	},
	{ // "haproxy[674]: " only
		start: "2003-10-15T08:31:57.130Z", total: 6723 * ms, target: 147 * ms,
		method: "HEAD", path: "/", status: 200, targetAddr: "px-http/srv1",
	},
	{
		start: "2003-10-15T08:31:57.149Z", total: 6870 * ms, target: 147 * ms,
		method: "HEAD", path: "/", status: 200, targetAddr: "px-http/srv1",
	},
	{
		start: "2003-10-15T08:32:17.654Z", total: 30 * ms, target: 14 * ms,
		method: "GET", path: "/image.iso", status: 200, targetAddr: "px-http/srv1",
	},
	{
		start: "2003-10-15T08:32:17.925Z", total: 30 * ms, target: 14 * ms,
		method: "GET", path: "/cgi-bin/bug.cgi", status: 502, targetAddr: "px-http/srv1",
	},
	{ // the client aborted: no status (-1), no request, no server
		start: "2003-10-15T15:18:55.798Z", total: 8490 * ms, notDispatched: true,
	},
	{
		start: "2003-10-15T15:19:06.103Z", total: 50001 * ms, notDispatched: true, status: 408,
	},
	{ // the server refused the connection
		start: "2003-10-15T15:26:31.462Z", total: 11215 * ms, notDispatched: true,
		method: "HEAD", path: "/", status: 503, targetAddr: "px-http/srv1",
	},
}

// cet is the zone testdata/haproxy-*.log were written in (Europe/Berlin in
// November).
var cet = time.FixedZone("CET", 3600)

// Lines written by Debian's HAProxy 2.6 with testdata/haproxy.cfg:
// testdata/haproxy-raw.log ("log stdout format raw") and, for the same
// requests, testdata/haproxy-syslog.log (each line in rfc3164, then in
// rfc5424).
var labWant = []rec{
	{ // X-Request-ID and traceparent captured
		start: "2026-11-26T02:30:49.800Z", total: 40 * ms, target: 39 * ms,
		method: "GET", path: "/orders/42", status: 200, targetAddr: "web/web1",
		request: "7f1c3b2a-9d4e-4c1b-8a2f-5e6d7c8b9a01", traceID: "4bf92f3577b34da6a3ce929d0e0e4736",
	},
	{ // X-Amzn-Trace-Id as an ALB forwards it
		start: "2026-11-26T02:30:49.938Z", total: 14 * ms, target: 14 * ms,
		method: "GET", path: "/cart", status: 200, targetAddr: "web/web1",
		traceID: "67891233abcdef012345678912345678", root: "1-67891233-abcdef012345678912345678",
	},
	{ // connection refused, twice retried: Tc and Tr -1
		start: "2026-11-26T02:30:50.148Z", total: 117 * ms, notDispatched: true,
		method: "GET", path: "/down/x", status: 503, targetAddr: "down/down1", request: "req-down-1",
	},
	{ // server timeout: Tr -1; traceparent wins over X-Ray for the trace id
		start: "2026-11-26T02:30:50.350Z", total: 31 * ms, notDispatched: true,
		method: "GET", path: "/slow/report", status: 504, targetAddr: "slow/slow1",
		traceID: "0af7651916cd43dd8448eb211c80319c", root: "1-5759e988-bd862e3fe1be46a994272793",
	},
	{ // denied by HAProxy: <NOSRV>
		start: "2026-11-26T02:30:50.434Z", total: 0, notDispatched: true,
		method: "GET", path: "/admin/users", status: 403,
	},
	{ // redispatched (+1 retries); the request id needed #XX escapes
		start: "2026-11-26T02:30:50.487Z", total: 8 * ms, target: 7 * ms,
		method: "GET", path: "/redispatch/y", status: 200, targetAddr: "redispatch/web1",
		request: `has {brace} |pipe| "quote" #hash`,
	},
	{
		start: "2026-11-26T02:30:50.541Z", total: 126 * ms, target: 126 * ms,
		method: "POST", path: "/orders", status: 200, targetAddr: "web/web1", request: "5e6d7c8b",
	},
	{ // a frontend without captures: no braces
		start: "2026-11-26T02:30:50.744Z", total: 7 * ms, target: 6 * ms,
		method: "GET", path: "/plain", status: 200, targetAddr: "web/web1",
	},
	{ // "<BADREQ>": no captures either
		start: "2026-11-26T02:30:50.824Z", total: 0, notDispatched: true, status: 400,
	},
}

func TestParseSamples(t *testing.T) {
	check := func(file string, loc *time.Location, want func(i int) rec, n int) {
		records := make([]correlate.LoadBalancerLog, n)
		for i := range records {
			records[i] = lb(want(i))
		}
		parse := func(line string) (correlate.LoadBalancerLog, error) { return Parse(line, loc) }
		parsertest.CheckSamples(t, filepath.Join("testdata", file), parse, records)
	}
	check("haproxy-docs.log", nil, func(i int) rec { return docsWant[i] }, len(docsWant))
	check("haproxy-raw.log", cet, func(i int) rec { return labWant[i] }, len(labWant))
	check("haproxy-syslog.log", cet, func(i int) rec { return labWant[i/2] }, 2*len(labWant))
}

// base is testdata/haproxy-raw.log line 1.
const base = `127.0.0.1:59100 [26/Nov/2026:03:30:49.800] fe web/web1 0/0/1/39/40 200 139 - - ---- 1/1/0/0/0 0/0 {7f1c3b2a-9d4e-4c1b-8a2f-5e6d7c8b9a01|00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01|} {text/plain} "GET /orders/42?ms=37&debug=true HTTP/1.1"`

func edit(old, new string) string { return parsertest.Edit(base, old, new) }

func TestParse(t *testing.T) {
	baseRec := labWant[0]
	with := func(f func(*rec)) rec {
		r := baseRec
		f(&r)
		return r
	}
	tests := []struct {
		name    string
		line    string
		loc     *time.Location
		want    rec
		wantErr string
	}{
		{name: "base", line: base, loc: cet, want: baseRec},
		{name: "nil location is UTC", line: base, want: with(func(r *rec) { r.start = "2026-11-26T03:30:49.800Z" })},
		{name: "other location", line: base, loc: time.FixedZone("", -5*3600), want: with(func(r *rec) { r.start = "2026-11-26T08:30:49.800Z" })},
		{name: "trailing CRLF", line: base + "\r\n", loc: cet, want: baseRec},
		{name: "syslog header with priority", line: "<134>Nov 26 03:30:49 lb-1 haproxy[7528]: " + base, loc: cet, want: baseRec},
		{name: "RFC 5424 header", line: "<134>1 2026-11-26T03:30:49.842194+01:00 lb-1 haproxy 7528 - - " + base, loc: cet, want: baseRec},
		{name: "container runtime prefix", line: "2026-11-26T02:30:49.842194Z stdout F " + base, loc: cet, want: baseRec},
		{name: "IPv6 client", line: edit("127.0.0.1:59100", "2001:db8::1:59100"), loc: cet, want: baseRec},
		{name: "UNIX socket client", line: edit("127.0.0.1:59100", "unix:1"), loc: cet, want: baseRec},
		{name: "SSL frontend name", line: edit(" fe ", " fe~ "), loc: cet, want: baseRec},
		{name: "microseconds in the date", line: edit("49.800]", "49.800123]"), loc: cet,
			want: with(func(r *rec) { r.start = "2026-11-26T02:30:49.800123Z" })},
		{name: "old Tq/Tw/Tc/Tr/Tt with +Tt", line: edit("0/0/1/39/40", "5/0/1/39/+45"), loc: cet,
			want: with(func(r *rec) { r.total = 45 * ms })},
		{name: "connect failed: Tc -1", line: edit("0/0/1/39/40 200", "0/0/-1/-1/3005 503"), loc: cet,
			want: with(func(r *rec) { r.total, r.target, r.notDispatched, r.status = 3005*ms, 0, true, 503 })},
		{name: "server did not answer: Tr -1", line: edit("0/0/1/39/40 200", "0/0/1/-1/30001 504"), loc: cet,
			want: with(func(r *rec) { r.total, r.target, r.notDispatched, r.status = 30001*ms, 0, true, 504 })},
		{name: "no server", line: edit("web/web1 0/0/1/39/40 200", "fe/<NOSRV> 0/-1/-1/-1/0 403"), loc: cet,
			want: with(func(r *rec) { r.total, r.target, r.notDispatched, r.status, r.targetAddr = 0, 0, true, 403, "" })},
		{name: "stats page", line: edit("web/web1", "stats/<STATS>"), loc: cet,
			want: with(func(r *rec) { r.targetAddr = "" })},
		{name: "HTTP/2 request in absolute form", line: edit(`"GET /orders/42?ms=37&debug=true HTTP/1.1"`, `"GET https://shop.example/orders/42?ms=37 HTTP/2.0"`), loc: cet,
			want: baseRec},
		{name: "escaped request line decoded", line: edit(`"GET /orders/42?ms=37&debug=true HTTP/1.1"`, `"GET /a#20b#22c?x HTTP/1.1"`), loc: cet,
			want: with(func(r *rec) { r.path = `/a b"c` })},
		{name: "quotes escaped by syslog-ng", line: edit(`"GET /orders/42?ms=37&debug=true HTTP/1.1"`, `\"GET /orders/42 HTTP/1.1\"`), loc: cet,
			want: baseRec},
		{name: "empty request line", line: edit(`"GET /orders/42?ms=37&debug=true HTTP/1.1"`, `""`), loc: cet,
			want: with(func(r *rec) { r.method, r.path = "", "" })},
		{name: "no captures", line: edit(` {7f1c3b2a-9d4e-4c1b-8a2f-5e6d7c8b9a01|00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01|} {text/plain}`, ""), loc: cet,
			want: with(func(r *rec) { r.request, r.traceID = "", "" })},
		{name: "request headers only", line: edit(` {text/plain}`, ""), loc: cet, want: baseRec},
		{name: "empty captures", line: edit(`{7f1c3b2a-9d4e-4c1b-8a2f-5e6d7c8b9a01|00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01|}`, "{||}"), loc: cet,
			want: with(func(r *rec) { r.request, r.traceID = "", "" })},
		{name: "captures in another order, with spaces", line: edit(`{7f1c3b2a-9d4e-4c1b-8a2f-5e6d7c8b9a01|00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01|}`,
			`{ Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1 | 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 |7f1c3b2a-9d4e-4c1b-8a2f-5e6d7c8b9a01}`), loc: cet,
			want: with(func(r *rec) { r.root = "1-5759e988-bd862e3fe1be46a994272793" })},
		{name: "truncated X-Amzn-Trace-Id is not a request id", line: edit(`00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01|}`, `|Self=1-67891234-12456789abcdef012345678;Root=1-6789}`), loc: cet,
			want: with(func(r *rec) { r.traceID = "" })},
		{name: "invalid traceparent is taken as the request id", line: edit(`{7f1c3b2a-9d4e-4c1b-8a2f-5e6d7c8b9a01|00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01|}`,
			`{00-00000000000000000000000000000000-00f067aa0ba902b7-01}`), loc: cet,
			want: with(func(r *rec) { r.traceID, r.request = "", "00-00000000000000000000000000000000-00f067aa0ba902b7-01" })},
		{name: "second traceparent ignored", line: edit(`01|}`, `01|00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01}`), loc: cet, want: baseRec},
		{name: "Host captured first is taken as the request id", line: edit(`{7f1c3b2a`, `{shop.example|7f1c3b2a`), loc: cet,
			want: with(func(r *rec) { r.request = "shop.example" })},

		{name: "empty line", line: "", wantErr: `HAProxy log: field 3 request_date: missing: no "[dd/Mon/yyyy:hh:mm:ss]" in the line`},
		{name: "HAProxy's default (connect) log format", line: "Feb  6 12:12:09 localhost haproxy[14385]: Connect from 10.0.1.2:33312 to 10.0.3.31:8012 (www/HTTP)",
			wantErr: "field 3 request_date: missing"},
		{name: "TCP log format (manual 8.2.2)", line: "Feb  6 12:12:56 localhost haproxy[14387]: 10.0.1.2:33313 [06/Feb/2009:12:12:51.443] fnt bck/srv1 0/0/5007 212 -- 0/0/0/0/3 0/0",
			wantErr: `HAProxy log: field 6 TR/Tw/Tc/Tr/Ta: "0/0/5007": want 5 values separated by '/', got 3: not an HTTP log`},
		{name: "TCP log (manual 8.9)", line: "haproxy[18989]: 127.0.0.1:34550 [15/Oct/2003:15:24:28.312] px-tcp px-tcp/srv1 0/0/5007 0 cD 0/0/0/0/0 0/0",
			wantErr: "field 6 TR/Tw/Tc/Tr/Ta"},
		{name: "SSL handshake error (manual 8.2.5)", line: "Dec  3 18:27:14 localhost haproxy[6103]: 127.0.0.1:56059 [03/Dec/2012:17:35:10.380] frt/f1: Connection error during SSL handshake",
			wantErr: `HAProxy log: field 5 backend_name/server_name: "Connection": want backend/server`},
		{name: "no client before the date", line: base[strings.Index(base, "["):], wantErr: "HAProxy log: field 2 client_ip:client_port: missing"},
		{name: "truncated in the middle", line: base[:strings.Index(base, " ----")], wantErr: "HAProxy log: field 11 termination_state: missing"},
		{name: "truncated before the request", line: base[:strings.Index(base, ` "GET`)], wantErr: "HAProxy log: field 16 http_request: missing"},
		{name: "truncated inside the request (long request line)", line: base[:len(base)-10], wantErr: "HAProxy log: field 16 http_request: unterminated quote"},
		{name: "truncated inside the captures", line: base[:strings.Index(base, "|00-")], wantErr: "HAProxy log: field 14 captured_request_headers: unterminated '{'"},
		{name: "text after the closing quote", line: base + `x`, wantErr: `field 16 http_request: " not followed by a space`},
		{name: "request not quoted", line: edit(`"GET /orders/42?ms=37&debug=true HTTP/1.1"`, `GET /`), wantErr: `field 16 http_request: want the request line enclosed in '"'`},
		{name: "brace block not followed by a space", line: edit(`{text/plain}`, `{text/plain}"`), wantErr: "field 15 captured_response_headers: '}' not followed by a space"},
		{name: "bad timer", line: edit("0/0/1/39/40", "0/0/1/3x/40"), wantErr: `HAProxy log: field 6 TR/Tw/Tc/Tr/Ta: "0/0/1/3x/40": value 4 "3x": not an integer`},
		{name: "six timers", line: edit("0/0/1/39/40", "0/0/1/39/40/1"), wantErr: `field 6 TR/Tw/Tc/Tr/Ta: "0/0/1/39/40/1": more than 5 values`},
		{name: "timer below -1", line: edit("0/0/1/39/40", "0/-2/1/39/40"), wantErr: `value 2 "-2": not an integer`},
		{name: "negative Ta", line: edit("0/0/1/39/40", "0/0/1/39/-1"), wantErr: `value 5 "-1": not an integer`},
		{name: "huge timer", line: edit("0/0/1/39/40", "0/0/1/39/4000000000000000000000"), wantErr: `value 5 "4000000000000000000000": not an integer`},
		{name: "timer out of range", line: edit("0/0/1/39/40", "0/0/1/39/400000000000000000"), wantErr: `value 5 "400000000000000000": out of range`},
		{name: "negative status", line: edit(" 200 139 ", " -20 139 "), wantErr: `field 7 status_code: "-20": not a status code`},
		{name: "bad status", line: edit(" 200 139 ", " 2OO 139 "), wantErr: `HAProxy log: field 7 status_code: "2OO": not a status code`},
		{name: "two-digit status", line: edit(" 200 139 ", " 20 139 "), wantErr: `field 7 status_code: "20": not a status code`},
		{name: "bad bytes", line: edit(" 200 139 ", " 200 13k "), wantErr: `HAProxy log: field 8 bytes_read: "13k": not an integer`},
		{name: "bad termination state", line: edit(" ---- ", " --- "), wantErr: `HAProxy log: field 11 termination_state: "---": not a 4-character termination state`},
		{name: "bad connection counts", line: edit(" 1/1/0/0/0 ", " 1/1/0/0 "), wantErr: `HAProxy log: field 12 actconn/feconn/beconn/srv_conn/retries: "1/1/0/0": want 5 values separated by '/'`},
		{name: "bad queues", line: edit(" 0/0 {", " 0/x {"), wantErr: `HAProxy log: field 13 srv_queue/backend_queue: "0/x": value 2 "x": not an integer`},
		{name: "no server part", line: edit("web/web1", "web"), wantErr: `HAProxy log: field 5 backend_name/server_name: "web": want backend/server`},
		{name: "impossible date", line: edit("26/Nov/2026", "31/Nov/2026"), wantErr: `HAProxy log: field 3 request_date: "31/Nov/2026:03:30:49.800": not a date`},
		{name: "bad month", line: edit("26/Nov/2026", "26/Foo/2026"), wantErr: `field 3 request_date: "26/Foo/2026:03:30:49.800": not a date`},
		{name: "empty fraction", line: edit("49.800]", "49.]"), wantErr: `field 3 request_date: "26/Nov/2026:03:30:49.": not a date`},
		{name: "long value shortened in the error", line: edit(" 200 139 ", " 200 "+strings.Repeat("1", 70)+"x "), wantErr: `field 8 bytes_read: "` + strings.Repeat("1", 64) + `"…: not an integer`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.line, tt.loc)
			var want correlate.LoadBalancerLog
			if tt.wantErr == "" {
				want = lb(tt.want)
			}
			parsertest.CheckResult(t, "Parse", got, err, want, tt.wantErr)
		})
	}
}

func BenchmarkParse(b *testing.B) {
	parse := func(line string) (correlate.LoadBalancerLog, error) { return Parse(line, cet) }
	parsertest.BenchLines(b, filepath.Join("testdata", "haproxy-raw.log"), parse)
}
