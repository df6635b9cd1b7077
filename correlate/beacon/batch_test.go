package beacon

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hopscope/hopscope/correlate"
)

// resourceEntry is a fetch to another origin over a new TLS connection,
// as rum.js writes it (PerformanceResourceTiming values, serverTiming
// mapped to server_timing).
const resourceEntry = `{"name":"https://api.example:8443/orders/42/items?x=1","initiatorType":"fetch",` +
	`"fetchStart":300,"domainLookupStart":301,"domainLookupEnd":305,"connectStart":305,` +
	`"secureConnectionStart":307,"connectEnd":315,"requestStart":316,"responseStart":340,"responseEnd":342.5,` +
	`"transferSize":900,"server_timing":[{"name":"traceparent","duration":0,` +
	`"description":"00-11111111111111111111111111111111-2222222222222222-01"},{"name":"app","duration":20,"description":""}]}`

// resourceTiming is resourceEntry's record, on rumJSBeacon's page.
var resourceTiming = correlate.BrowserTiming{
	Keys:          correlate.Keys{TraceID: "11111111111111111111111111111111"},
	Page:          "https://shop.example/orders/42",
	Initiator:     correlate.InitiatorFetch,
	URL:           "https://api.example:8443/orders/42/items",
	Start:         time.UnixMicro(1764142209123400 + 300000),
	Total:         42500 * us,
	DNS:           4 * time.Millisecond,
	Connect:       2 * time.Millisecond,
	TLS:           8 * time.Millisecond,
	ServerTime:    24 * time.Millisecond,
	Download:      2500 * us,
	DNSStart:      1 * time.Millisecond,
	ConnectStart:  5 * time.Millisecond,
	TLSStart:      7 * time.Millisecond,
	RequestStart:  16 * time.Millisecond,
	ResponseStart: 40 * time.Millisecond,
}

