package correlate

import (
	"math"
	"slices"
	"sort"
	"time"

	"github.com/hopscope/hopscope/internal/contract"
	"github.com/hopscope/hopscope/internal/route"
)

// Hop names, the contract's (internal/contract, hops.go). The breakdown of
// one request lists the hops its sources could measure, outermost first;
// their exclusive times sum to the total.
const (
	HopDNS            = contract.HopDNS
	HopConnect        = contract.HopConnect
	HopTLS            = contract.HopTLS
	HopEdgeNetwork    = contract.HopEdgeNetwork
	HopLoadBalancer   = contract.HopLoadBalancer
	HopIngress        = contract.HopIngress
	HopIngressRetries = contract.HopIngressRetries
	HopService        = contract.HopService
	HopSidecar        = contract.HopSidecar
	HopApp            = contract.HopApp
	HopDownload       = contract.HopDownload
	HopOther          = contract.HopOther
)

// Source names, as in Breakdown.TotalSource and Hop.Source.
const (
	SourceRUM     = "rum"
	SourceIngress = "ingress"
	SourceSidecar = "sidecar"
	SourceBackend = "backend"
	SourceNone    = "none"
)

// Group is everything known about one trace.
type Group struct {
	TraceID  TraceID
	Browser  *BrowserTiming
	LB       *LoadBalancerLog
	Ingress  *IngressLog
	Sidecars []SidecarSpan
	Backends []BackendCall
}

// Breakdown is one request's end-to-end latency split into hops. Its JSON
// form is the collector API's (DESIGN.md, Contract).
type Breakdown struct {
	TraceID TraceID `json:"trace_id"`
	Service string  `json:"service,omitempty"`
	// Namespace is the Kubernetes namespace of the service's pod, as its
	// sidecar's spans name it.
	Namespace   string    `json:"namespace,omitempty"`
	Method      string    `json:"method,omitempty"`
	Route       string    `json:"route,omitempty"`
	Status      int       `json:"status,omitempty"`
	Start       time.Time `json:"start"`
	TotalMS     float64   `json:"total_ms"`
	TotalSource string    `json:"total_source"`
	Hops        []Hop     `json:"hops"`
	Backends    []Backend `json:"backends"`
	Tries       []Try     `json:"tries,omitempty"`
	Missing     []string  `json:"missing"`
	Complete    bool      `json:"complete"`
	// Spans are the nested intervals the sources measured, outermost
	// first, placed on one waterfall (see Interval).
	Spans []Interval `json:"spans"`
}

// Hop is one hop's exclusive time.
type Hop struct {
	Hop    string  `json:"hop"`
	MS     float64 `json:"ms"`
	Source string  `json:"source"`
}

// Backend is one backend call as shown under the app.
type Backend struct {
	Kind          string      `json:"kind"`
	Target        string      `json:"target,omitempty"`
	Operation     string      `json:"operation,omitempty"`
	MS            float64     `json:"ms"`
	StartOffsetMS float64     `json:"start_offset_ms"`
	Attribution   Attribution `json:"attribution"`
	// Reason says how an inferred call was tied to the request.
	Reason AttributionReason `json:"attribution_reason,omitempty"`
	Error  bool              `json:"error,omitempty"`
}

// Try is one ingress upstream attempt. The last one is the service hop's:
// Pod, Namespace, Node and Zone say where in the cluster its address was,
// Terminating that the endpoint was terminating, CrossZone that it was in
// another zone than the ingress (set only with --kube-metadata).
type Try struct {
	Addr        string  `json:"addr"`
	Status      int     `json:"status"`
	MS          float64 `json:"ms"`
	Pod         string  `json:"pod,omitempty"`
	Namespace   string  `json:"namespace,omitempty"`
	Node        string  `json:"node,omitempty"`
	Zone        string  `json:"zone,omitempty"`
	Terminating bool    `json:"terminating,omitempty"`
	CrossZone   bool    `json:"cross_zone,omitempty"`
}

