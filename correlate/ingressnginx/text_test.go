package ingressnginx

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hopscope/hopscope/correlate"
	"github.com/hopscope/hopscope/correlate/internal/parsertest"
)

// The lines of testdata/nginx-text.log were written by Debian's nginx with
// ingress-nginx's default log-format-upstream (testdata/nginx.conf, in
// TZ=Europe/Berlin, so $time_local is +0100). See testdata/README.md.
var textWant = []correlate.IngressLog{
	{ // a plain GET
		Keys:  correlate.Keys{RequestID: "8953dccbf5947694c971a6996ce7f6c4"},
		Start: utc("2026-11-26T02:30:37.958Z"), RequestTime: ms(42), Resolution: time.Millisecond,
		Method: "GET", Path: "/orders/42", Status: 200, Upstream: "shop-web-8080",
		Tries: []correlate.UpstreamTry{{Addr: "127.0.0.1:18081", Status: 200, Response: ms(42)}},
	},
	{ // first pod refused the connection, retried on the next
		Keys:  correlate.Keys{RequestID: "7f1c3b2a-9d4e-4c1b-8a2f-5e6d7c8b9a01"},
		Start: utc("2026-11-26T02:30:37.993Z"), RequestTime: ms(7), Resolution: time.Millisecond,
		Method: "GET", Path: "/refused/cart", Status: 200, Upstream: "shop-refused-8080",
		Tries: []correlate.UpstreamTry{
			{Addr: "127.0.0.1:18089", Status: 502},
			{Addr: "127.0.0.1:18081", Status: 200, Response: ms(7)},
		},
	},
	{ // first pod answered 502, retried (proxy_next_upstream http_502)
		Keys:  correlate.Keys{RequestID: "921a180fc1171b467c3a7702c168250a"},
		Start: utc("2026-11-26T02:30:37.990Z"), RequestTime: ms(10), Resolution: time.Millisecond,
		Method: "GET", Path: "/bad/checkout", Status: 200, Upstream: "shop-bad-8080",
		Tries: []correlate.UpstreamTry{
			{Addr: "127.0.0.1:18082", Status: 502, Response: ms(6)},
			{Addr: "127.0.0.1:18081", Status: 200, Response: ms(5)},
		},
	},
	{ // internal redirect (error_page 502 = @fallback): " : " groups
		Keys:  correlate.Keys{RequestID: "81af4231e2255bd9d0c93284e3c3d571"},
		Start: utc("2026-11-26T02:30:37.987Z"), RequestTime: ms(13), Resolution: time.Millisecond,
		Method: "GET", Path: "/redirect/search", Status: 200, Upstream: "shop-fallback-8080",
		Tries: []correlate.UpstreamTry{
			{Addr: "127.0.0.1:18082", Status: 502, Response: ms(6)},
			{Addr: "127.0.0.1:18081", Status: 200, Response: ms(6)},
		},
	},
	{ // both tries timed out
		Keys:  correlate.Keys{RequestID: "7922cd64a4c3a914fae301f261e9b1b4"},
		Start: utc("2026-11-26T02:30:37.939Z"), RequestTime: ms(61), Resolution: time.Millisecond,
		Method: "GET", Path: "/slow/report", Status: 504, Upstream: "shop-slow-8080",
		Tries: []correlate.UpstreamTry{
			{Addr: "127.0.0.1:18081", Status: 504, Response: ms(30)},
			{Addr: "127.0.0.1:18081", Status: 504, Response: ms(31)},
		},
	},
	{ // answered by nginx itself: no upstream
		Keys:  correlate.Keys{RequestID: "3be75352b8be9f5bd0e2bc55967b9e38"},
		Start: utc("2026-11-26T02:30:38Z"), RequestTime: 0, Resolution: time.Millisecond,
		Method: "GET", Path: "/local", Status: 204,
	},
	{ // POST; escaped referer and user agent
		Keys:  correlate.Keys{RequestID: "6099b3f59b29561c1953217822b31962"},
		Start: utc("2026-11-26T02:30:37.878Z"), RequestTime: ms(122), Resolution: time.Millisecond,
		Method: "POST", Path: "/orders", Status: 200, Upstream: "shop-web-8080",
		Tries: []correlate.UpstreamTry{{Addr: "127.0.0.1:18081", Status: 200, Response: ms(122)}},
	},
	{
		Keys:  correlate.Keys{RequestID: "9f59371123106a9a1691a668133107ca"},
		Start: utc("2026-11-26T02:30:38.999Z"), RequestTime: ms(1), Resolution: time.Millisecond,
		Method: "GET", Path: "/static/app.js", Status: 200, Upstream: "shop-web-8080",
		Tries: []correlate.UpstreamTry{{Addr: "127.0.0.1:18081", Status: 200, Response: ms(2)}},
	},
	{ // a client that sent "GARBAGE"
		Keys:  correlate.Keys{RequestID: "96f8e1cb9c46cbade49f3996c4bd0a25"},
		Start: utc("2026-11-26T02:30:38.993Z"), RequestTime: ms(7), Resolution: time.Millisecond,
		Status: 400,
	},
}

