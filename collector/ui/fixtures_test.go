package ui_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hopscope/hopscope/collector"
	"github.com/hopscope/hopscope/correlate"
)

var t0 = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)

func msd(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }

// The fixture traces.
const (
	idFull    = "4bf92f3577b34da6a3ce929d0e0e4736" // browser, ALB, ingress, sidecar, three backends
	idRetries = "0af7651916cd43dd8448eb211c80319c" // ingress with a retry, sidecar, Redis
	idInvoice = "5b8efff798038103d269b633813fc60c" // sidecar only, PostgreSQL; no Jaeger link
	idError   = "a3ce929d0e0e47364bf92f3577b34da6" // HAProxy and ingress, 503, no sidecar
	idSearch  = "80f198ee56343ba864fe8b2a57d3eff7" // coarse ALB (negative "other"), a backend kind without a colour
	idLate    = "d4cda95b652f4a1592b449d5929fda1b" // added while the page is open
	idLater   = "e5dca95b652f4a1592b449d5929fdb2c" // added while auto-refresh is paused
	idUnknown = "ffffffffffffffffffffffffffffffff"
)

// groups are what the collector would have joined for each trace; the
// fake API serves correlate.Compute of them.
func groups() []correlate.Group {
	full := func() correlate.Group {
		sc := t0.Add(msd(70))
		app := sc.Add(msd(4))
		return correlate.Group{
			TraceID: tidOf(idFull),
			Browser: &correlate.BrowserTiming{Keys: correlate.Keys{TraceID: idFull}, Page: "https://shop.example/orders/7", Start: t0,
				Total: msd(200), DNS: msd(12), Connect: msd(20), ServerTime: msd(150), Download: msd(10),
				DNSStart: msd(1), ConnectStart: msd(13), RequestStart: msd(35), ResponseStart: msd(185)},
			LB: &correlate.LoadBalancerLog{Kind: "alb", Start: t0.Add(msd(50)), Total: msd(120), Target: msd(110), Dispatched: true,
				Resolution: time.Millisecond, Method: "GET", Path: "/api/orders/7", Status: 200, TargetStatus: 200},
			Ingress: &correlate.IngressLog{Start: t0.Add(msd(60)), RequestTime: msd(100),
				Tries:      []correlate.UpstreamTry{{Addr: "10.0.0.7:15080", Status: 200, Response: msd(95)}},
				Resolution: time.Millisecond, Method: "GET", Path: "/api/orders/7", Status: 200},
			Sidecars: []correlate.SidecarSpan{{Keys: correlate.Keys{TraceID: idFull}, SpanID: spanIDOf("00f067aa0ba902b7"), Service: "shop",
				Method: "GET", Route: "/api/orders/{id}", Status: 200, Start: sc, Duration: msd(90), App: msd(80), AppStart: msd(4)}},
			Backends: []correlate.BackendCall{
				{Kind: "postgres", Target: "db:5432", Operation: "SELECT", Start: app.Add(msd(5)), Duration: msd(25), Attribution: correlate.AttributionExact},
				{Kind: "redis", Target: "cache:6379", Operation: "GET", Start: app.Add(msd(1)), Duration: msd(2), Attribution: correlate.AttributionExact},
				{Kind: "http_egress", Target: "api.stripe.com:443", Operation: "POST", Start: app.Add(msd(35)), Duration: msd(30), Attribution: correlate.AttributionInferred},
			},
		}
	}
	retries := func() correlate.Group {
		start := t0.Add(2 * time.Second)
		sc := start.Add(msd(34))
		app := sc.Add(msd(1.5))
		return correlate.Group{
			TraceID: tidOf(idRetries),
			Ingress: &correlate.IngressLog{Start: start, RequestTime: msd(140), Resolution: time.Millisecond, Method: "POST", Path: "/api/cart", Status: 200,
				Tries: []correlate.UpstreamTry{
					{Addr: "10.0.0.8:15080", Status: 502, Response: msd(30)},
					{Addr: "10.0.0.7:15080", Status: 200, Response: msd(100)},
				}},
			Sidecars: []correlate.SidecarSpan{{Keys: correlate.Keys{TraceID: idRetries}, SpanID: spanIDOf("b7ad6b7169203331"), Service: "shop",
				Method: "POST", Route: "/api/cart", Status: 200, Start: sc, Duration: msd(96), App: msd(92), AppStart: msd(1.5)}},
			Backends: []correlate.BackendCall{
				{Kind: "redis", Target: "cache:6379", Operation: "GET", Start: app.Add(msd(2)), Duration: msd(1.2), Attribution: correlate.AttributionExact},
				{Kind: "redis", Target: "cache:6379", Operation: "SET", Start: app.Add(msd(80)), Duration: msd(0.8), Attribution: correlate.AttributionExact},
			},
		}
	}
	invoice := func() correlate.Group {
		sc := t0.Add(4 * time.Second)
		app := sc.Add(msd(0.3))
		return correlate.Group{
			TraceID: tidOf(idInvoice),
			Sidecars: []correlate.SidecarSpan{{Keys: correlate.Keys{TraceID: idInvoice}, SpanID: spanIDOf("00000000000000c1"), Service: "billing",
				Method: "GET", Route: "/invoices/{id}", Status: 200, Start: sc, Duration: msd(48), App: msd(47.4), AppStart: msd(0.3)}},
			Backends: []correlate.BackendCall{
				{Kind: "postgres", Target: "billing-db:5432", Operation: "SELECT", Start: app.Add(msd(3)), Duration: msd(30), Attribution: correlate.AttributionExact},
				{Kind: "postgres", Target: "billing-db:5432", Operation: "UPDATE", Start: app.Add(msd(36)), Duration: msd(6), Attribution: correlate.AttributionAmbiguous},
			},
		}
	}
	failed := func() correlate.Group {
		start := t0.Add(6 * time.Second)
		return correlate.Group{
			TraceID: tidOf(idError),
			LB: &correlate.LoadBalancerLog{Kind: "haproxy", Start: start, Total: msd(61), Target: msd(59), Dispatched: true,
				Resolution: time.Millisecond, Method: "POST", Path: "/invoices", Status: 503},
			Ingress: &correlate.IngressLog{Start: start.Add(msd(1)), RequestTime: msd(59), Resolution: time.Millisecond, Method: "POST", Path: "/invoices", Status: 503,
				Tries: []correlate.UpstreamTry{{Addr: "10.0.1.4:15080", Status: 503, Response: msd(57)}}},
		}
	}
	search := func() correlate.Group {
		start := t0.Add(8 * time.Second)
		sc := start.Add(msd(2))
		app := sc.Add(msd(0.4))
		return correlate.Group{
			TraceID: tidOf(idSearch),
			LB: &correlate.LoadBalancerLog{Kind: "alb", Start: start, Total: msd(100), Target: msd(99), Dispatched: true,
				Resolution: time.Millisecond, Method: "GET", Path: "/search", Status: 200},
			Ingress: &correlate.IngressLog{Start: start.Add(msd(0.5)), RequestTime: msd(100.6), Resolution: time.Millisecond, Method: "GET", Path: "/search", Status: 200,
				Tries: []correlate.UpstreamTry{{Addr: "10.0.2.9:15080", Status: 200, Response: msd(97)}}},
			Sidecars: []correlate.SidecarSpan{{Keys: correlate.Keys{TraceID: idSearch}, SpanID: spanIDOf("00000000000000d1"), Service: "search",
				Method: "GET", Route: "/search", Status: 200, Start: sc, Duration: msd(96), App: msd(95), AppStart: msd(0.4)}},
			Backends: []correlate.BackendCall{
				{Kind: "elasticsearch", Target: "es:9200", Operation: "POST /_search", Start: app.Add(msd(4)), Duration: msd(60), Attribution: correlate.AttributionInferred},
				{Kind: "http_egress", Target: "ranker:8080", Operation: "POST", Start: app.Add(msd(70)), Duration: msd(12), Attribution: correlate.AttributionExact, Error: true},
			},
		}
	}
	return []correlate.Group{full(), retries(), invoice(), failed(), search()}
}

