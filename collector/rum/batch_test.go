package rum

import (
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/hopscope/hopscope/correlate"
)

// testResource is a fetch entry as rum.js writes it.
const testResource = `{"name":"https://api.example/orders/42/items?x=1","initiatorType":"fetch",` +
	`"fetchStart":300,"domainLookupStart":301,"domainLookupEnd":305,"connectStart":305,` +
	`"secureConnectionStart":307,"connectEnd":315,"requestStart":316,"responseStart":340,"responseEnd":342.5,` +
	`"transferSize":900,"server_timing":[{"name":"traceparent","duration":0,` +
	`"description":"00-11111111111111111111111111111111-2222222222222222-01"}]}`

// v2 returns testBeacon as a version 2 beacon with these resources and
// extra members (raw JSON, each starting with ',').
func v2(resources []string, extra string) string {
	b := strings.Replace(testBeacon, `{"v":1,`, `{"v":2,`, 1)
	return strings.TrimSuffix(b, "}") + `,"resources":[` + strings.Join(resources, ",") + `]` + extra + "}"
}

type entryCounts struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *entryCounts) add(result string, n int, _ error) {
	c.mu.Lock()
	c.n[result] += n
	c.mu.Unlock()
}

// TestBatch: a version 2 beacon's good entries are consumed, each with
// its own trace id; its bad ones and the page's dropped count are
// counted by reason; a beacon whose every entry is bad is a 400.
func TestBatch(t *testing.T) {
	bad := strings.Replace(testResource, `"responseEnd":342.5`, `"responseEnd":339`, 1)
	tests := []struct {
		name     string
		body     string
		status   int
		results  []string
		entries  map[string]int
		consumed []string // initiator and trace id of each consumed record
		field    string
	}{
		{
			name: "version 1 still accepted", body: testBeacon, status: 204, results: []string{ResultAccepted},
			entries: map[string]int{}, consumed: []string{"navigation " + traceID},
		},
		{
			name: "navigation, a good and a bad resource, dropped over the cap", body: v2([]string{testResource, bad}, `,"dropped":3`),
			status: 204, results: []string{ResultAccepted},
			entries:  map[string]int{ResultInvalidEntry: 1, ResultPageCap: 3},
			consumed: []string{"navigation " + traceID, "fetch 11111111111111111111111111111111"},
		},
		{
			name: "every entry bad", body: strings.Replace(v2([]string{bad}, ""), `"responseEnd":176.5`, `"responseEnd":170`, 1),
			status: 400, results: []string{ResultInvalid}, entries: map[string]int{}, field: "nav.responseEnd",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			counts := &entryCounts{n: map[string]int{}}
			h, rec, _ := newTestHandler(t, func(c *Config) { c.OnEntries = counts.add })
			w := serve(h, post(tc.body))
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			if tc.status != http.StatusNoContent {
				if e := errorOf(t, w); e.Field != tc.field {
					t.Errorf("error %q field %q, want field %q", e.Error, e.Field, tc.field)
				}
			}
			if got := rec.Results(); !slices.Equal(got, tc.results) {
				t.Errorf("results %v, want %v", got, tc.results)
			}
			var got []string
			for _, bt := range rec.Consumed() {
				got = append(got, bt.Initiator+" "+bt.TraceID)
				if bt.Initiator == correlate.InitiatorFetch && (bt.TLS == 0 || bt.URL != "https://api.example/orders/42/items") {
					t.Errorf("fetch record %+v", bt)
				}
			}
			if !slices.Equal(got, tc.consumed) {
				t.Errorf("consumed %v, want %v", got, tc.consumed)
			}
			counts.mu.Lock()
			defer counts.mu.Unlock()
			if len(counts.n) != len(tc.entries) {
				t.Errorf("entry counts %v, want %v", counts.n, tc.entries)
			}
			for k, v := range tc.entries {
				if counts.n[k] != v {
					t.Errorf("entry counts %v, want %v", counts.n, tc.entries)
				}
			}
		})
	}
}
