package beacon

import (
	"errors"
	"github.com/hopscope/hopscope/internal/tracectx"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hopscope/hopscope/correlate"
)

const us = time.Microsecond

// httpsTiming is the timing of rumJSBeacon and chromium-https-tojson.json.
var httpsTiming = correlate.BrowserTiming{
	Keys:          correlate.Keys{TraceID: tidHTTPS},
	Page:          "https://shop.example/orders/42",
	Initiator:     correlate.InitiatorNavigation,
	Start:         time.UnixMicro(1764142209123400 + 2200),
	Total:         174300 * us,
	DNS:           21800 * us,
	Connect:       16800 * us, // connectStart 27.3 to secureConnectionStart 44.1
	TLS:           24300 * us, // secureConnectionStart 44.1 to connectEnd 68.4
	TLSStart:      41900 * us,
	ServerTime:    103300 * us,
	Download:      4600 * us,
	DNSStart:      3300 * us,
	ConnectStart:  25100 * us,
	RequestStart:  66400 * us,
	ResponseStart: 169700 * us,
}

func TestParseAccepts(t *testing.T) {
	https := string(readFixture(t, "chromium-https-tojson.json"))
	tests := []struct {
		name string
		body []byte
		lim  Limits
		want correlate.BrowserTiming
	}{
		{
			// A genuine recording: Chromium reports the steps that did
			// not happen (no DNS on 127.0.0.1) as equal to fetchStart,
			// and secureConnectionStart 0 on http.
			name: "chromium 156 toJSON, loopback",
			body: readFixture(t, "chromium-156-loopback.json"),
			want: correlate.BrowserTiming{
				Keys:          correlate.Keys{TraceID: tidLoopback},
				Page:          "http://127.0.0.1:34875/orders/42",
				Initiator:     correlate.InitiatorNavigation,
				Start:         time.UnixMicro(1795660210334400 + 3200),
				Total:         46200 * us,
				ServerTime:    25500 * us,
				Download:      1500 * us,
				RequestStart:  19200 * us,
				ResponseStart: 44700 * us,
			},
		},
		{name: "chromium toJSON, https", body: []byte(https), want: httpsTiming},
		{name: "as rum.js sends it", body: []byte(rumJSBeacon), want: httpsTiming},
		{
			name: "reused connection: dns and connect equal fetchStart",
			body: edit(t, rumJSBeacon, setNav("domainLookupStart", 2.199999999953434, "domainLookupEnd", 2.199999999953434,
				"connectStart", 2.199999999953434, "secureConnectionStart", 2.199999999953434, "connectEnd", 2.199999999953434)),
			want: with(httpsTiming, func(bt *correlate.BrowserTiming) {
				bt.DNS, bt.Connect, bt.DNSStart, bt.ConnectStart = 0, 0, 0, 0
				bt.TLS, bt.TLSStart = 0, 0
			}),
		},
		{
			name: "steps that did not happen reported as 0",
			body: edit(t, rumJSBeacon, setNav("domainLookupStart", 0, "domainLookupEnd", 0,
				"connectStart", 0, "secureConnectionStart", 0, "connectEnd", 0)),
			want: with(httpsTiming, func(bt *correlate.BrowserTiming) {
				bt.DNS, bt.Connect, bt.DNSStart, bt.ConnectStart = 0, 0, 0, 0
				bt.TLS, bt.TLSStart = 0, 0
			}),
		},
		{
			name: "no dns lookup (0), new connection",
			body: edit(t, rumJSBeacon, setNav("domainLookupStart", 0, "domainLookupEnd", 0)),
			want: with(httpsTiming, func(bt *correlate.BrowserTiming) { bt.DNS, bt.DNSStart = 0, 0 }),
		},
		{
			name: "dns lookup, connection reused (0)",
			body: edit(t, rumJSBeacon, setNav("connectStart", 0, "secureConnectionStart", 0, "connectEnd", 0)),
			want: with(httpsTiming, func(bt *correlate.BrowserTiming) {
				bt.Connect, bt.ConnectStart = 0, 25100*us // starts where DNS ended
				bt.TLS, bt.TLSStart = 0, 25100*us
			}),
		},
		{
			name: "plain http: secureConnectionStart 0",
			body: edit(t, rumJSBeacon, func(m map[string]any) {
				m["page"] = "http://shop.example/orders/42"
				nav(m)["secureConnectionStart"] = 0
			}),
			// No handshake: connect is the whole connectStart..connectEnd.
			want: with(httpsTiming, func(bt *correlate.BrowserTiming) {
				bt.Page = "http://shop.example/orders/42"
				bt.Connect, bt.TLS, bt.TLSStart = 41100*us, 0, 66200*us
			}),
		},
		{
			// Firefox with resistFingerprinting rounds to 100 ms: a 0 is
			// then a time, not a step that did not happen.
			name: "coarse timers, fetchStart 0",
			body: edit(t, rumJSBeacon, setNav("fetchStart", 0, "domainLookupStart", 0, "domainLookupEnd", 0,
				"connectStart", 0, "secureConnectionStart", 0, "connectEnd", 100, "requestStart", 100,
				"responseStart", 200, "responseEnd", 200)),
			want: with(httpsTiming, func(bt *correlate.BrowserTiming) {
				bt.Start = time.UnixMicro(1764142209123400)
				bt.Total, bt.DNS, bt.Connect, bt.ServerTime, bt.Download = 200*time.Millisecond, 0, 100*time.Millisecond, 100*time.Millisecond, 0
				bt.DNSStart, bt.ConnectStart, bt.RequestStart, bt.ResponseStart = 0, 0, 100*time.Millisecond, 200*time.Millisecond
				bt.TLS, bt.TLSStart = 0, 100*time.Millisecond
			}),
		},
		{
			name: "rounding to the microsecond, half away from zero",
			body: edit(t, rumJSBeacon, func(m map[string]any) {
				m["time_origin"] = 1764142209123.25 // binary fractions: exact halves
				setNav("fetchStart", 1.0625, "domainLookupStart", 1.0625, "domainLookupEnd", 1.0625, "connectStart", 1.0625,
					"secureConnectionStart", 0, "connectEnd", 1.0625, "requestStart", 1.5, "responseStart", 2.00048828125,
					"responseEnd", 2.0009765625)(m)
			}),
			want: with(httpsTiming, func(bt *correlate.BrowserTiming) {
				bt.Start = time.UnixMicro(1764142209123250 + 1063)
				bt.Total, bt.DNS, bt.Connect, bt.ServerTime, bt.Download = 938*us, 0, 0, 500*us, 1*us
				bt.DNSStart, bt.ConnectStart, bt.RequestStart, bt.ResponseStart = 0, 0, 437*us, 937*us
				bt.TLS, bt.TLSStart = 0, 0
			}),
		},
		{
			name: "page: query, fragment and user information stripped",
			body: edit(t, rumJSBeacon, func(m map[string]any) {
				m["page"] = "https://alice:secret@shop.example/orders/42?token=abc&x=1#items"
			}),
			want: httpsTiming,
		},
		{
			name: "page: escaped path kept, bare '?' dropped",
			body: edit(t, rumJSBeacon, func(m map[string]any) { m["page"] = "HTTPS://shop.example:8443/a%20b/%3F?" }),
			want: with(httpsTiming, func(bt *correlate.BrowserTiming) { bt.Page = "https://shop.example:8443/a%20b/%3F" }),
		},
		{
			name: "top-level traceparent only (from a meta tag)",
			body: edit(t, rumJSBeacon, func(m map[string]any) {
				m["server_timing"] = serverTiming(m)[1:]
				m["traceparent"] = " " + tpHTTPS + " "
			}),
			want: httpsTiming,
		},
		{
			name: "no server_timing member, top-level traceparent",
			body: edit(t, rumJSBeacon, func(m map[string]any) {
				delete(m, "server_timing")
				m["traceparent"] = tpHTTPS
			}),
			want: httpsTiming,
		},
		{
			name: "server_timing traceparent wins over the top-level one",
			body: edit(t, rumJSBeacon, func(m map[string]any) {
				m["traceparent"] = "00-" + tidLoopback + "-00f067aa0ba902b7-00"
			}),
			want: httpsTiming,
		},
		{
			name: "two traceparent entries of one trace (two sidecars), name case ignored",
			body: edit(t, rumJSBeacon, func(m map[string]any) {
				m["server_timing"] = append(serverTiming(m), map[string]any{
					"name": "TraceParent", "duration": 0, "description": "00-" + tidHTTPS + "-1111111111111111-00",
				})
			}),
			want: httpsTiming,
		},
		{
			name: "later traceparent version with extra fields",
			body: edit(t, rumJSBeacon, setTraceparent("cc-"+tidHTTPS+"-b7ad6b7169203331-01-what-the-future-holds")),
			want: httpsTiming,
		},
		{
			name: "v written 1.0, unknown members, no type or transferSize (Safari)",
			body: edit(t, rumJSBeacon, func(m map[string]any) {
				m["v"] = 1.0
				m["ua"] = map[string]any{"mobile": true, "brands": []any{"x"}}
				n := nav(m)
				delete(n, "type")
				delete(n, "transferSize")
				n["workerStart"] = 0
			}),
			want: httpsTiming,
		},
		{
			name: "other server timing entries: negative duration, long name tolerated",
			body: edit(t, rumJSBeacon, func(m map[string]any) {
				m["server_timing"] = append(serverTiming(m),
					map[string]any{"name": "cdn-cache", "duration": -1, "description": "HIT"},
					map[string]any{"name": "edge", "description": "fra"})
			}),
			want: httpsTiming,
		},
		{
			name: "durations just under the limit",
			body: edit(t, rumJSBeacon, setNav("responseEnd", 59999.9994)),
			lim:  Limits{MaxDuration: time.Minute},
			want: with(httpsTiming, func(bt *correlate.BrowserTiming) {
				bt.Total = 59999999*us - 2200*us
				bt.Download = 59999999*us - 171900*us
			}),
		},
		{
			name: "custom time origin window",
			body: []byte(rumJSBeacon),
			lim: Limits{
				EarliestTimeOrigin: time.Date(2025, 11, 26, 0, 0, 0, 0, time.UTC),
				LatestTimeOrigin:   time.Date(2025, 11, 27, 0, 0, 0, 0, time.UTC),
			},
			want: httpsTiming,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.body, tt.lim)
			if err != nil {
				t.Fatalf("Parse: %v\nbody: %s", err, tt.body)
			}
			if !got.Start.Equal(tt.want.Start) {
				t.Errorf("Start = %v, want %v", got.Start, tt.want.Start)
			}
			got.Start, tt.want.Start = time.Time{}, time.Time{}
			if got != tt.want {
				t.Errorf("Parse =\n%+v\nwant\n%+v", got, tt.want)
			}
			checkInvariants(t, tt.body, got)
		})
	}
}

