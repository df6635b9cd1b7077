package collector

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hopscope/hopscope/collector/ui"
	"github.com/hopscope/hopscope/correlate"
	"github.com/hopscope/hopscope/internal/bearer"
	"github.com/hopscope/hopscope/internal/tracectx"
)

// BreakdownResponse is GET /api/v1/traces/{id}/breakdown's body: the
// breakdown plus a link to the trace in Jaeger when --jaeger-ui-url is set.
type BreakdownResponse struct {
	correlate.Breakdown
	JaegerURL string `json:"jaeger_url,omitempty"`
}

// ListResponse is GET /api/v1/breakdowns's body.
type ListResponse struct {
	Breakdowns []BreakdownResponse `json:"breakdowns"`
}

func (c *Collector) apiHandler(gather prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	// The API hands out what requests carried (routes, addresses,
	// timings): behind --auth-token-file's tokens when set. /metrics and
	// /healthz stay open for Prometheus and the kubelet; the UI's files
	// hold no data, and the UI asks for a token when the API wants one.
	api := func(h http.HandlerFunc) http.Handler {
		return bearer.Handler(c.tokens, h, func() { c.m.rejected.WithLabelValues(SrcAPI, "unauthenticated").Inc() })
	}
	mux.Handle("GET /api/v1/traces/{id}/breakdown", api(c.getBreakdown))
	mux.Handle("GET /api/v1/breakdowns", api(c.listBreakdowns))
	mux.Handle("GET /metrics", promhttp.HandlerFor(gather, promhttp.HandlerOpts{EnableOpenMetrics: true}))
	mux.Handle("GET /ui/", ui.Handler(ui.Options{JaegerUIURL: c.cfg.JaegerUIURL, HopColors: HopPalette(), DefaultColor: BackendColor}))
	mux.Handle("GET /{$}", http.RedirectHandler("/ui/", http.StatusFound))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	return mux
}

func (c *Collector) withJaeger(b correlate.Breakdown) BreakdownResponse {
	r := BreakdownResponse{Breakdown: b}
	if c.cfg.JaegerUIURL != "" {
		r.JaegerURL = strings.TrimRight(c.cfg.JaegerUIURL, "/") + "/trace/" + b.TraceID.String()
	}
	return r
}

func (c *Collector) getBreakdown(w http.ResponseWriter, r *http.Request) {
	id := strings.ToLower(r.PathValue("id"))
	if !tracectx.ValidTraceIDHex(id) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "trace id must be 32 hex characters"})
		return
	}
	tid, err := correlate.ParseTraceID(id) // the edge: hex in the path
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "trace id must be 32 hex characters"})
		return
	}
	b, ok := c.store.View(tid)
	if !ok && c.askPeers(r) {
		c.breakdownFromPeers(w, r, id)
		return
	}
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "trace " + id + " not found (unknown, or older than --window)"})
		return
	}
	writeJSON(w, http.StatusOK, c.withJaeger(b))
}

func (c *Collector) listBreakdowns(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := 50
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "limit must be between 1 and 1000"})
			return
		}
		limit = n
	}
	list := c.store.Recent(correlate.Filter{Service: q.Get("service"), Route: q.Get("route")}, limit)
	out := ListResponse{Breakdowns: make([]BreakdownResponse, 0, len(list))}
	for _, b := range list {
		out.Breakdowns = append(out.Breakdowns, c.withJaeger(b))
	}
	if c.askPeers(r) {
		out.Breakdowns = c.mergePeers(w, r, out.Breakdowns, limit)
	}
	writeJSON(w, http.StatusOK, out)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	_ = enc.Encode(v)
}
