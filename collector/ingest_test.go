package collector

import (
	"fmt"
	"testing"

	"github.com/hopscope/hopscope/correlate"
	"github.com/hopscope/hopscope/internal/otlpwire"
)

// TestGroupingLayOut: interleaved spans of several traces end up under
// their trace in the order they came; appending to one trace's records
// (the gateway's ingress record) does not overwrite the next trace's; a
// released grouping keeps no reference to the request.
func TestGroupingLayOut(t *testing.T) {
	for _, tc := range []struct {
		name  string
		order []int // the trace of each span, in request order
		held  bool
	}{
		{"interleaved", []int{0, 1, 0, 2, 1, 0}, true},
		{"records only", []int{2, 2, 1, 0, 1}, false},
		{"one trace", []int{0, 0, 0}, true},
	} {
		g := &grouping{byTrace: map[correlate.TraceID]int{}}
		want := map[int][]string{}
		for i, tr := range tc.order {
			for len(g.traces) <= tr {
				g.traces = append(g.traces, traceSpans{id: correlate.TraceID{15: byte(len(g.traces) + 1)}})
			}
			op := fmt.Sprint(i)
			want[tr] = append(want[tr], op)
			g.recItems = append(g.recItems, recItem{trace: tr, rec: &correlate.BackendCall{Operation: op}})
			g.traces[tr].nrecs++
			if tc.held {
				g.heldItems = append(g.heldItems, heldItem{trace: tr, held: otlpwire.Held{Span: []byte(op)}, id: [8]byte{byte(i)}})
				g.traces[tr].nheld++
			}
		}
		g.layOut()
		// The first trace gets one more record, past its part.
		g.traces[0].recs = append(g.traces[0].recs, &correlate.IngressLog{})
		for tr, ops := range want {
			ts := g.traces[tr]
			var got, gotHeld []string
			for _, r := range ts.recs {
				if b, ok := r.(*correlate.BackendCall); ok {
					got = append(got, b.Operation)
				}
			}
			for i, h := range ts.held {
				gotHeld = append(gotHeld, string(h.Span))
				if fmt.Sprint(ts.ids[i][0]) != string(h.Span) {
					t.Errorf("%s: trace %d: held span %s with id %v", tc.name, tr, h.Span, ts.ids[i])
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(ops) || (tc.held && fmt.Sprint(gotHeld) != fmt.Sprint(ops)) || (!tc.held && len(gotHeld) != 0) {
				t.Errorf("%s: trace %d: records %v, held %v, want %v", tc.name, tr, got, gotHeld, ops)
			}
		}
		g.release()
		for _, r := range g.allRecs[:cap(g.allRecs)] {
			if r != nil {
				t.Fatalf("%s: a released grouping keeps a record", tc.name)
			}
		}
		for _, h := range g.allHeld[:cap(g.allHeld)] {
			if h.Span != nil {
				t.Fatalf("%s: a released grouping keeps a span's bytes", tc.name)
			}
		}
		if len(g.byTrace) != 0 || len(g.traces) != 0 || len(g.recItems) != 0 || len(g.heldItems) != 0 {
			t.Fatalf("%s: a released grouping is not empty", tc.name)
		}
	}
}
