package beacon

import (
	"encoding/json"
	"os"
	"testing"
)

// Trace context of the fixtures.
const (
	tidLoopback = "4bf92f3577b34da6a3ce929d0e0e4736"
	tidHTTPS    = "0af7651916cd43dd8448eb211c80319c"
	tpHTTPS     = "00-" + tidHTTPS + "-b7ad6b7169203331-01"
)

// rumJSBeacon is what rum.js sends for the page of
// chromium-https-tojson.json: nav holds only the members the format
// names, page has no query.
const rumJSBeacon = `{"v":1,"page":"https://shop.example/orders/42","time_origin":1764142209123.4,` +
	`"nav":{"fetchStart":2.199999999953434,"domainLookupStart":5.5,"domainLookupEnd":27.300000000046566,` +
	`"connectStart":27.300000000046566,"secureConnectionStart":44.09999999997672,"connectEnd":68.40000000002328,` +
	`"requestStart":68.59999999997672,"responseStart":171.90000000002328,"responseEnd":176.5,` +
	`"type":"navigate","transferSize":7634},` +
	`"server_timing":[{"name":"traceparent","duration":0,"description":"` + tpHTTPS + `"},` +
	`{"name":"app","duration":84.512,"description":""},{"name":"sidecar","duration":0.388,"description":""}]}`

// readFixture returns a file of testdata: chromium-156-loopback.json is a
// beacon whose nav is PerformanceNavigationTiming.toJSON() as Chromium 156
// returned it for a page on a loopback server (http/1.1, no DNS, a new
// connection); chromium-https-tojson.json has the same shape with the
// numbers of an https page on a fresh connection.
func readFixture(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// edit decodes a beacon, lets fn change it and encodes it again.
func edit(tb testing.TB, body string, fn func(m map[string]any)) []byte {
	tb.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		tb.Fatal(err)
	}
	fn(m)
	b, err := json.Marshal(m)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func nav(m map[string]any) map[string]any { return m["nav"].(map[string]any) }

func serverTiming(m map[string]any) []any { return m["server_timing"].([]any) }

// setNav sets nav members from name, value pairs.
func setNav(kv ...any) func(map[string]any) {
	return func(m map[string]any) {
		n := nav(m)
		for i := 0; i < len(kv); i += 2 {
			n[kv[i].(string)] = kv[i+1]
		}
	}
}

// setTraceparent replaces the description of the first server_timing entry.
func setTraceparent(desc string) func(map[string]any) {
	return func(m map[string]any) {
		serverTiming(m)[0].(map[string]any)["description"] = desc
	}
}
