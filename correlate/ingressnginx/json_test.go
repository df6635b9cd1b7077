package ingressnginx

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hopscope/hopscope/correlate"
	"github.com/hopscope/hopscope/correlate/internal/parsertest"
)

// The lines of testdata/nginx-json.log were written by Debian's nginx, for
// the same requests as testdata/nginx-text.log, with the JSON format of
// docs/ingress-nginx.md (TestDocFormatIsTheLabFormat checks that the lab
// configuration uses exactly that format).
var jsonWant = []correlate.IngressLog{
	{
		Keys:  correlate.Keys{RequestID: "8953dccbf5947694c971a6996ce7f6c4", TraceID: "4bf92f3577b34da6a3ce929d0e0e4736"},
		Start: unix(1795660238, 567), RequestTime: ms(42), Resolution: time.Millisecond,
		Method: "GET", Path: "/orders/42", Host: "shop.example", Status: 200, Upstream: "shop-web-8080",
		Tries: []correlate.UpstreamTry{{Addr: "127.0.0.1:18081", Status: 200, Connect: ms(3), Header: ms(42), Response: ms(42)}},
	},
	{ // refused connection: "-" connect and header times for the first try
		Keys: correlate.Keys{
			RequestID: "7f1c3b2a-9d4e-4c1b-8a2f-5e6d7c8b9a01",
			TraceID:   "67891233abcdef012345678912345678", XRayRoot: "1-67891233-abcdef012345678912345678",
		},
		Start: unix(1795660238, 632), RequestTime: ms(7), Resolution: time.Millisecond,
		Method: "GET", Path: "/refused/cart", Host: "shop.example", Status: 200, Upstream: "shop-refused-8080",
		Tries: []correlate.UpstreamTry{
			{Addr: "127.0.0.1:18089", Status: 502},
			{Addr: "127.0.0.1:18081", Status: 200, Header: ms(7), Response: ms(7)},
		},
	},
	{
		Keys:  correlate.Keys{RequestID: "921a180fc1171b467c3a7702c168250a"},
		Start: unix(1795660238, 662), RequestTime: ms(10), Resolution: time.Millisecond,
		Method: "GET", Path: "/bad/checkout", Host: "shop.example", Status: 200, Upstream: "shop-bad-8080",
		Tries: []correlate.UpstreamTry{
			{Addr: "127.0.0.1:18082", Status: 502, Connect: ms(1), Header: ms(6), Response: ms(6)},
			{Addr: "127.0.0.1:18081", Status: 200, Header: ms(5), Response: ms(5)},
		},
	},
	{ // internal redirect; traceparent and X-Ray both sent: the trace id is traceparent's
		Keys: correlate.Keys{
			RequestID: "81af4231e2255bd9d0c93284e3c3d571",
			TraceID:   "0af7651916cd43dd8448eb211c80319c", XRayRoot: "1-5759e988-bd862e3fe1be46a994272793",
		},
		Start: unix(1795660238, 700), RequestTime: ms(13), Resolution: time.Millisecond,
		Method: "GET", Path: "/redirect/search", Host: "shop.example", Status: 200, Upstream: "shop-fallback-8080",
		Tries: []correlate.UpstreamTry{
			{Addr: "127.0.0.1:18082", Status: 502, Connect: ms(1), Header: ms(6), Response: ms(6)},
			{Addr: "127.0.0.1:18081", Status: 200, Header: ms(6), Response: ms(6)},
		},
	},
	{ // both tries timed out: no header times
		Keys:  correlate.Keys{RequestID: "7922cd64a4c3a914fae301f261e9b1b4"},
		Start: unix(1795660238, 736), RequestTime: ms(61), Resolution: time.Millisecond,
		Method: "GET", Path: "/slow/report", Host: "shop.example", Status: 504, Upstream: "shop-slow-8080",
		Tries: []correlate.UpstreamTry{
			{Addr: "127.0.0.1:18081", Status: 504, Response: ms(30)},
			{Addr: "127.0.0.1:18081", Status: 504, Connect: ms(1), Response: ms(31)},
		},
	},
	{ // answered by nginx: every upstream value is ""
		Keys:  correlate.Keys{RequestID: "3be75352b8be9f5bd0e2bc55967b9e38"},
		Start: unix(1795660238, 828), RequestTime: 0, Resolution: time.Millisecond,
		Method: "GET", Path: "/local", Host: "shop.example", Status: 204,
	},
	{
		Keys:  correlate.Keys{RequestID: "6099b3f59b29561c1953217822b31962"},
		Start: unix(1795660238, 851), RequestTime: ms(122), Resolution: time.Millisecond,
		Method: "POST", Path: "/orders", Host: "shop.example", Status: 200, Upstream: "shop-web-8080",
		Tries: []correlate.UpstreamTry{{Addr: "127.0.0.1:18081", Status: 200, Header: ms(122), Response: ms(122)}},
	},
	{ // all-zero traceparent is invalid: the trace id comes from the X-Ray Root
		Keys: correlate.Keys{
			RequestID: "9f59371123106a9a1691a668133107ca",
			TraceID:   "5759e988bd862e3fe1be46a994272793", XRayRoot: "1-5759e988-bd862e3fe1be46a994272793",
		},
		Start: unix(1795660239, 3), RequestTime: ms(1), Resolution: time.Millisecond,
		Method: "GET", Path: "/static/app.js", Host: "shop.example", Status: 200, Upstream: "shop-web-8080",
		Tries: []correlate.UpstreamTry{{Addr: "127.0.0.1:18081", Status: 200, Connect: ms(1), Header: ms(2), Response: ms(2)}},
	},
	{ // "GARBAGE": no method, no URI
		Keys:  correlate.Keys{RequestID: "96f8e1cb9c46cbade49f3996c4bd0a25"},
		Start: unix(1795660239, 27), RequestTime: ms(7), Resolution: time.Millisecond,
		Host: "shop.example", Status: 400,
	},
}