func TestParseTextNginxLines(t *testing.T) {
	parsertest.CheckSamples(t, filepath.Join("testdata", "nginx-text.log"), ParseText, textWant)
}

// textBase is testdata/nginx-text.log line 2 (a retry); the cases below
// change one part of it.
const textBase = `127.0.0.1 - - [26/Nov/2026:03:30:38 +0100] "GET /refused/cart?ms=5 HTTP/1.1" 200 3 "-" "curl/7.88.1" 244 0.007 [shop-refused-8080] [] 127.0.0.1:18089, 127.0.0.1:18081 0, 3 0.000, 0.007 502, 200 7f1c3b2a-9d4e-4c1b-8a2f-5e6d7c8b9a01`

func textEdit(old, new string) string { return parsertest.Edit(textBase, old, new) }

// parseCase is a row of the TestParseText and TestParseJSON tables.
type parseCase struct {
	name    string
	line    string
	want    correlate.IngressLog // ignored when wantErr is set
	wantErr string               // substring of the error
}

// runCases runs the table of the parser fn.
func runCases(t *testing.T, fn string, parse func(string) (correlate.IngressLog, error), tests []parseCase) {
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parse(tt.line)
			parsertest.CheckResult(t, fn, got, err, tt.want, tt.wantErr)
		})
	}
}

// changed returns a copy of base, its Tries included, changed by f.
func changed(base correlate.IngressLog, f func(*correlate.IngressLog)) correlate.IngressLog {
	r := base
	r.Tries = append([]correlate.UpstreamTry(nil), base.Tries...)
	f(&r)
	return r
}