func with(bt correlate.BrowserTiming, fn func(*correlate.BrowserTiming)) correlate.BrowserTiming {
	fn(&bt)
	return bt
}

// checkInvariants checks what holds for every accepted beacon.
func checkInvariants(t *testing.T, body []byte, bt correlate.BrowserTiming) {
	t.Helper()
	if len(bt.TraceID) != 32 || !tracectx.IsLowerHex(bt.TraceID) || strings.Trim(bt.TraceID, "0") == "" {
		t.Errorf("TraceID %q is not 32 lowercase hex digits", bt.TraceID)
	}
	if strings.ContainsAny(bt.Page, "?#@") {
		t.Errorf("Page %q kept a query, fragment or user", bt.Page)
	}
	steps := []time.Duration{0, bt.DNSStart, bt.DNSStart + bt.DNS, bt.ConnectStart, bt.ConnectStart + bt.Connect,
		bt.TLSStart, bt.TLSStart + bt.TLS, bt.RequestStart, bt.ResponseStart, bt.Total}
	for i := 1; i < len(steps); i++ {
		if steps[i] < steps[i-1] {
			t.Errorf("waterfall goes back at step %d: %v < %v (%+v)", i, steps[i], steps[i-1], bt)
		}
	}
	if bt.ConnectStart+bt.Connect != bt.TLSStart {
		t.Errorf("tls does not start where connect ends: %+v", bt)
	}
	if bt.RequestStart+bt.ServerTime != bt.ResponseStart || bt.ResponseStart+bt.Download != bt.Total {
		t.Errorf("durations do not add up: %+v", bt)
	}
	if bt.Total <= 0 || bt.Total >= DefaultMaxDuration {
		t.Errorf("Total %v out of (0, %v)", bt.Total, DefaultMaxDuration)
	}
	if bt.Start.Nanosecond()%1000 != 0 {
		t.Errorf("Start %v not rounded to the microsecond", bt.Start)
	}
}