func TestParseJSONNginxLines(t *testing.T) {
	parsertest.CheckSamples(t, filepath.Join("testdata", "nginx-json.log"), ParseJSON, jsonWant)
}

// TestFormatsAgree checks that the text and the JSON line of each request
// give the same record where both formats carry the field.
func TestFormatsAgree(t *testing.T) {
	for i := range textWant {
		tx, js := textWant[i], jsonWant[i]
		if tx.Method != js.Method || tx.Path != js.Path || tx.Status != js.Status ||
			tx.Upstream != js.Upstream || tx.RequestID != js.RequestID || tx.RequestTime != js.RequestTime ||
			len(tx.Tries) != len(js.Tries) {
			t.Errorf("request %d: text %+v, JSON %+v", i+1, tx, js)
			continue
		}
		for k := range tx.Tries {
			a, b := tx.Tries[k], js.Tries[k]
			if a.Addr != b.Addr || a.Status != b.Status || a.Response != b.Response {
				t.Errorf("request %d try %d: text %+v, JSON %+v", i+1, k+1, a, b)
			}
		}
		// $time_local has whole seconds, msec milliseconds.
		if d := js.Start.Sub(tx.Start); d < 0 || d >= time.Second {
			t.Errorf("request %d: JSON start %v is not within the second after text start %v", i+1, js.Start, tx.Start)
		}
	}
}

// jsonBase is testdata/nginx-json.log line 2; the cases below change one
// part of it.
const jsonBase = `{"msec":"1795660238.639","time_iso8601":"2026-11-26T03:30:38+01:00","request_time":"0.007","status":"200","request_method":"GET","request_uri":"/refused/cart?ms=5","host":"shop.example","proxy_upstream_name":"shop-refused-8080","upstream_addr":"127.0.0.1:18089, 127.0.0.1:18081","upstream_status":"502, 200","upstream_connect_time":"-, 0.000","upstream_header_time":"-, 0.007","upstream_response_time":"0.000, 0.007","req_id":"7f1c3b2a-9d4e-4c1b-8a2f-5e6d7c8b9a01","http_x_request_id":"7f1c3b2a-9d4e-4c1b-8a2f-5e6d7c8b9a01","http_traceparent":"","http_x_amzn_trace_id":"Self=1-67891234-12456789abcdef012345678;Root=1-67891233-abcdef012345678912345678"}`

func jsonEdit(old, new string) string { return parsertest.Edit(jsonBase, old, new) }

