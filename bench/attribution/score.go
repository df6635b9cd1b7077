package main

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/hopscope/hopscope/examples/shop/shop"
	"github.com/hopscope/hopscope/internal/contract"
)

// span is what the harness keeps of one exported span.
type span struct {
	spanID, parentID string
	server           bool   // the sidecar's inbound span
	requestID        string // hopscope.request_id of a server span
	backend          string // hopscope.backend of a backend call's span
	attribution      string // hopscope.attribution
	how              string // hopscope.attribution.reason, when the sidecar says
	op               string // db.operation.name
	start, end       int64  // Unix nanoseconds
}

// cell is recall and precision of one backend at one concurrency.
type cell struct {
	calls      int // calls the sidecar's proxies made (its duration histogram)
	truth      int // calls the handlers recorded
	attributed int // spans tied to one of the level's requests
	right      int // of those, tied to the request that made the call
	byHow      map[string][2]int
}

func (c cell) recall() float64 { return pct(c.attributed, c.calls) }

// precision is "n/a" when nothing was attributed.
func (c cell) precision() string {
	if c.attributed == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1f%%", pct(c.right, c.attributed))
}

func pct(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return 100 * float64(a) / float64(b)
}

// score joins the sidecar's spans with the app's ground truth. A call's
// span tied to request R is right when R's handler recorded a call to the
// same backend whose interval (as the app saw it, around the client
// library's call) contains the span's: the proxy sees the call strictly
// inside the app's view of it, on the same clock (one process). level
// maps a request id to its concurrency level.
func score(spans []span, truth []shop.CallRecord, level func(requestID string) (int, bool)) map[int]map[string]*cell {
	out := map[int]map[string]*cell{}
	get := func(lv int, backend string) *cell {
		if out[lv] == nil {
			out[lv] = map[string]*cell{}
		}
		c := out[lv][backend]
		if c == nil {
			c = &cell{byHow: map[string][2]int{}}
			out[lv][backend] = c
		}
		return c
	}
	calls := map[string][]shop.Call{}
	for _, rec := range truth {
		lv, ok := level(rec.RequestID)
		if !ok {
			continue
		}
		calls[rec.RequestID] = rec.Calls
		for _, c := range rec.Calls {
			get(lv, c.Backend).truth++
		}
	}
	servers := map[string]string{} // span id → request id
	for _, s := range spans {
		if s.server {
			servers[s.spanID] = s.requestID
		}
	}
	for _, s := range spans {
		// A connection's setup (a PostgreSQL connect) is no call a handler
		// makes: the truth has none, the calls counted exclude it.
		if s.server || s.backend == "" || s.attribution == "ambiguous" || s.parentID == "" || s.op == contract.OpConnect {
			continue
		}
		rid, ok := servers[s.parentID]
		if !ok {
			continue
		}
		lv, ok := level(rid)
		if !ok {
			continue
		}
		c := get(lv, s.backend)
		c.attributed++
		how := s.attribution
		if s.how != "" {
			how += "/" + s.how
		}
		h := c.byHow[how]
		h[0]++
		for _, t := range calls[rid] {
			if t.Backend == s.backend && t.Start <= s.start && s.end <= t.End {
				c.right++
				h[1]++
				break
			}
		}
		c.byHow[how] = h
	}
	return out
}

// report prints the table and the closing line.
func report(w io.Writer, levels []int, backends []string, cells map[int]map[string]*cell) {
	fmt.Fprintf(w, "%-9s %-9s %8s %8s %10s %8s %10s  %s\n", "in flight", "backend", "calls", "truth", "attributed", "recall", "precision", "by method (attributed/right)")
	for _, lv := range levels {
		for _, b := range backends {
			c := cells[lv][b]
			if c == nil {
				c = &cell{}
			}
			var hows []string
			for h := range c.byHow {
				hows = append(hows, h)
			}
			sort.Strings(hows)
			parts := make([]string, 0, len(hows))
			for _, h := range hows {
				parts = append(parts, fmt.Sprintf("%s %d/%d", h, c.byHow[h][0], c.byHow[h][1]))
			}
			fmt.Fprintf(w, "%-9d %-9s %8d %8d %10d %7.1f%% %10s  %s\n", lv, b, c.calls, c.truth, c.attributed, c.recall(), c.precision(), strings.Join(parts, ", "))
		}
	}
	var all cell
	for _, b := range backends {
		if c := cells[16][b]; c != nil {
			all.calls += c.calls
			all.attributed += c.attributed
			all.right += c.right
		}
	}
	fmt.Fprintf(w, "attribution at 16 in flight: recall %.1f%% precision %s\n", all.recall(), all.precision())
}