// tidOf is a fixture's hex trace id in binary form.
func tidOf(id string) correlate.TraceID {
	tid, err := correlate.ParseTraceID(id)
	if err != nil {
		panic(err)
	}
	return tid
}

// lateGroup is a request that arrives while the page is open.
func lateGroup(id string, offset time.Duration) correlate.Group {
	sc := t0.Add(offset)
	return correlate.Group{
		TraceID: tidOf(id),
		Sidecars: []correlate.SidecarSpan{{Keys: correlate.Keys{TraceID: id}, SpanID: spanIDOf("00000000000000e1"), Service: "shop",
			Method: "GET", Route: "/api/orders/{id}", Status: 404, Start: sc, Duration: msd(12), App: msd(11), AppStart: msd(0.5)}},
	}
}

// fakeAPI serves the collector API's two read endpoints from a fixed set
// of breakdowns, as collector/api.go does (newest first, filters, limit,
// jaeger_url, JSON errors).
type fakeAPI struct {
	jaeger string
	noLink map[string]bool // traces served without jaeger_url

	mu   sync.Mutex
	list []collector.BreakdownResponse // newest first
	fail string                        // when set, every call answers 500 with this error
}

func newFakeAPI(jaeger string, gs ...correlate.Group) *fakeAPI {
	a := &fakeAPI{jaeger: jaeger, noLink: map[string]bool{idInvoice: true}}
	for _, g := range gs {
		a.add(g)
	}
	return a
}