func TestParseRejects(t *testing.T) {
	long := strings.Repeat("a", DefaultMaxStringBytes)
	tests := []struct {
		name string
		body []byte
		lim  Limits
		want string // the whole error message
	}{
		{"empty", nil, Limits{}, "beacon: empty body"},
		{"too large", []byte(rumJSBeacon), Limits{MaxBytes: 100}, "beacon: larger than 100 bytes"},
		{"not JSON", []byte(`{"v":1,`), Limits{}, "beacon: not valid JSON at byte 7: unexpected end of JSON input"},
		{"trailing garbage", []byte(rumJSBeacon + "x"), Limits{}, "beacon: not valid JSON at byte " + strconv.Itoa(len(rumJSBeacon)+1) + ": invalid character 'x' after top-level value"},
		{"array", []byte(`[1]`), Limits{}, "beacon: want an object, got array"},
		{"null", []byte(`null`), Limits{}, "beacon: v: missing (want 1)"},
		{"v missing", edit(t, rumJSBeacon, func(m map[string]any) { delete(m, "v") }), Limits{}, "beacon: v: missing (want 1)"},
		{"v 2", edit(t, rumJSBeacon, func(m map[string]any) { m["v"] = 2 }), Limits{}, "beacon: v: version 2 is not supported (want 1)"},
		{"v 2 with another shape", edit(t, rumJSBeacon, func(m map[string]any) { m["v"] = 2; m["nav"] = []any{1} }), Limits{},
			"beacon: v: version 2 is not supported (want 1)"},
		{"v string", edit(t, rumJSBeacon, func(m map[string]any) { m["v"] = "1" }), Limits{}, "beacon: v: want a number, got string"},
		{"page missing", edit(t, rumJSBeacon, func(m map[string]any) { delete(m, "page") }), Limits{}, "beacon: page: missing"},
		{"page number", edit(t, rumJSBeacon, func(m map[string]any) { m["page"] = 1 }), Limits{}, "beacon: page: want a string, got number"},
		{"page relative", edit(t, rumJSBeacon, func(m map[string]any) { m["page"] = "/orders/42" }), Limits{},
			"beacon: page: not an absolute http or https URL"},
		{"page ftp", edit(t, rumJSBeacon, func(m map[string]any) { m["page"] = "ftp://shop.example/" }), Limits{},
			"beacon: page: not an absolute http or https URL"},
		{"page opaque", edit(t, rumJSBeacon, func(m map[string]any) { m["page"] = "http:shop.example" }), Limits{},
			"beacon: page: not an absolute http or https URL"},
		{"page unparsable", edit(t, rumJSBeacon, func(m map[string]any) { m["page"] = "http://[::1/" }), Limits{},
			`beacon: page: not a URL: missing ']' in host`},
		{"page too long", edit(t, rumJSBeacon, func(m map[string]any) { m["page"] = "https://shop.example/" + long }), Limits{},
			"beacon: page: longer than 2048 bytes"},
		{"time_origin missing", edit(t, rumJSBeacon, func(m map[string]any) { delete(m, "time_origin") }), Limits{},
			"beacon: time_origin: missing"},
		{"time_origin null", edit(t, rumJSBeacon, func(m map[string]any) { m["time_origin"] = nil }), Limits{},
			"beacon: time_origin: missing"},
		{"time_origin negative", edit(t, rumJSBeacon, func(m map[string]any) { m["time_origin"] = -1 }), Limits{},
			"beacon: time_origin: negative (-1)"},
		{"time_origin in seconds", edit(t, rumJSBeacon, func(m map[string]any) { m["time_origin"] = 1764142209.1234 }), Limits{},
			"beacon: time_origin: 1.7641422091234e+09 ms since the epoch is outside 2010-01-01 to 2100-01-01 (want performance.timeOrigin, in milliseconds)"},
		{"time_origin huge", edit(t, rumJSBeacon, func(m map[string]any) { m["time_origin"] = 1e300 }), Limits{},
			"beacon: time_origin: 1e+300 ms since the epoch is outside 2010-01-01 to 2100-01-01 (want performance.timeOrigin, in milliseconds)"},
		{"time_origin overflows float64", []byte(strings.Replace(rumJSBeacon, "1764142209123.4", "1e999", 1)), Limits{},
			"beacon: time_origin: number 1e999 is out of range"},
		{"nav missing", edit(t, rumJSBeacon, func(m map[string]any) { delete(m, "nav") }), Limits{}, "beacon: nav: missing or empty"},
		{"nav empty", edit(t, rumJSBeacon, func(m map[string]any) { m["nav"] = map[string]any{} }), Limits{}, "beacon: nav: missing or empty"},
		{"nav array", edit(t, rumJSBeacon, func(m map[string]any) { m["nav"] = []any{} }), Limits{}, "beacon: nav: want an object, got array"},
		{"fetchStart missing", edit(t, rumJSBeacon, func(m map[string]any) { delete(nav(m), "fetchStart") }), Limits{},
			"beacon: nav.fetchStart: missing"},
		{"requestStart null", edit(t, rumJSBeacon, setNav("requestStart", nil)), Limits{}, "beacon: nav.requestStart: missing"},
		{"connectEnd string", edit(t, rumJSBeacon, setNav("connectEnd", "68.4")), Limits{},
			"beacon: nav.connectEnd: want a number, got string"},
		{"responseStart negative", edit(t, rumJSBeacon, setNav("responseStart", -0.1)), Limits{},
			"beacon: nav.responseStart: negative (-0.1)"},
		{"responseEnd before responseStart", edit(t, rumJSBeacon, setNav("responseEnd", 171.8)), Limits{},
			"beacon: nav.responseEnd: before responseStart (171.8 < 171.90000000002328)"},
		{"responseStart before requestStart", edit(t, rumJSBeacon, setNav("responseStart", 60)), Limits{},
			"beacon: nav.responseStart: before requestStart (60 < 68.59999999997672)"},
		{"requestStart before connectEnd", edit(t, rumJSBeacon, setNav("requestStart", 68)), Limits{},
			"beacon: nav.requestStart: before connectEnd (68 < 68.40000000002328)"},
		{"connectEnd before secureConnectionStart", edit(t, rumJSBeacon, setNav("secureConnectionStart", 68.5)), Limits{},
			"beacon: nav.connectEnd: before secureConnectionStart (68.40000000002328 < 68.5)"},
		{"secureConnectionStart before connectStart", edit(t, rumJSBeacon, setNav("secureConnectionStart", 20)), Limits{},
			"beacon: nav.secureConnectionStart: before connectStart (20 < 27.300000000046566)"},
		{"connectStart before domainLookupEnd", edit(t, rumJSBeacon, setNav("connectStart", 27)), Limits{},
			"beacon: nav.connectStart: before domainLookupEnd (27 < 27.300000000046566)"},
		{"domainLookupEnd before domainLookupStart", edit(t, rumJSBeacon, setNav("domainLookupEnd", 5)), Limits{},
			"beacon: nav.domainLookupEnd: before domainLookupStart (5 < 5.5)"},
		{"domainLookupStart before fetchStart", edit(t, rumJSBeacon, setNav("domainLookupStart", 1)), Limits{},
			"beacon: nav.domainLookupStart: before fetchStart (1 < 2.199999999953434)"},
		{"requestStart 0 after a fetchStart", edit(t, rumJSBeacon, setNav("domainLookupStart", 0, "domainLookupEnd", 0,
			"connectStart", 0, "secureConnectionStart", 0, "connectEnd", 0, "requestStart", 0)), Limits{},
			"beacon: nav.requestStart: before fetchStart (0 < 2.199999999953434)"},
		{"domainLookupEnd 0 alone", edit(t, rumJSBeacon, setNav("domainLookupEnd", 0)), Limits{},
			"beacon: nav.domainLookupEnd: 0 while domainLookupStart is 5.5 (both are 0 when the step did not happen)"},
		{"connectStart 0 alone", edit(t, rumJSBeacon, setNav("connectStart", 0)), Limits{},
			"beacon: nav.connectStart: 0 while connectEnd is 68.40000000002328 (both are 0 when the step did not happen)"},
		{"coarse timers, a 0 after a time", edit(t, rumJSBeacon, setNav("fetchStart", 0, "domainLookupStart", 100,
			"domainLookupEnd", 0)), Limits{},
			"beacon: nav.domainLookupEnd: before domainLookupStart (0 < 100)"},
		{"responseEnd 0", edit(t, rumJSBeacon, setNav("fetchStart", 0, "domainLookupStart", 0, "domainLookupEnd", 0,
			"connectStart", 0, "secureConnectionStart", 0, "connectEnd", 0, "requestStart", 0, "responseStart", 0,
			"responseEnd", 0)), Limits{},
			"beacon: nav.responseEnd: 0: the response had not ended (send the beacon after the load event)"},
		{"responseEnd at the limit", edit(t, rumJSBeacon, setNav("responseEnd", 600000)), Limits{},
			"beacon: nav.responseEnd: 600000 ms is not below the 10m0s limit"},
		{"responseEnd out of range", []byte(strings.Replace(rumJSBeacon, `"responseEnd":176.5`, `"responseEnd":-1e999`, 1)), Limits{},
			"beacon: nav.responseEnd: number -1e999 is out of range"},
		{"type number", edit(t, rumJSBeacon, setNav("type", 0)), Limits{}, "beacon: nav.type: want a string, got number"},
		{"type too long", edit(t, rumJSBeacon, setNav("type", long+"b")), Limits{}, "beacon: nav.type: longer than 2048 bytes"},
		{"from the cache", edit(t, rumJSBeacon, setNav("transferSize", 0)), Limits{},
			"beacon: nav.transferSize: 0: the document came from the browser's cache, so its timings are not a fetch and its Server-Timing traceparent belongs to an earlier response"},
		{"transferSize negative", edit(t, rumJSBeacon, setNav("transferSize", -300)), Limits{},
			"beacon: nav.transferSize: negative (-300)"},
		{"server_timing object", edit(t, rumJSBeacon, func(m map[string]any) { m["server_timing"] = map[string]any{} }), Limits{},
			"beacon: server_timing: want an array, got object"},
		{"server_timing too many", []byte(rumJSBeacon), Limits{MaxServerTiming: 2},
			"beacon: server_timing: 3 entries, more than 2"},
		{"server_timing name missing", edit(t, rumJSBeacon, func(m map[string]any) {
			delete(serverTiming(m)[1].(map[string]any), "name")
		}), Limits{}, "beacon: server_timing[1].name: missing"},
		{"server_timing name too long", edit(t, rumJSBeacon, func(m map[string]any) {
			serverTiming(m)[2].(map[string]any)["name"] = long + "b"
		}), Limits{}, "beacon: server_timing[2].name: longer than 2048 bytes"},
		{"server_timing description too long", edit(t, rumJSBeacon, func(m map[string]any) {
			serverTiming(m)[1].(map[string]any)["description"] = long + "b"
		}), Limits{}, "beacon: server_timing[1].description: longer than 2048 bytes"},
		{"server_timing duration string", edit(t, rumJSBeacon, func(m map[string]any) {
			serverTiming(m)[1].(map[string]any)["duration"] = "84"
		}), Limits{}, "beacon: server_timing.duration: want a number, got string"},
		{"traceparent empty", edit(t, rumJSBeacon, setTraceparent("")), Limits{},
			"beacon: server_timing[0].description: not a traceparent (want 00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>)"},
		{"traceparent separators", edit(t, rumJSBeacon, setTraceparent("00_"+tidHTTPS+"_b7ad6b7169203331_01")), Limits{},
			"beacon: server_timing[0].description: not a traceparent (want 00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>)"},
		{"traceparent uppercase", edit(t, rumJSBeacon, setTraceparent("00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01")), Limits{},
			"beacon: server_timing[0].description: traceparent trace id is not 32 lowercase hex digits"},
		{"traceparent zero trace id", edit(t, rumJSBeacon, setTraceparent("00-00000000000000000000000000000000-b7ad6b7169203331-01")), Limits{},
			"beacon: server_timing[0].description: traceparent trace id is all zeros"},
		{"traceparent zero parent id", edit(t, rumJSBeacon, setTraceparent("00-"+tidHTTPS+"-0000000000000000-01")), Limits{},
			"beacon: server_timing[0].description: traceparent parent id is all zeros"},
		{"traceparent parent not hex", edit(t, rumJSBeacon, setTraceparent("00-"+tidHTTPS+"-b7ad6b716920333g-01")), Limits{},
			"beacon: server_timing[0].description: traceparent parent id is not 16 lowercase hex digits"},
		{"traceparent flags not hex", edit(t, rumJSBeacon, setTraceparent("00-"+tidHTTPS+"-b7ad6b7169203331-0x")), Limits{},
			"beacon: server_timing[0].description: traceparent flags are not 2 lowercase hex digits"},
		{"traceparent version ff", edit(t, rumJSBeacon, setTraceparent("ff-"+tidHTTPS+"-b7ad6b7169203331-01")), Limits{},
			"beacon: server_timing[0].description: traceparent version ff is invalid"},
		{"traceparent version not hex", edit(t, rumJSBeacon, setTraceparent("0g-"+tidHTTPS+"-b7ad6b7169203331-01")), Limits{},
			`beacon: server_timing[0].description: traceparent version "0g" is not 2 lowercase hex digits`},
		{"traceparent 00 trailing data", edit(t, rumJSBeacon, setTraceparent(tpHTTPS+"-xx")), Limits{},
			"beacon: server_timing[0].description: traceparent version 00 has trailing data"},
		{"traceparent later version, long flags", edit(t, rumJSBeacon, setTraceparent("01-"+tidHTTPS+"-b7ad6b7169203331-011")), Limits{},
			"beacon: server_timing[0].description: traceparent flags are not 2 hex digits"},
		{"traceparents disagree", edit(t, rumJSBeacon, func(m map[string]any) {
			m["server_timing"] = append(serverTiming(m), map[string]any{
				"name": "traceparent", "duration": 0, "description": "00-" + tidLoopback + "-00f067aa0ba902b7-01",
			})
		}), Limits{}, "beacon: server_timing[3].description: trace id " + tidLoopback + " differs from server_timing[0]'s " + tidHTTPS},
		{"top-level traceparent invalid", edit(t, rumJSBeacon, func(m map[string]any) { m["traceparent"] = "00-abc" }), Limits{},
			"beacon: traceparent: not a traceparent (want 00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>)"},
		{"top-level traceparent number", edit(t, rumJSBeacon, func(m map[string]any) { m["traceparent"] = 5 }), Limits{},
			"beacon: traceparent: want a string, got number"},
		{"top-level traceparent too long", edit(t, rumJSBeacon, func(m map[string]any) { m["traceparent"] = tpHTTPS + long }), Limits{},
			"beacon: traceparent: longer than 2048 bytes"},
		{"no traceparent", edit(t, rumJSBeacon, func(m map[string]any) { m["server_timing"] = serverTiming(m)[1:] }), Limits{},
			"beacon: no traceparent: the page's response carried no Server-Timing traceparent (is Timing-Allow-Origin set?)"},
		{"no server_timing", edit(t, rumJSBeacon, func(m map[string]any) { m["server_timing"] = nil }), Limits{},
			"beacon: no traceparent: the page's response carried no Server-Timing traceparent (is Timing-Allow-Origin set?)"},
		{"time origin outside a custom window", []byte(rumJSBeacon), Limits{
			EarliestTimeOrigin: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
			LatestTimeOrigin:   time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC),
		}, "beacon: time_origin: 1.7641422091234e+12 ms since the epoch is outside 2026-01-01 to 2027-01-01 (want performance.timeOrigin, in milliseconds)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.body, tt.lim)
			if err == nil {
				t.Fatalf("Parse accepted it: %+v\nbody: %s", got, tt.body)
			}
			if err.Error() != tt.want {
				t.Errorf("error\n got %s\nwant %s", err, tt.want)
			}
			var be *Error
			if !errors.As(err, &be) {
				t.Errorf("error %T is not a *beacon.Error", err)
			}
			if got != (correlate.BrowserTiming{}) {
				t.Errorf("Parse returned %+v with its error", got)
			}
		})
	}
}

func TestErrNoTraceparentIs(t *testing.T) {
	body := edit(t, rumJSBeacon, func(m map[string]any) { delete(m, "server_timing") })
	_, err := Parse(body, DefaultLimits())
	if !errors.Is(err, ErrNoTraceparent) {
		t.Fatalf("err = %v, want ErrNoTraceparent", err)
	}
}

func TestErrorField(t *testing.T) {
	_, err := Parse(edit(t, rumJSBeacon, setNav("responseEnd", 1)), Limits{})
	var be *Error
	if !errors.As(err, &be) || be.Field != "nav.responseEnd" || be.Reason != "before responseStart (1 < 171.90000000002328)" {
		t.Fatalf("err = %#v", err)
	}
}

func TestDefaultLimits(t *testing.T) {
	if got := (Limits{}).withDefaults(); got != DefaultLimits() {
		t.Fatalf("Limits{} with defaults = %+v, want %+v", got, DefaultLimits())
	}
	neg := Limits{MaxBytes: -1, MaxServerTiming: -1, MaxStringBytes: -1, MaxDuration: -1}
	if got := neg.withDefaults(); got != DefaultLimits() {
		t.Fatalf("negative limits with defaults = %+v", got)
	}
}
