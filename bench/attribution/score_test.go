package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/hopscope/hopscope/examples/shop/shop"
)

// TestScore: a call's span counts as attributed when it hangs under a
// server span of the level's requests, and as right only when that
// request's handler recorded a call to the same backend around it.
func TestScore(t *testing.T) {
	truth := []shop.CallRecord{
		{RequestID: "L4-1", Calls: []shop.Call{{Backend: "redis", Op: "GET", Start: 100, End: 200}, {Backend: "postgres", Op: "SELECT", Start: 210, End: 400}}},
		{RequestID: "L4-2", Calls: []shop.Call{{Backend: "redis", Op: "GET", Start: 150, End: 260}}},
		{RequestID: "warm-1", Calls: []shop.Call{{Backend: "redis", Op: "GET", Start: 1, End: 9}}},
	}
	servers := []span{{spanID: "s1", server: true, requestID: "L4-1"}, {spanID: "s2", server: true, requestID: "L4-2"}, {spanID: "w1", server: true, requestID: "warm-1"}}
	for _, tc := range []struct {
		name                   string
		call                   span
		backend                string
		attributed, right, all int
	}{
		{"right", span{parentID: "s1", backend: "redis", attribution: "inferred", start: 110, end: 190}, "redis", 1, 1, 2},
		{"wrong request", span{parentID: "s2", backend: "postgres", attribution: "inferred", start: 220, end: 390}, "postgres", 1, 0, 1},
		{"outside the call", span{parentID: "s1", backend: "redis", attribution: "inferred", start: 90, end: 190}, "redis", 1, 0, 2},
		{"other backend", span{parentID: "s1", backend: "postgres", attribution: "inferred", start: 110, end: 190}, "postgres", 1, 0, 1},
		{"ambiguous", span{backend: "redis", attribution: "ambiguous", start: 110, end: 190}, "redis", 0, 0, 2},
		{"warm-up", span{parentID: "w1", backend: "redis", attribution: "inferred", start: 2, end: 8}, "redis", 0, 0, 2},
		{"a connect is no handler's call", span{parentID: "s1", backend: "postgres", attribution: "inferred", op: "connect", start: 220, end: 390}, "postgres", 0, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cells := score(append(servers, tc.call), truth, func(id string) (int, bool) {
				return 4, strings.HasPrefix(id, "L4-")
			})
			c := cells[4][tc.backend]
			if c == nil {
				t.Fatalf("no cell for %s", tc.backend)
			}
			if c.attributed != tc.attributed || c.right != tc.right || c.truth != tc.all {
				t.Errorf("attributed %d right %d truth %d, want %d %d %d", c.attributed, c.right, c.truth, tc.attributed, tc.right, tc.all)
			}
		})
	}
}

// TestReportLastLine: the closing line sums both backends at 16; with
// nothing attributed the precision is not a number.
func TestReportLastLine(t *testing.T) {
	cells := map[int]map[string]*cell{16: {
		"postgres": {calls: 100, attributed: 90, right: 90},
		"redis":    {calls: 300, attributed: 270, right: 267},
	}}
	var b bytes.Buffer
	report(&b, []int{16}, backends, cells)
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if got, want := lines[len(lines)-1], "attribution at 16 in flight: recall 90.0% precision 99.2%"; got != want {
		t.Errorf("last line %q, want %q", got, want)
	}
	b.Reset()
	report(&b, []int{16}, backends, map[int]map[string]*cell{16: {"redis": {calls: 10}}})
	if got, want := b.String(), "attribution at 16 in flight: recall 0.0% precision n/a\n"; !strings.HasSuffix(got, want) {
		t.Errorf("output %q, want it to end with %q", got, want)
	}
}