// add puts g's breakdown after the others (the fixtures are listed newest
// first) unless front is set.
func (a *fakeAPI) add(g correlate.Group, front ...bool) collector.BreakdownResponse {
	r := collector.BreakdownResponse{Breakdown: correlate.Compute(g)}
	if a.jaeger != "" && !a.noLink[g.TraceID.String()] {
		r.JaegerURL = a.jaeger + "/trace/" + g.TraceID.String()
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(front) > 0 && front[0] {
		a.list = append([]collector.BreakdownResponse{r}, a.list...)
	} else {
		a.list = append(a.list, r)
	}
	return r
}

func (a *fakeAPI) all() []collector.BreakdownResponse {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]collector.BreakdownResponse(nil), a.list...)
}

func (a *fakeAPI) get(id string) (collector.BreakdownResponse, bool) {
	for _, b := range a.all() {
		if b.TraceID.String() == id {
			return b, true
		}
	}
	return collector.BreakdownResponse{}, false
}

func (a *fakeAPI) register(mux *http.ServeMux, base string) {
	mux.HandleFunc("GET "+base+"/breakdowns", func(w http.ResponseWriter, r *http.Request) {
		if a.failing(w) {
			return
		}
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
		out := collector.ListResponse{Breakdowns: []collector.BreakdownResponse{}}
		for _, b := range a.all() {
			if len(out.Breakdowns) == limit {
				break
			}
			if (q.Get("service") == "" || b.Service == q.Get("service")) && (q.Get("route") == "" || b.Route == q.Get("route")) {
				out.Breakdowns = append(out.Breakdowns, b)
			}
		}
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("GET "+base+"/traces/{id}/breakdown", func(w http.ResponseWriter, r *http.Request) {
		if a.failing(w) {
			return
		}
		id := strings.ToLower(r.PathValue("id"))
		b, ok := a.get(id)
		if !ok {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "trace " + id + " not found (unknown, or older than --window)"})
			return
		}
		writeJSON(w, http.StatusOK, b)
	})
}

func (a *fakeAPI) failing(w http.ResponseWriter) bool {
	a.mu.Lock()
	msg := a.fail
	a.mu.Unlock()
	if msg != "" {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": msg})
	}
	return msg != ""
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// spanIDOf is a span id written as 16 hex digits.
func spanIDOf(s string) correlate.SpanID {
	id, err := correlate.ParseSpanID(s)
	if err != nil {
		panic(err)
	}
	return id
}