func TestParseJSON(t *testing.T) {
	base := jsonWant[1]
	with := func(f func(*correlate.IngressLog)) correlate.IngressLog { return changed(base, f) }
	minimal := func(f func(*correlate.IngressLog)) correlate.IngressLog {
		r := correlate.IngressLog{RequestTime: ms(7), Resolution: time.Millisecond}
		if f != nil {
			f(&r)
		}
		return r
	}
	tests := []parseCase{
		{name: "base", line: jsonBase, want: base},
		{name: "surrounding white space and newline", line: " \t" + jsonBase + " \r\n", want: base},
		{name: "pretty-printed", line: strings.ReplaceAll(strings.ReplaceAll(jsonBase, `","`, "\",\n  \""), `":"`, `": "`), want: base},
		{name: "numbers as JSON numbers",
			line: jsonEdit(`"msec":"1795660238.639","time_iso8601":"2026-11-26T03:30:38+01:00","request_time":"0.007","status":"200"`,
				`"msec":1795660238.639,"time_iso8601":"2026-11-26T03:30:38+01:00","request_time":0.007,"status":200`),
			want: base},
		{name: "single-try list as a JSON number",
			line: `{"request_time":0.007,"upstream_addr":"10.0.0.1:8080","upstream_status":200,"upstream_response_time":0.005}`,
			want: minimal(func(r *correlate.IngressLog) {
				r.Tries = []correlate.UpstreamTry{{Addr: "10.0.0.1:8080", Status: 200, Response: ms(5)}}
			})},
		{name: "only request_time", line: `{"request_time":"0.007"}`, want: minimal(nil)},
		{name: "null is absent", line: `{"request_time":"0.007","msec":null,"status":null,"upstream_addr":null,"host":null}`, want: minimal(nil)},
		{name: "null after a value clears it", line: `{"request_time":"0.007","host":"a","host":null}`, want: minimal(nil)},
		{name: "duplicate key: the last wins", line: `{"request_time":"0.001","request_time":"0.007","host":"a","host":"b"}`,
			want: minimal(func(r *correlate.IngressLog) { r.Host = "b" })},
		{name: "unknown keys of every kind ignored",
			line: `{"a":{"b":[1,2,{"c":null}],"d":"\u00e9"},"request_time":"0.007","e":[],"f":{},"g":true,"h":false,"i":-1.5e+3,"remote_addr":"10.1.2.3"}`,
			want: minimal(nil)},
		{name: "escapes decoded", line: `{"request_time":"0.007","request_uri":"/caf\u00e9/\"q\"\\x?y","host":"h\/x","request_method":"G\u0045T"}`,
			want: minimal(func(r *correlate.IngressLog) { r.Path, r.Host, r.Method = `/café/"q"\x`, "h/x", "GET" })},
		{name: "surrogate pair and lone surrogate", line: `{"request_time":"0.007","host":"\ud83d\ude00\ud800x"}`,
			want: minimal(func(r *correlate.IngressLog) { r.Host = "😀\uFFFDx" })},
		{name: "escaped key name", line: `{"request_\u0074ime":"0.007","\u0068ost":"h"}`,
			want: minimal(func(r *correlate.IngressLog) { r.Host = "h" })},
		{name: "raw non-UTF-8 bytes kept", line: "{\"request_time\":\"0.007\",\"request_uri\":\"/\xff\xfe\"}",
			want: minimal(func(r *correlate.IngressLog) { r.Path = "/\xff\xfe" })},
		{name: "time_iso8601 when msec is empty", line: jsonEdit(`"msec":"1795660238.639"`, `"msec":""`),
			want: with(func(r *correlate.IngressLog) { r.Start = utc("2026-11-26T02:30:37.993Z") })},
		{name: "time_local when there is no other time",
			line: `{"time_local":"26/Nov/2026:03:30:38 +0100","request_time":"0.007"}`,
			want: minimal(func(r *correlate.IngressLog) { r.Start = utc("2026-11-26T02:30:37.993Z") })},
		{name: "time_iso8601 in UTC with Z", line: `{"time_iso8601":"2026-11-26T02:30:38Z","request_time":"0.007"}`,
			want: minimal(func(r *correlate.IngressLog) { r.Start = utc("2026-11-26T02:30:37.993Z") })},
		{name: "uri when there is no request_uri", line: `{"request_time":"0.007","uri":"/a b?c"}`,
			want: minimal(func(r *correlate.IngressLog) { r.Path = "/a b?c" })},
		{name: "request_uri wins over uri", line: `{"request_time":"0.007","uri":"/rewritten","request_uri":"/orig?x"}`,
			want: minimal(func(r *correlate.IngressLog) { r.Path = "/orig" })},
		{name: "request id: req_id first", line: `{"request_time":"0.007","request_id":"gen","http_x_request_id":"client","req_id":"chosen"}`,
			want: minimal(func(r *correlate.IngressLog) { r.RequestID = "chosen" })},
		{name: "request id: then the client's X-Request-ID", line: `{"request_time":"0.007","request_id":"gen","http_x_request_id":"client","req_id":""}`,
			want: minimal(func(r *correlate.IngressLog) { r.RequestID = "client" })},
		{name: "request id: then nginx's $request_id", line: `{"request_time":"0.007","request_id":"gen","http_x_request_id":"-"}`,
			want: minimal(func(r *correlate.IngressLog) { r.RequestID = "gen" })},
		{name: "traceparent of a later version with more fields",
			line: `{"request_time":"0.007","http_traceparent":"cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-ever"}`,
			want: minimal(func(r *correlate.IngressLog) { r.TraceID = "4bf92f3577b34da6a3ce929d0e0e4736" })},
		{name: "traceparent with upper-case hex is invalid",
			line: `{"request_time":"0.007","http_traceparent":"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"}`,
			want: minimal(nil)},
		{name: "traceparent version 00 with more fields is invalid",
			line: `{"request_time":"0.007","http_traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x"}`,
			want: minimal(nil)},
		{name: "traceparent version ff is invalid",
			line: `{"request_time":"0.007","http_traceparent":"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}`,
			want: minimal(nil)},
		{name: "traceparent with all-zero parent is invalid",
			line: `{"request_time":"0.007","http_traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"}`,
			want: minimal(nil)},
		{name: "malformed X-Amzn-Trace-Id ignored", line: jsonEdit(`Root=1-67891233-abcdef012345678912345678`, `Root=1-67891233-abcdef01234567891234567`),
			want: with(func(r *correlate.IngressLog) { r.TraceID, r.XRayRoot = "", "" })},
		{name: "binary junk as method", line: `{"request_time":"0.007","request_method":"\u0016\u0003"}`, want: minimal(nil)},

		{name: "empty line", line: "", wantErr: "ingress-nginx JSON log: invalid JSON at byte 0: want '{'"},
		{name: "not an object", line: `["request_time"]`, wantErr: "invalid JSON at byte 0: want '{'"},
		{name: "a text line", line: textBase, wantErr: "ingress-nginx JSON log: invalid JSON at byte 0: want '{'"},
		{name: "truncated line", line: jsonBase[:strings.Index(jsonBase, "upstream_status")+25],
			wantErr: `ingress-nginx JSON log: field "upstream_status": invalid JSON at byte 305: unterminated string`},
		{name: "truncated after a value", line: jsonBase[:strings.Index(jsonBase, `,"host"`)],
			wantErr: `field "request_uri": invalid JSON at byte 163: want ',' or '}'`},
		{name: "missing request_time", line: `{"status":"200"}`, wantErr: `ingress-nginx JSON log: field "request_time": missing`},
		{name: "empty request_time", line: jsonEdit(`"request_time":"0.007"`, `"request_time":""`), wantErr: `field "request_time": missing`},
		{name: "bad request_time", line: jsonEdit(`"request_time":"0.007"`, `"request_time":"0,007"`),
			wantErr: `ingress-nginx JSON log: field "request_time": "0,007": not a decimal number of seconds`},
		{name: "negative request_time", line: jsonEdit(`"request_time":"0.007"`, `"request_time":-0.007`),
			wantErr: `field "request_time": "-0.007": not a decimal number of seconds`},
		{name: "request_time in exponent form", line: jsonEdit(`"request_time":"0.007"`, `"request_time":7e-3`),
			wantErr: `field "request_time": "7e-3": not a decimal number of seconds`},
		{name: "bad msec", line: jsonEdit(`"msec":"1795660238.639"`, `"msec":"1795660238,639"`),
			wantErr: `field "msec": "1795660238,639": not a decimal number of seconds`},
		{name: "bad time_iso8601", line: `{"time_iso8601":"2026-11-26 03:30:38","request_time":"0.007"}`,
			wantErr: `field "time_iso8601": "2026-11-26 03:30:38": not a time in nginx's format`},
		{name: "bad time_local", line: `{"time_local":"26/Nov/2026:03:30:38","request_time":"0.007"}`,
			wantErr: `field "time_local": "26/Nov/2026:03:30:38": not a time`},
		{name: "bad status", line: jsonEdit(`"status":"200"`, `"status":"OK"`), wantErr: `field "status": "OK": not a three-digit status code`},
		{name: "boolean for a known key", line: jsonEdit(`"status":"200"`, `"status":true`), wantErr: `field "status": want a string or a number`},
		{name: "object for a known key", line: jsonEdit(`"host":"shop.example"`, `"host":{"name":"x"}`), wantErr: `field "host": want a string or a number`},
		{name: "list count mismatch", line: jsonEdit(`"upstream_status":"502, 200"`, `"upstream_status":"200"`),
			wantErr: `ingress-nginx JSON log: field "upstream_status": "200": 1 entries, upstream_addr has 2`},
		{name: "connect list mismatch", line: jsonEdit(`"upstream_connect_time":"-, 0.000"`, `"upstream_connect_time":"0.000 : 0.001 : 0.002"`),
			wantErr: `field "upstream_connect_time": "0.000 : 0.001 : 0.002": 3 entries, upstream_addr has 2`},
		{name: "bad header time entry", line: jsonEdit(`"upstream_header_time":"-, 0.007"`, `"upstream_header_time":"-, 0.0.7"`),
			wantErr: `field "upstream_header_time": entry 2 "0.0.7": not a decimal number of seconds`},
		{name: "text after the object", line: jsonBase + "x", wantErr: "invalid JSON at byte 652: text after the object"},
		{name: "two objects", line: jsonBase + jsonBase, wantErr: "text after the object"},
		{name: "trailing comma", line: `{"request_time":"0.007",}`, wantErr: "invalid JSON at byte 24: want a field name"},
		{name: "single quotes", line: `{'request_time':'0.007'}`, wantErr: "invalid JSON at byte 1: want a field name"},
		{name: "missing colon", line: `{"request_time" "0.007"}`, wantErr: `field "request_time": invalid JSON at byte 16: want ':'`},
		{name: "invalid escape", line: `{"request_time":"0.007","host":"a\qb"}`, wantErr: `field "host": invalid JSON at byte 33: invalid escape`},
		{name: "short unicode escape", line: `{"request_time":"0.007","host":"\u12"}`, wantErr: `\u not followed by 4 hex digits`},
		{name: "control character", line: "{\"request_time\":\"0.007\",\"host\":\"a\tb\"}", wantErr: `field "host": invalid JSON at byte 33: control character in string`},
		{name: "leading zero", line: `{"request_time":00.007}`, wantErr: `want ',' or '}'`},
		{name: "bare minus", line: `{"request_time":-}`, wantErr: `invalid number`},
		{name: "misspelt literal", line: `{"x":nul,"request_time":"0.007"}`, wantErr: `field "x": invalid JSON at byte 5: invalid value`},
		{name: "nested too deeply", line: `{"x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `,"request_time":"0.007"}`,
			wantErr: `field "x": invalid JSON at byte 69: nested too deeply`},
		{name: "unterminated nested object", line: `{"x":{"y":1,"request_time":"0.007"}`, wantErr: `field "x": invalid JSON at byte 35: want ',' or '}'`},
	}
	runCases(t, "ParseJSON", ParseJSON, tests)
}

func unix(sec int64, msec int64) time.Time {
	return time.Unix(sec, msec*int64(time.Millisecond)).UTC()
}

func TestLookupKey(t *testing.T) {
	for i, name := range jsonKeys {
		if got := lookupKey(name); got != jkey(i+1) {
			t.Errorf("lookupKey(%q) = %d, want %d", name, got, i+1)
		}
	}
	if got := lookupKey("remote_addr"); got != kNone {
		t.Errorf("lookupKey(remote_addr) = %d", got)
	}
}