func TestParseText(t *testing.T) {
	base := textWant[1]
	with := func(f func(*correlate.IngressLog)) correlate.IngressLog { return changed(base, f) }
	tests := []parseCase{
		{name: "base", line: textBase, want: base},
		{name: "trailing CRLF", line: textBase + "\r\n", want: base},
		{name: "runs of spaces", line: textEdit(`200 3 "-"`, `200  3   "-"`), want: base},
		{name: "$request_method $uri $server_protocol in place of $request",
			line: textEdit(`"GET /refused/cart?ms=5 HTTP/1.1"`, `"GET /refused/cart HTTP/1.1"`), want: base},
		{name: "absolute-form request", line: textEdit(`"GET /refused/cart?ms=5 HTTP/1.1"`, `"GET https://shop.example/refused/cart?ms=5 HTTP/2.0"`), want: base},
		{name: "escaped bytes in the request decoded",
			line: textEdit(`"GET /refused/cart?ms=5 HTTP/1.1"`, `"GET /caf\xC3\xA9/\x22q\x22 HTTP/1.1"`),
			want: with(func(r *correlate.IngressLog) { r.Path = "/café/\"q\"" })},
		{name: "empty request line", line: textEdit(`"GET /refused/cart?ms=5 HTTP/1.1"`, `""`),
			want: with(func(r *correlate.IngressLog) { r.Method, r.Path = "", "" })},
		{name: "HTTP/0.9 request line", line: textEdit(`"GET /refused/cart?ms=5 HTTP/1.1"`, `"GET /x"`),
			want: with(func(r *correlate.IngressLog) { r.Path = "/x" })},
		{name: "three tries", line: textEdit("127.0.0.1:18089, 127.0.0.1:18081 0, 3 0.000, 0.007 502, 200",
			"10.0.0.1:8080, 10.0.0.2:8080, 10.0.0.3:8080 0, 0, 39 0.096, 0.092, 0.496 502, 502, 200"),
			want: with(func(r *correlate.IngressLog) {
				r.Tries = []correlate.UpstreamTry{
					{Addr: "10.0.0.1:8080", Status: 502, Response: ms(96)},
					{Addr: "10.0.0.2:8080", Status: 502, Response: ms(92)},
					{Addr: "10.0.0.3:8080", Status: 200, Response: ms(496)},
				}
			})},
		{name: "retries and a redirect mixed", line: textEdit("127.0.0.1:18089, 127.0.0.1:18081 0, 3 0.000, 0.007 502, 200",
			"10.0.0.1:8080, 10.0.0.2:8080 : 10.0.0.3:8080 0, 0 : 39 0.001, 0.002 : 0.003 502, 500 : 200"),
			want: with(func(r *correlate.IngressLog) {
				r.Tries = []correlate.UpstreamTry{
					{Addr: "10.0.0.1:8080", Status: 502, Response: ms(1)},
					{Addr: "10.0.0.2:8080", Status: 500, Response: ms(2)},
					{Addr: "10.0.0.3:8080", Status: 200, Response: ms(3)},
				}
			})},
		{name: "dash entries in the lists", line: textEdit("0, 3 0.000, 0.007 502, 200", "0, 3 -, 0.007 -, 200"),
			want: with(func(r *correlate.IngressLog) { r.Tries[0].Status, r.Tries[0].Response = 0, 0 })},
		{name: "single dash for a whole list", line: textEdit("0, 3 0.000, 0.007 502, 200", "- - 502, 200"),
			want: with(func(r *correlate.IngressLog) { r.Tries[1].Response = 0 })},
		{name: "upstream group name when no server could be chosen", line: textEdit("127.0.0.1:18089, 127.0.0.1:18081 0, 3 0.000, 0.007 502, 200",
			"upstream-default-backend 0 0.000 502"),
			want: with(func(r *correlate.IngressLog) {
				r.Tries = []correlate.UpstreamTry{{Addr: "upstream-default-backend", Status: 502}}
			})},
		{name: "unix socket upstream", line: textEdit("127.0.0.1:18089, 127.0.0.1:18081", "unix:/run/a.sock, unix:/run/b.sock"),
			want: with(func(r *correlate.IngressLog) {
				r.Tries[0].Addr, r.Tries[1].Addr = "unix:/run/a.sock", "unix:/run/b.sock"
			})},
		{name: "IPv6 upstreams", line: textEdit("127.0.0.1:18089, 127.0.0.1:18081", "[2001:db8::1]:8080, [2001:db8::2]:8080"),
			want: with(func(r *correlate.IngressLog) {
				r.Tries[0].Addr, r.Tries[1].Addr = "[2001:db8::1]:8080", "[2001:db8::2]:8080"
			})},
		{name: "negative offset", line: textEdit("+0100", "-0730"),
			want: with(func(r *correlate.IngressLog) { r.Start = utc("2026-11-26T11:00:37.993Z") })},
		{name: "no upstream name", line: textEdit("[shop-refused-8080]", "[-]"),
			want: with(func(r *correlate.IngressLog) { r.Upstream = "" })},
		{name: "req_id dash", line: textEdit("7f1c3b2a-9d4e-4c1b-8a2f-5e6d7c8b9a01", "-"),
			want: with(func(r *correlate.IngressLog) { r.RequestID = "" })},

		{name: "empty line", line: "", wantErr: "ingress-nginx log: field 1 remote_addr: missing"},
		{name: "truncated after request_time", line: textBase[:strings.Index(textBase, " [shop")],
			wantErr: "ingress-nginx log: field 12 proxy_upstream_name: missing"},
		{name: "truncated: no req_id", line: textBase[:strings.Index(textBase, " 7f1c3b2a")],
			wantErr: "ingress-nginx log: field 18 req_id: missing"},
		{name: "unterminated quote", line: textBase[:strings.Index(textBase, "curl/")+4],
			wantErr: `ingress-nginx log: field 9 http_user_agent: unterminated '"'`},
		{name: "extra field at the end", line: textBase + " extra",
			wantErr: "ingress-nginx log: field 18 req_id: unexpected text after the last field"},
		{name: "older format without proxy_alternative_upstream_name", line: textEdit(" [] ", " "),
			wantErr: "field 13 proxy_alternative_upstream_name: want a field enclosed in '[' and ']'"},
		{name: "request not quoted", line: textEdit(`"GET /refused/cart?ms=5 HTTP/1.1"`, `GET`),
			wantErr: `field 5 request: want a field enclosed in '"'`},
		{name: "text after a closing quote", line: textEdit(`"curl/7.88.1"`, `"curl/7.88.1"x`),
			wantErr: `field 9 http_user_agent: '"' not followed by a space`},
		{name: "bad request_time", line: textEdit(" 0.007 [", " 0.0O7 ["),
			wantErr: `ingress-nginx log: field 11 request_time: "0.0O7": not a decimal number of seconds`},
		{name: "bad time", line: textEdit("26/Nov/2026", "26/Foo/2026"),
			wantErr: `ingress-nginx log: field 4 time_local: "26/Foo/2026:03:30:38 +0100": not a time in nginx's format`},
		{name: "impossible date", line: textEdit("26/Nov/2026", "31/Nov/2026"),
			wantErr: `field 4 time_local: "31/Nov/2026:03:30:38 +0100": not a time`},
		{name: "bad status", line: textEdit(`" 200 3 `, `" 2000 3 `),
			wantErr: `ingress-nginx log: field 6 status: "2000": not a three-digit status code`},
		{name: "status list shorter than addresses", line: textEdit("502, 200", "200"),
			wantErr: `ingress-nginx log: field 17 upstream_status: "200": 1 entries, upstream_addr has 2`},
		{name: "response time list longer", line: textEdit("0.000, 0.007", "0.000, 0.007, 0.001"),
			wantErr: `field 16 upstream_response_time: "0.000, 0.007, 0.001": 3 entries, upstream_addr has 2`},
		{name: "response length list shorter", line: textEdit(" 0, 3 ", " 3 "),
			wantErr: `field 15 upstream_response_length: "3": 1 entries, upstream_addr has 2`},
		{name: "bad entry in a list", line: textEdit("0.000, 0.007", "0.000, x"),
			wantErr: `ingress-nginx log: field 16 upstream_response_time: entry 2 "x": not a decimal number of seconds`},
		{name: "bad status entry", line: textEdit("502, 200", "502, 2x0"),
			wantErr: `field 17 upstream_status: entry 2 "2x0": not a three-digit status code`},
		{name: "req_id swallowed by a list that goes on with a comma", line: textEdit("502, 200 7f1c", "502, 200, 7f1c"),
			wantErr: `field 18 req_id: missing`},
		{name: "line ending with a comma", line: textBase + ",",
			wantErr: `field 18 req_id: list ends with ','`},
	}
	runCases(t, "ParseText", ParseText, tests)
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }
