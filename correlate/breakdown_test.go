package correlate

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/hopscope/hopscope/internal/testkit"
)

const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"

var tid, _ = ParseTraceID(traceID)

var t0 = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)

func msd(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }

// fullPath is a request measured by every source: the browser waited
// 150 ms for the first byte, the ALB 120 ms, the ingress 100 ms, of which
// the pod took 95 ms; the sidecar saw 90 ms with 80 ms in the app, which
// spent 25 ms in PostgreSQL, 2 ms in Redis and 30 ms calling an API.
func fullPath() Group {
	sidecarStart := t0.Add(msd(70))
	appStart := sidecarStart.Add(msd(4))
	return Group{
		TraceID: tid,
		Browser: &BrowserTiming{Keys: Keys{TraceID: traceID}, Page: "https://shop.example/orders/7", Start: t0,
			Total: msd(200), DNS: msd(12), Connect: msd(20), ServerTime: msd(150), Download: msd(10),
			DNSStart: msd(1), ConnectStart: msd(13), RequestStart: msd(35), ResponseStart: msd(185)},
		LB: &LoadBalancerLog{Keys: Keys{XRayRoot: "1-4bf92f35-77b34da6a3ce929d0e0e4736"}, Kind: "alb", Start: t0.Add(msd(50)),
			Total: msd(120), Target: msd(110), Dispatched: true, Resolution: time.Millisecond, Method: "GET", Path: "/api/orders/7", Status: 200, TargetStatus: 200},
		Ingress: &IngressLog{Keys: Keys{RequestID: "req-1"}, Start: t0.Add(msd(60)), RequestTime: msd(100),
			Tries:      []UpstreamTry{{Addr: "10.0.0.7:15080", Status: 200, Connect: msd(1), Header: msd(94), Response: msd(95)}},
			Resolution: time.Millisecond, Method: "GET", Path: "/api/orders/7", Status: 200},
		Sidecars: []SidecarSpan{{Keys: Keys{TraceID: traceID, RequestID: "req-1"}, SpanID: hexSpanID("00f067aa0ba902b7"), Service: "shop",
			Method: "GET", Route: "/api/orders/{id}", Status: 200, Start: sidecarStart, Duration: msd(90), App: msd(80), AppStart: msd(4)}},
		Backends: []BackendCall{
			{Keys: Keys{TraceID: traceID}, SpanID: sid("b1"), Kind: "postgres", Target: "db:5432", Operation: "SELECT", Start: appStart.Add(msd(5)), Duration: msd(25), Attribution: AttributionExact},
			{Keys: Keys{TraceID: traceID}, SpanID: sid("b2"), Kind: "redis", Target: "cache:6379", Operation: "GET", Start: appStart.Add(msd(1)), Duration: msd(2), Attribution: AttributionExact},
			{Keys: Keys{TraceID: traceID}, SpanID: sid("b3"), Kind: "http_egress", Target: "api.stripe.com:443", Operation: "POST", Start: appStart.Add(msd(35)), Duration: msd(30), Attribution: AttributionInferred},
		},
	}
}

func hopMap(b Breakdown) map[string]float64 {
	m := map[string]float64{}
	for _, h := range b.Hops {
		m[h.Hop] = h.MS
	}
	return m
}

func sumHops(b Breakdown) float64 {
	var s float64
	for _, h := range b.Hops {
		s += h.MS
	}
	return s
}

func TestComputeGolden(t *testing.T) {
	tests := map[string]func() Group{
		"full_path": fullPath,
		"no_alb": func() Group {
			g := fullPath()
			g.LB = nil
			return g
		},
		"no_rum": func() Group {
			g := fullPath()
			g.Browser = nil
			return g
		},
		"ingress_retries": func() Group {
			g := fullPath()
			g.Ingress.Tries = []UpstreamTry{
				{Addr: "10.0.0.9:15080", Status: 502, Connect: msd(1), Header: msd(3), Response: msd(3)},
				{Addr: "10.0.0.7:15080", Status: 200, Connect: msd(1), Header: msd(94), Response: msd(95)},
			}
			g.Ingress.RequestTime = msd(103)
			return g
		},
		"parallel_backends": func() Group {
			g := fullPath()
			appStart := g.Sidecars[0].Start.Add(g.Sidecars[0].AppStart)
			g.Backends = []BackendCall{
				{SpanID: sid("p1"), Kind: "postgres", Start: appStart.Add(msd(10)), Duration: msd(20), Attribution: AttributionExact},
				{SpanID: sid("p2"), Kind: "postgres", Start: appStart.Add(msd(15)), Duration: msd(20), Attribution: AttributionExact}, // union 10..35 = 25
				{SpanID: sid("r1"), Kind: "redis", Start: appStart.Add(msd(30)), Duration: msd(10), Attribution: AttributionExact},    // 30..40: 5 ms shared with postgres
				{SpanID: sid("x1"), Kind: "postgres", Start: appStart.Add(msd(50)), Duration: msd(10), Attribution: AttributionAmbiguous},
			}
			return g
		},
		"coarse_resolution": func() Group {
			// nginx says 0.004 s upstream, the sidecar measured 4.6 ms:
			// the negative service hop is clamped and settled in other.
			g := fullPath()
			g.Browser, g.LB = nil, nil
			g.Ingress.RequestTime = msd(5)
			g.Ingress.Tries[0].Response = msd(4)
			g.Sidecars[0].Duration = msd(4.6)
			g.Sidecars[0].App = msd(4.2)
			g.Backends = nil
			return g
		},
		"lb_not_dispatched": func() Group {
			g := fullPath()
			g.LB.Dispatched = false
			g.Ingress, g.Sidecars, g.Backends = nil, nil, nil
			return g
		},
		"sidecar_only": func() Group {
			g := fullPath()
			g.Browser, g.LB, g.Ingress = nil, nil, nil
			return g
		},
		"tls": withTLS,
	}
	for name, build := range tests {
		t.Run(name, func(t *testing.T) {
			b := Compute(build())
			if math.Abs(sumHops(b)-b.TotalMS) > 0.1 {
				t.Fatalf("hops sum to %.3f, total %.3f", sumHops(b), b.TotalMS)
			}
			got, err := json.MarshalIndent(b, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "breakdown", name+".golden.json")
			testkit.Golden(t, golden, append(got, '\n'))
		})
	}
}

// TestComputeFullPathValues states the expected hops of the full path in
// the test itself, so the golden file cannot drift unnoticed.
func TestComputeFullPathValues(t *testing.T) {
	b := Compute(fullPath())
	want := map[string]float64{
		"dns": 12, "connect": 20, "edge_network": 30, "loadbalancer": 20, "ingress": 5, "service": 5,
		"sidecar": 10, "app": 23, "redis": 2, "postgres": 25, "http_egress": 30, "download": 10, "other": 8,
	}
	if got := hopMap(b); !reflect.DeepEqual(got, want) {
		t.Fatalf("hops\n got %v\nwant %v", got, want)
	}
	if b.TotalMS != 200 || b.TotalSource != "rum" || !b.Complete || len(b.Missing) != 0 {
		t.Fatalf("total %v source %s complete %v missing %v", b.TotalMS, b.TotalSource, b.Complete, b.Missing)
	}
	if b.Service != "shop" || b.Route != "/api/orders/{id}" || b.Status != 200 {
		t.Fatalf("labels %+v", b)
	}
}

// withTLS is fullPath over https: of the browser's 20 ms connect, 14 ms
// were the TLS handshake (secureConnectionStart 6 ms after connectStart).
func withTLS() Group {
	g := fullPath()
	g.Browser.Connect, g.Browser.TLS, g.Browser.TLSStart = msd(6), msd(14), msd(19)
	return g
}

// TestComputeTLS: a measured handshake is a tls hop after connect, on the
// waterfall too; without one (plain http, a reused connection) there is
// no tls hop and it is not missing.
func TestComputeTLS(t *testing.T) {
	tests := []struct {
		name      string
		g         Group
		connect   float64
		tls       float64
		hasTLS    bool
		intervals []string
	}{
		{"https", withTLS(), 6, 14, true, []string{"client", "dns", "connect", "tls", "request", "download"}},
		{"plain http", fullPath(), 20, 0, false, []string{"client", "dns", "connect", "request", "download"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := Compute(tc.g)
			h := hopMap(b)
			tls, ok := h[HopTLS]
			if h[HopConnect] != tc.connect || tls != tc.tls || ok != tc.hasTLS {
				t.Errorf("connect %v tls %v (present %v), want %v %v (%v)", h[HopConnect], tls, ok, tc.connect, tc.tls, tc.hasTLS)
			}
			if b.Hops[1].Hop != HopConnect || (tc.hasTLS && b.Hops[2].Hop != HopTLS) {
				t.Errorf("hop order %+v", b.Hops)
			}
			if math.Abs(sumHops(b)-b.TotalMS) > 0.1 || !b.Complete {
				t.Errorf("hops sum %v, total %v, complete %v", sumHops(b), b.TotalMS, b.Complete)
			}
			var names []string
			for _, iv := range b.Spans {
				if iv.Source == SourceRUM {
					names = append(names, iv.Name)
					if iv.Name == HopTLS && (iv.StartOffsetMS != 19 || iv.MS != 14) {
						t.Errorf("tls interval %+v, want at 19 ms for 14 ms", iv)
					}
				}
			}
			if !reflect.DeepEqual(names, tc.intervals) {
				t.Errorf("browser intervals %v, want %v", names, tc.intervals)
			}
		})
	}
}

func TestComputeRetriesAndMissing(t *testing.T) {
	g := fullPath()
	g.LB = nil
	g.Ingress.Tries = []UpstreamTry{{Addr: "a", Status: 502, Response: msd(3)}, {Addr: "b", Status: 200, Response: msd(95)}}
	g.Ingress.RequestTime = msd(103)
	b := Compute(g)
	h := hopMap(b)
	if h["ingress_retries"] != 3 || h["service"] != 5 || h["ingress"] != 5 {
		t.Fatalf("retries not shown as tries: %v", h)
	}
	if len(b.Tries) != 2 || b.Tries[0].Status != 502 || b.Tries[1].MS != 95 {
		t.Fatalf("tries %+v", b.Tries)
	}
	// The ALB is missing: its time stays in edge_network (150 - 103).
	if h["edge_network"] != 47 || !reflect.DeepEqual(b.Missing, []string{"loadbalancer"}) || b.Complete {
		t.Fatalf("edge %v missing %v", h["edge_network"], b.Missing)
	}
}

func TestComputeClockSkewDoesNotMatter(t *testing.T) {
	base := Compute(fullPath())
	for _, skew := range []time.Duration{2 * time.Second, -2 * time.Second} {
		g := fullPath()
		g.LB.Start = g.LB.Start.Add(skew)
		g.Ingress.Start = g.Ingress.Start.Add(-skew)
		s := &g.Sidecars[0]
		s.Start = s.Start.Add(skew) // the pod's clock is off; its backends share it
		for i := range g.Backends {
			g.Backends[i].Start = g.Backends[i].Start.Add(skew)
		}
		b := Compute(g)
		if !reflect.DeepEqual(hopMap(b), hopMap(base)) {
			t.Fatalf("skew %v changed the hops:\n%v\n%v", skew, hopMap(b), hopMap(base))
		}
		if !reflect.DeepEqual(b.Backends, base.Backends) {
			t.Fatalf("skew %v moved backends on the waterfall", skew)
		}
	}
}

// TestComputeHopsAlwaysSumToTotal is the property: for random nested
// durations, any subset of sources, and random backend calls, the hops sum
// to the total within 0.1 ms and no hop but other is negative.
func TestComputeHopsAlwaysSumToTotal(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 20000; i++ {
		d := func(max float64) time.Duration { return time.Duration(r.Float64() * max * float64(time.Millisecond)) }
		app := d(500)
		sc := app + d(5)
		try := sc + d(5) - d(1) // coarse: may be below the sidecar's
		req := try + d(5)
		lb := req + d(5) - d(1)
		server := lb + d(50)
		g := Group{TraceID: tid}
		if r.IntN(2) == 0 {
			g.Browser = &BrowserTiming{ServerTime: server, DNS: d(50), Connect: d(50), Download: d(50)}
			g.Browser.Total = g.Browser.DNS + g.Browser.Connect + server + g.Browser.Download + d(20)
		}
		if r.IntN(2) == 0 {
			g.LB = &LoadBalancerLog{Kind: "alb", Total: lb, Dispatched: r.IntN(5) > 0}
		}
		if r.IntN(2) == 0 {
			g.Ingress = &IngressLog{RequestTime: req}
			if r.IntN(4) > 0 {
				n := 1 + r.IntN(3)
				for k := 0; k < n-1; k++ {
					g.Ingress.Tries = append(g.Ingress.Tries, UpstreamTry{Status: 502, Response: d(2)})
				}
				g.Ingress.Tries = append(g.Ingress.Tries, UpstreamTry{Status: 200, Response: try})
			}
		}
		if r.IntN(3) > 0 {
			g.Sidecars = []SidecarSpan{{Start: t0, Duration: sc, App: app, AppStart: d(1)}}
			for k := r.IntN(6); k > 0; k-- {
				g.Backends = append(g.Backends, BackendCall{Kind: []string{"postgres", "redis", "http_egress"}[r.IntN(3)],
					Start: t0.Add(d(600) - d(100)), Duration: d(300), Attribution: []Attribution{AttributionExact, AttributionInferred, AttributionAmbiguous}[r.IntN(3)]})
			}
		}
		b := Compute(g)
		if b.TotalSource == SourceNone {
			continue
		}
		if diff := math.Abs(sumHops(b) - b.TotalMS); diff > 0.1 {
			t.Fatalf("case %d: hops sum %.4f != total %.4f (%+v)", i, sumHops(b), b.TotalMS, b.Hops)
		}
		for _, h := range b.Hops {
			if h.MS < 0 && h.Hop != HopOther {
				t.Fatalf("case %d: negative hop %+v", i, h)
			}
		}
	}
}

func TestTraceIDFromXRayRoot(t *testing.T) {
	for in, want := range map[string]string{
		"1-4bf92f35-77b34da6a3ce929d0e0e4736": traceID,
		"1-4BF92F35-77B34DA6A3CE929D0E0E4736": traceID,
		"2-4bf92f35-77b34da6a3ce929d0e0e4736": "",
		"1-4bf92f35-77b34da6a3ce929d0e0e473":  "",
		"1-4bf92f3g-77b34da6a3ce929d0e0e4736": "",
		"":                                    "",
	} {
		got, ok := TraceIDFromXRayRoot(in)
		if got.String() != want || ok != (want != "") {
			t.Errorf("%q → %q %v, want %q", in, got, ok, want)
		}
	}
}

// TestRouteWithoutSidecar: a trace only a load balancer or the ingress
// logged (health checks, uninstrumented requests) gets its route from the
// path with identifiers collapsed, as the sidecar names routes, never with
// a query string; a sidecar's route template still wins.
func TestRouteWithoutSidecar(t *testing.T) {
	ingress := func(path string) *IngressLog {
		return &IngressLog{Keys: Keys{TraceID: traceID}, Start: t0, RequestTime: msd(3), Resolution: time.Millisecond, Method: "GET", Path: path, Status: 200}
	}
	lb := func(path string) *LoadBalancerLog {
		return &LoadBalancerLog{Keys: Keys{TraceID: traceID}, Kind: "alb", Start: t0, Total: msd(5), Dispatched: true, Resolution: time.Millisecond, Method: "GET", Path: path, Status: 200}
	}
	for _, tt := range []struct {
		name string
		g    Group
		want string
	}{
		{"ingress numeric id", Group{Ingress: ingress("/api/orders/17")}, "/api/orders/{id}"},
		{"ingress uuid and query", Group{Ingress: ingress("/u/550e8400-e29b-41d4-a716-446655440000/x?token=s3cret")}, "/u/{id}/x"},
		{"alb long hex", Group{LB: lb("/blobs/4bf92f3577b34da6a3ce929d0e0e4736")}, "/blobs/{id}"},
		{"alb query only", Group{LB: lb("/search?q=shoes")}, "/search"},
		{"health check kept", Group{Ingress: ingress("/healthz")}, "/healthz"},
		{"sidecar template wins", Group{Ingress: ingress("/api/orders/17"), Sidecars: []SidecarSpan{{Service: "shop", Route: "/api/orders/:id", Start: t0, Duration: msd(2)}}}, "/api/orders/:id"},
		{"sidecar without route falls back to the path", Group{Ingress: ingress("/api/orders/17"), Sidecars: []SidecarSpan{{Service: "shop", Start: t0, Duration: msd(2)}}}, "/api/orders/{id}"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.g.TraceID = tid
			if got := Compute(tt.g).Route; got != tt.want {
				t.Errorf("route %q, want %q", got, tt.want)
			}
		})
	}
	// Many ingress-only requests to distinct ids make one route.
	routes := map[string]bool{}
	for i := range 500 {
		routes[Compute(Group{TraceID: tid, Ingress: ingress(fmt.Sprintf("/api/orders/%d?page=%d", i, i))}).Route] = true
	}
	if len(routes) != 1 || !routes["/api/orders/{id}"] {
		t.Errorf("500 ingress-only orders gave %d routes, want only /api/orders/{id}", len(routes))
	}
}

// raceEnabled is set by race_test.go under -race.
var raceEnabled bool

// TestComputeAllocations: a breakdown sizes its working slices once (the
// levels and hops on the stack, Hops in one allocation): the full path's
// breakdown took 35 allocations when they grew by append. A group with no
// hop still has empty, not nil, Hops (the API's "hops":[] is unchanged).
func TestComputeAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts mean nothing under the race detector")
	}
	for _, tc := range []struct {
		name string
		g    Group
		max  float64
	}{
		{"full path", fullPath(), 24},
		{"sidecar only", Group{TraceID: tid, Sidecars: fullPath().Sidecars}, 12},
	} {
		if allocs := testing.AllocsPerRun(50, func() { Compute(tc.g) }); allocs > tc.max {
			t.Errorf("%s: %.0f allocations, want at most %.0f", tc.name, allocs, tc.max)
		}
	}
	if b := Compute(Group{TraceID: tid}); b.Hops == nil || len(b.Hops) != 0 {
		t.Errorf("no hop: Hops %#v, want empty, not nil", b.Hops)
	}
}
