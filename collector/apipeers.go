package collector

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"

	"go.uber.org/zap"

	"github.com/hopscope/hopscope/collector/peers"
	"github.com/hopscope/hopscope/correlate"
)

// partialHeader tells a client of a merged list that some replicas did
// not answer: the list holds only what the others hold.
const partialHeader = "Hopscope-Partial"

// askPeers reports whether a request should also be asked of the other
// replicas: --peers is set and the request is not itself a peer's.
func (c *Collector) askPeers(r *http.Request) bool {
	return c.peers != nil && r.URL.Query().Get(peers.LocalParam) == ""
}

// breakdownFromPeers answers GET /api/v1/traces/{id}/breakdown for a
// trace this replica does not hold: the replica that holds it answers
// (the gateway routes a trace to exactly one). 404 when no replica holds
// it; 502, naming them, when some replicas could not be asked, since the
// trace may be theirs.
func (c *Collector) breakdownFromPeers(w http.ResponseWriter, r *http.Request, id string) {
	answers, err := c.peers.Ask(r.Context(), r.URL.Path, "", r.Header.Get("Authorization"))
	if err != nil {
		writeJSON(w, http.StatusBadGateway, map[string]string{"error": fmt.Sprintf("trace %s is not on this replica and the others could not be found: %v", id, err)})
		return
	}
	var failed []string
	for _, a := range answers {
		switch {
		case a.Err != nil:
			failed = append(failed, a.Err.Error())
		case a.Status == http.StatusOK:
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Cache-Control", "no-store")
			_, _ = w.Write(a.Body)
			return
		case a.Status != http.StatusNotFound:
			failed = append(failed, fmt.Sprintf("peer %s answered %d", a.Addr, a.Status))
		}
	}
	if len(failed) > 0 {
		c.log.Warn("peers did not answer", zap.Strings("errors", failed))
		writeJSON(w, http.StatusBadGateway, map[string]string{"error": fmt.Sprintf(
			"trace %s not found on the replicas that answered; %d of %d did not: %s", id, len(failed), len(answers), failed[0])})
		return
	}
	writeJSON(w, http.StatusNotFound, map[string]string{"error": fmt.Sprintf(
		"trace %s not found on any of the %d replicas (unknown, or older than --window)", id, len(answers))})
}

// mergePeers adds the other replicas' recent breakdowns to this one's
// (the same query, answered from each replica's own traces), the request
// that started last first, at most limit. When some replicas do not
// answer, the list holds the others' and the Hopscope-Partial header says
// how many are missing.
func (c *Collector) mergePeers(w http.ResponseWriter, r *http.Request, own []BreakdownResponse, limit int) []BreakdownResponse {
	answers, err := c.peers.Ask(r.Context(), r.URL.Path, r.URL.RawQuery, r.Header.Get("Authorization"))
	if err != nil {
		w.Header().Set(partialHeader, "the other replicas could not be found: "+err.Error())
		return own
	}
	seen := make(map[correlate.TraceID]bool, len(own))
	for _, b := range own {
		seen[b.TraceID] = true
	}
	out := own
	failed := 0
	for _, a := range answers {
		var l ListResponse
		if a.Err != nil || a.Status != http.StatusOK || json.Unmarshal(a.Body, &l) != nil {
			failed++
			continue
		}
		for _, b := range l.Breakdowns {
			if !seen[b.TraceID] {
				seen[b.TraceID] = true
				out = append(out, b)
			}
		}
	}
	if failed > 0 {
		w.Header().Set(partialHeader, fmt.Sprintf("%d of %d replicas did not answer", failed, len(answers)))
	}
	slices.SortStableFunc(out, func(a, b BreakdownResponse) int { return b.Start.Compare(a.Start) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out
}