// Interval is one measured span of the request on the waterfall. Sources on
// different hosts only know their own durations, so a child is centred in
// its parent's remaining time (request and response transit assumed equal)
// unless the two share a clock (browser phases; sidecar, app and backends).
type Interval struct {
	Name          string  `json:"name"`
	Source        string  `json:"source"`
	StartOffsetMS float64 `json:"start_offset_ms"`
	MS            float64 `json:"ms"`
	// Synthetic is true for intervals nobody exported as a span (the
	// collector synthesizes spans for them).
	Synthetic bool `json:"synthetic"`
}

// level is one nested measurement: the outermost encloses all the others.
type level struct {
	name   string        // hop whose exclusive time is this level minus the next present one
	source string        // where the duration comes from
	d      time.Duration // the level's duration
	ok     bool
}

// Compute builds the breakdown of g. It is deterministic and pure.
func Compute(g Group) Breakdown {
	b := Breakdown{TraceID: g.TraceID, Hops: []Hop{}, Backends: []Backend{}, Missing: []string{}, Spans: []Interval{}}
	sc := entrySidecar(g.Sidecars)
	fillLabels(&b, g, sc)

	// The nested levels, outermost first. Each present level's hop gets
	// its duration minus the next present level's; a missing level's time
	// stays with the level above it and its hop is listed as missing.
	levels := make([]level, 0, 8) // at most 6: sized once, on the stack
	var lbName string
	if g.LB != nil {
		lbName = g.LB.Kind
	}
	if g.Browser != nil {
		levels = append(levels, level{name: HopEdgeNetwork, source: SourceRUM, d: g.Browser.ServerTime, ok: true})
	}
	if g.LB != nil && g.LB.Dispatched {
		levels = append(levels, level{name: HopLoadBalancer, source: lbName, d: g.LB.Total, ok: true})
	} else {
		levels = append(levels, level{name: HopLoadBalancer})
	}
	var retries time.Duration
	if in := g.Ingress; in != nil {
		levels = append(levels, level{name: HopIngress, source: SourceIngress, d: in.RequestTime, ok: true})
		if n := len(in.Tries); n > 0 {
			for _, t := range in.Tries[:n-1] {
				retries += t.Response
			}
			levels = append(levels, level{name: HopService, source: SourceIngress, d: in.Tries[n-1].Response, ok: true})
		} else {
			levels = append(levels, level{name: HopService})
		}
	} else {
		levels = append(levels, level{name: HopIngress}, level{name: HopService})
	}
	if sc != nil {
		levels = append(levels,
			level{name: HopSidecar, source: SourceSidecar, d: sc.Duration, ok: true},
			level{name: HopApp, source: SourceSidecar, d: sc.App, ok: true})
	} else {
		levels = append(levels, level{name: HopSidecar}, level{name: HopApp})
	}

	outer := slices.IndexFunc(levels, func(l level) bool { return l.ok })
	if outer < 0 {
		b.TotalSource = SourceNone
		b.Missing = append(b.Missing, HopDNS, HopConnect, HopEdgeNetwork, HopLoadBalancer, HopIngress, HopService, HopSidecar, HopApp, HopDownload)
		addBackendsOnly(&b, g)
		return b
	}

	hops := make([]hopD, 0, 16) // sized once; many backend kinds grow it
	var total time.Duration
	if br := g.Browser; br != nil {
		total = br.Total
		b.TotalSource = SourceRUM
		hops = append(hops, hopD{HopDNS, br.DNS, SourceRUM}, hopD{HopConnect, br.Connect, SourceRUM})
		if br.TLS > 0 {
			hops = append(hops, hopD{HopTLS, br.TLS, SourceRUM})
		}
	} else {
		total = levels[outer].d
		b.TotalSource = levels[outer].source
		b.Missing = append(b.Missing, HopDNS, HopConnect, HopEdgeNetwork, HopDownload)
	}

	// Walk the levels: each present one's hop is its duration minus the
	// next present one's (a negative difference, from coarse log
	// resolution, is clamped to 0 and settled in "other"); a missing
	// level's time stays with the present level above it.
	prev := -1
	for i, l := range levels {
		if !l.ok {
			b.Missing = append(b.Missing, l.name)
			continue
		}
		if prev >= 0 {
			p := levels[prev]
			inner := l.d
			if p.name == HopIngress && l.name == HopService {
				inner += retries // the tries before the answering one
			}
			hops = append(hops, hopD{p.name, max(p.d-inner, 0), joinSource(p.source, l.source)})
			if p.name == HopIngress && l.name == HopService && len(g.Ingress.Tries) > 1 {
				hops = append(hops, hopD{HopIngressRetries, retries, SourceIngress})
			}
		}
		prev = i
	}
	// The innermost present level keeps its whole duration: the app less
	// its backend calls, or whatever level is deepest.
	if last := levels[prev]; last.name == HopApp {
		appD, backendHops := splitApp(sc, g.Backends)
		hops = append(hops, hopD{HopApp, appD, SourceSidecar})
		hops = append(hops, backendHops...)
	} else {
		hops = append(hops, hopD{last.name, last.d, last.source})
	}
	if g.Browser != nil {
		hops = append(hops, hopD{HopDownload, g.Browser.Download, SourceRUM})
	}

	// "other" is what no source could attribute, and it settles clamped
	// differences, so that the hops sum exactly to the total.
	var sum time.Duration
	for _, h := range hops {
		sum += h.d
	}
	other := total - sum
	if len(hops) > 0 || other != 0 {
		b.Hops = make([]Hop, 0, len(hops)+1) // the hops and other: one allocation (none: the empty Hops above)
	}
	for _, h := range hops {
		b.Hops = append(b.Hops, Hop{Hop: h.name, MS: ms(h.d), Source: h.source})
	}
	if other != 0 {
		b.Hops = append(b.Hops, Hop{Hop: HopOther, MS: ms(other), Source: SourceNone})
	}
	b.TotalMS = ms(total)
	fixRounding(&b)

	if g.Ingress != nil {
		for _, t := range g.Ingress.Tries {
			b.Tries = append(b.Tries, Try{Addr: t.Addr, Status: t.Status, MS: ms(t.Response),
				Pod: t.Pod, Namespace: t.Namespace, Node: t.Node, Zone: t.Zone, Terminating: t.Terminating, CrossZone: t.CrossZone})
		}
	}
	if g.LB != nil && !g.LB.Dispatched {
		b.Missing = appendUnique(b.Missing, HopLoadBalancer)
	}
	b.Spans = place(g, sc, levels, total)
	addBackends(&b, g, sc)
	b.Missing = dedupe(b.Missing)
	b.Complete = len(b.Missing) == 0
	return b
}