// batchBody returns rumJSBeacon as version 2 with these resources (raw
// JSON elements) and members set.
func batchBody(t testing.TB, resources []string, set map[string]any) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(rumJSBeacon), &m); err != nil {
		t.Fatal(err)
	}
	m["v"] = 2
	raw := make([]json.RawMessage, len(resources))
	for i, r := range resources {
		raw[i] = json.RawMessage(r)
	}
	m["resources"] = raw
	for k, v := range set {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func withResource(fn func(m map[string]any)) string {
	var m map[string]any
	if err := json.Unmarshal([]byte(resourceEntry), &m); err != nil {
		panic(err)
	}
	fn(m)
	b, _ := json.Marshal(m)
	return string(b)
}

func TestParseBatch(t *testing.T) {
	xhr := withResource(func(m map[string]any) {
		m["initiatorType"] = "xmlhttprequest"
		m["name"] = "http://127.0.0.1:9000/api"
		m["secureConnectionStart"] = 0
	})
	xhrTiming := with(resourceTiming, func(bt *correlate.BrowserTiming) {
		bt.Initiator, bt.URL = correlate.InitiatorXHR, "http://127.0.0.1:9000/api"
		bt.Connect, bt.TLS, bt.TLSStart = 10*time.Millisecond, 0, 15*time.Millisecond
	})
	tests := []struct {
		name     string
		body     []byte
		want     []correlate.BrowserTiming
		rejected []string // the Error() of each refused entry
		dropped  int
	}{
		{name: "version 1: one navigation", body: []byte(rumJSBeacon), want: []correlate.BrowserTiming{httpsTiming}},
		{
			name: "navigation and two resources, dropped count",
			body: batchBody(t, []string{resourceEntry, xhr}, map[string]any{"dropped": 3}),
			want: []correlate.BrowserTiming{httpsTiming, resourceTiming, xhrTiming}, dropped: 3,
		},
		{
			name: "resources only",
			body: batchBody(t, []string{resourceEntry}, map[string]any{"nav": nil, "server_timing": nil}),
			want: []correlate.BrowserTiming{resourceTiming},
		},
		{
			name: "a bad entry costs only itself",
			body: batchBody(t, []string{
				withResource(func(m map[string]any) { m["responseEnd"] = 339 }),
				resourceEntry,
				withResource(func(m map[string]any) { m["initiatorType"] = "img" }),
				withResource(func(m map[string]any) { m["server_timing"] = []any{} }),
				withResource(func(m map[string]any) { m["name"] = "ftp://x/y" }),
				withResource(func(m map[string]any) { m["fetchStart"] = "soon" }),
				withResource(func(m map[string]any) { m["transferSize"] = 0 }),
				`42`,
			}, map[string]any{"nav": map[string]any{"fetchStart": 1}}),
			want: []correlate.BrowserTiming{resourceTiming},
			rejected: []string{
				"beacon: nav.domainLookupStart: missing",
				"beacon: resources[0].responseEnd: before responseStart (339 < 340)",
				`beacon: resources[2].initiatorType: "img": want fetch or xmlhttprequest`,
				"beacon: resources[3]: " + ErrNoTraceparent.Reason,
				"beacon: resources[4].name: not an absolute http or https URL",
				"beacon: resources[5].fetchStart: want a number, got string",
				"beacon: resources[6].transferSize: 0: the document came from the browser's cache, so its timings are not a fetch " +
					"and its Server-Timing traceparent belongs to an earlier response",
				"beacon: resources[7]: want an object, got number",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := ParseBatch(tc.body, Limits{})
			if err != nil {
				t.Fatalf("ParseBatch: %v", err)
			}
			if len(b.Records) != len(tc.want) {
				t.Fatalf("%d records, want %d: %+v (rejected %v)", len(b.Records), len(tc.want), b.Records, b.Rejected)
			}
			for i := range tc.want {
				if b.Records[i] != tc.want[i] {
					t.Errorf("record %d =\n%+v\nwant\n%+v", i, b.Records[i], tc.want[i])
				}
				checkInvariants(t, tc.body, b.Records[i])
			}
			var got []string
			for _, e := range b.Rejected {
				got = append(got, e.Error())
			}
			if strings.Join(got, "\n") != strings.Join(tc.rejected, "\n") {
				t.Errorf("rejected\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.rejected, "\n"))
			}
			if b.Dropped != tc.dropped {
				t.Errorf("Dropped %d, want %d", b.Dropped, tc.dropped)
			}
		})
	}
}

func TestParseBatchRejects(t *testing.T) {
	many := make([]string, DefaultMaxResources+1)
	for i := range many {
		many[i] = resourceEntry
	}
	tests := []struct {
		name string
		body []byte
		want string
	}{
		{"empty", nil, "beacon: empty body"},
		{"not JSON", []byte(`{"v":2,`), "beacon: not valid JSON at byte 7: unexpected end of JSON input"},
		{"version 3", []byte(`{"v":3}`), "beacon: v: version 3 is not supported (want 1 or 2)"},
		{"no entries", batchBody(t, nil, map[string]any{"nav": nil, "server_timing": nil}), "beacon: no entries: neither nav nor resources"},
		{"server_timing without nav", batchBody(t, []string{resourceEntry}, map[string]any{"nav": nil}),
			"beacon: nav: missing while server_timing or traceparent, which belong to it, are present"},
		{"resources not an array", batchBody(t, nil, map[string]any{"resources": map[string]any{}}),
			"beacon: resources: want an array, got object"},
		{"too many resources", batchBody(t, many, nil), "beacon: resources: 65 entries, more than 64"},
		{"dropped negative", batchBody(t, nil, map[string]any{"dropped": -1}), "beacon: dropped: negative (-1)"},
		{"dropped fraction", batchBody(t, nil, map[string]any{"dropped": 1.5}), "beacon: dropped: 1.5 is not a count up to 1048576"},
		{"bad page", batchBody(t, []string{resourceEntry}, map[string]any{"page": "about:blank"}),
			"beacon: page: not an absolute http or https URL"},
		{"time_origin missing", batchBody(t, []string{resourceEntry}, map[string]any{"time_origin": nil}), "beacon: time_origin: missing"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := ParseBatch(tc.body, Limits{})
			if err == nil {
				t.Fatalf("accepted: %+v", b)
			}
			if err.Error() != tc.want {
				t.Errorf("error %q, want %q", err, tc.want)
			}
			if _, ok := errors.AsType[*Error](err); !ok {
				t.Errorf("error %T is not an *Error", err)
			}
			if len(b.Records) != 0 || len(b.Rejected) != 0 {
				t.Errorf("records with the error: %+v", b)
			}
		})
	}
}

// FuzzParseBatch checks that ParseBatch never panics, refuses with an
// *Error and an empty Batch, that every record it returns holds together
// and that a version 1 body gives what Parse gives. Seeds: these and
// testdata/fuzz/FuzzParseBatch.
func FuzzParseBatch(f *testing.F) {
	f.Add([]byte(rumJSBeacon))
	f.Add(batchBody(f, []string{resourceEntry}, map[string]any{"dropped": 2}))
	f.Add(batchBody(f, []string{resourceEntry, `{}`, `null`}, map[string]any{"nav": nil, "server_timing": nil}))
	f.Fuzz(func(t *testing.T, body []byte) {
		b, err := ParseBatch(body, Limits{})
		if err != nil {
			if _, ok := errors.AsType[*Error](err); !ok {
				t.Fatalf("error %T %v is not a *beacon.Error", err, err)
			}
			if len(b.Records) != 0 || len(b.Rejected) != 0 || b.Dropped != 0 {
				t.Fatalf("ParseBatch returned %+v with error %v", b, err)
			}
			return
		}
		if !json.Valid(body) {
			t.Fatalf("ParseBatch accepted invalid JSON %q", body)
		}
		if len(b.Records)+len(b.Rejected) == 0 {
			t.Fatalf("accepted a beacon with no entries: %q", body)
		}
		for _, bt := range b.Records {
			checkInvariants(t, body, bt)
			if bt.Initiator == correlate.InitiatorNavigation && bt.URL != "" {
				t.Fatalf("navigation with a URL: %+v", bt)
			}
		}
		if bt, perr := Parse(body, Limits{}); perr == nil && (len(b.Records) != 1 || b.Records[0] != bt) {
			t.Fatalf("Parse accepted %+v, ParseBatch gave %+v", bt, b)
		}
	})
}