type hopD struct {
	name   string
	d      time.Duration
	source string
}

func joinSource(a, b string) string {
	if a == b || b == "" {
		return a
	}
	return a + "+" + b
}

// entrySidecar is the outermost sidecar span of the trace: the request's
// entry into the pod. Other sidecar spans are calls between services.
func entrySidecar(spans []SidecarSpan) *SidecarSpan {
	var best *SidecarSpan
	for i := range spans {
		s := &spans[i]
		if best == nil || s.Duration > best.Duration || (s.Duration == best.Duration && s.Start.Before(best.Start)) {
			best = s
		}
	}
	return best
}

func fillLabels(b *Breakdown, g Group, sc *SidecarSpan) {
	switch {
	case sc != nil:
		b.Service, b.Namespace, b.Method, b.Route, b.Status, b.Start = sc.Service, sc.Namespace, sc.Method, sc.Route, sc.Status, sc.Start
	case g.Ingress != nil:
		b.Method, b.Status, b.Start = g.Ingress.Method, g.Ingress.Status, g.Ingress.Start
	case g.LB != nil:
		b.Method, b.Status, b.Start = g.LB.Method, g.LB.Status, g.LB.Start
	}
	// No sidecar named the route (the trace reached no hopscope sidecar,
	// or its span had no route): derive it from the logged path as the
	// sidecar does for paths no template matches, so that health checks and
	// uninstrumented requests to /orders/1, /orders/2, ... make one route
	// label, and a query string never becomes one.
	if b.Route == "" {
		switch {
		case g.Ingress != nil && g.Ingress.Path != "":
			b.Route = route.FromPath(g.Ingress.Path)
		case g.LB != nil:
			b.Route = route.FromPath(g.LB.Path)
		}
	}
	if g.Ingress != nil && b.Status == 0 {
		b.Status = g.Ingress.Status
	}
	if g.LB != nil {
		if g.LB.Status != 0 {
			b.Status = g.LB.Status // what the client got
		}
		if !g.LB.Start.IsZero() {
			b.Start = g.LB.Start
		}
	}
	if g.Browser != nil {
		b.Start = g.Browser.Start
	}
}

// splitApp returns the app's exclusive time and one hop per backend kind:
// the union of that kind's call intervals within the app's interval.
// Where calls of different kinds overlap, the overlapping time is split
// evenly between the kinds, so the hops still sum to the app's duration.
// Ambiguous calls are listed but not subtracted.
func splitApp(sc *SidecarSpan, calls []BackendCall) (time.Duration, []hopD) {
	appStart := sc.Start.Add(sc.AppStart)
	appEnd := appStart.Add(sc.App)
	type edge struct {
		t    time.Time
		kind string
		open bool
	}
	var edges []edge
	for _, c := range calls {
		if c.Attribution == AttributionAmbiguous || c.Duration <= 0 {
			continue
		}
		s, e := c.Start, c.Start.Add(c.Duration)
		if s.Before(appStart) {
			s = appStart
		}
		if e.After(appEnd) {
			e = appEnd
		}
		if !e.After(s) {
			continue
		}
		edges = append(edges, edge{s, c.Kind, true}, edge{e, c.Kind, false})
	}
	if len(edges) == 0 {
		return sc.App, nil
	}
	sort.SliceStable(edges, func(i, j int) bool {
		if !edges[i].t.Equal(edges[j].t) {
			return edges[i].t.Before(edges[j].t)
		}
		return !edges[i].open && edges[j].open // close before open at the same instant
	})
	open := map[string]int{}
	per := map[string]float64{} // nanoseconds, fractional while splitting
	var order []string
	var busy time.Duration
	for i, e := range edges {
		if i > 0 {
			seg := e.t.Sub(edges[i-1].t)
			var kinds []string
			for k, n := range open {
				if n > 0 {
					kinds = append(kinds, k)
				}
			}
			if seg > 0 && len(kinds) > 0 {
				busy += seg
				for _, k := range kinds {
					per[k] += float64(seg) / float64(len(kinds))
				}
			}
		}
		if e.open {
			if _, seen := per[e.kind]; !seen {
				per[e.kind] = 0
				order = append(order, e.kind)
			}
			open[e.kind]++
		} else {
			open[e.kind]--
		}
	}
	var hops []hopD
	var assigned time.Duration
	for i, k := range order {
		d := time.Duration(math.Round(per[k]))
		if i == len(order)-1 {
			d = busy - assigned // no rounding drift
		}
		assigned += d
		hops = append(hops, hopD{k, d, SourceBackend})
	}
	return sc.App - busy, hops
}

func addBackends(b *Breakdown, g Group, sc *SidecarSpan) {
	origin := b.Start
	for _, c := range g.Backends {
		off := 0.0
		if !origin.IsZero() {
			off = ms(c.Start.Sub(origin))
		}
		if sc != nil && g.Browser == nil && g.LB == nil && g.Ingress == nil {
			off = ms(c.Start.Sub(sc.Start))
		}
		b.Backends = append(b.Backends, Backend{Kind: c.Kind, Target: c.Target, Operation: c.Operation, MS: ms(c.Duration),
			StartOffsetMS: off, Attribution: c.Attribution, Reason: c.Reason, Error: c.Error})
	}
	// Backend offsets from remote hosts' clocks are not comparable with the
	// browser's: when the sidecar is placed on the waterfall, backends are
	// placed relative to it.
	if sc != nil {
		var scOffset float64
		found := false
		for _, s := range b.Spans {
			if s.Name == HopSidecar {
				scOffset, found = s.StartOffsetMS, true
			}
		}
		if found {
			for i, c := range g.Backends {
				b.Backends[i].StartOffsetMS = round3(scOffset + ms(c.Start.Sub(sc.Start)))
			}
		}
	}
	slices.SortStableFunc(b.Backends, func(x, y Backend) int {
		switch {
		case x.StartOffsetMS < y.StartOffsetMS:
			return -1
		case x.StartOffsetMS > y.StartOffsetMS:
			return 1
		}
		return 0
	})
}

func addBackendsOnly(b *Breakdown, g Group) {
	for _, c := range g.Backends {
		b.Backends = append(b.Backends, Backend{Kind: c.Kind, Target: c.Target, Operation: c.Operation, MS: ms(c.Duration), Attribution: c.Attribution, Reason: c.Reason, Error: c.Error})
	}
}

// place lays the measured levels on one waterfall, outermost first.
func place(g Group, sc *SidecarSpan, levels []level, total time.Duration) []Interval {
	var out []Interval
	var parentStart, parentD time.Duration
	if br := g.Browser; br != nil {
		out = append(out,
			Interval{Name: "client", Source: SourceRUM, MS: ms(br.Total), Synthetic: true},
			Interval{Name: HopDNS, Source: SourceRUM, StartOffsetMS: ms(br.DNSStart), MS: ms(br.DNS), Synthetic: true},
			Interval{Name: HopConnect, Source: SourceRUM, StartOffsetMS: ms(br.ConnectStart), MS: ms(br.Connect), Synthetic: true},
		)
		if br.TLS > 0 {
			out = append(out, Interval{Name: HopTLS, Source: SourceRUM, StartOffsetMS: ms(br.TLSStart), MS: ms(br.TLS), Synthetic: true})
		}
		out = append(out,
			Interval{Name: "request", Source: SourceRUM, StartOffsetMS: ms(br.RequestStart), MS: ms(br.ServerTime), Synthetic: true},
			Interval{Name: HopDownload, Source: SourceRUM, StartOffsetMS: ms(br.ResponseStart), MS: ms(br.Download), Synthetic: true},
		)
		parentStart, parentD = br.RequestStart, br.ServerTime
	} else {
		parentStart, parentD = 0, total
	}
	first := g.Browser == nil
	for _, l := range levels {
		if !l.ok || l.name == HopEdgeNetwork || l.name == HopApp {
			continue
		}
		d := l.d
		var start time.Duration
		if first {
			start, first = 0, false
		} else {
			slack := parentD - d
			if slack < 0 {
				slack = 0
			}
			start = parentStart + slack/2
		}
		out = append(out, Interval{Name: l.name, Source: l.source, StartOffsetMS: ms(start), MS: ms(d), Synthetic: l.name != HopSidecar})
		parentStart, parentD = start, d
		if l.name == HopSidecar && sc != nil {
			out = append(out, Interval{Name: HopApp, Source: SourceSidecar, StartOffsetMS: ms(start + sc.AppStart), MS: ms(sc.App)})
		}
	}
	return out
}

// ms converts to milliseconds rounded to the microsecond.
func ms(d time.Duration) float64 { return round3(float64(d) / 1e6) }

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

// fixRounding makes the rounded hop values sum exactly to the rounded total
// by adjusting "other" (or the largest hop when there is none).
func fixRounding(b *Breakdown) {
	var sum float64
	for _, h := range b.Hops {
		sum += h.MS
	}
	diff := round3(b.TotalMS - sum)
	if diff == 0 || len(b.Hops) == 0 {
		return
	}
	idx := -1
	for i, h := range b.Hops {
		if h.Hop == HopOther {
			idx = i
		}
	}
	if idx < 0 {
		idx = 0
		for i, h := range b.Hops {
			if h.MS > b.Hops[idx].MS {
				idx = i
			}
		}
	}
	b.Hops[idx].MS = round3(b.Hops[idx].MS + diff)
}

func appendUnique(s []string, v string) []string {
	if slices.Contains(s, v) {
		return s
	}
	return append(s, v)
}

func dedupe(s []string) []string {
	out := s[:0]
	for _, v := range s {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// HopNames lists every hop a breakdown can contain besides backend kinds,
// in waterfall order.
func HopNames() []string {
	return []string{HopDNS, HopConnect, HopTLS, HopEdgeNetwork, HopLoadBalancer, HopIngress, HopIngressRetries, HopService, HopSidecar, HopApp, HopDownload, HopOther}
}
