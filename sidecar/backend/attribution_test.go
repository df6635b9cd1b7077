package backend

import (
	"strconv"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/trace"
)

// The shop's routes as the sidecar names them, and the calls each makes.
const (
	routeOrder    = "/api/orders/{id}"
	routeItem     = "/api/items/{id}"
	routeFeatured = "/api/featured"
)

// call is one backend call of a timeline: its shape (a Redis command with
// its key, or a statement) and values.
type call struct {
	shape  string
	values []string
}

func redisCall(cmd, key string) call {
	return call{shape: cmd + " " + maskDigits(key), values: []string{key}}
}

func sqlCall(values ...string) call {
	return call{shape: "SELECT id, item, amount_cents FROM orders WHERE id = $1", values: values}
}

func maskDigits(s string) string {
	var h Hint
	h.AppendShapeMasked([]byte(s))
	return string(h.Shape())
}

func (c call) hint() *Hint {
	h := &Hint{}
	h.SetShape(c.shape)
	for _, v := range c.values {
		h.AddValue([]byte(v))
	}
	return h
}

// routeCalls are the calls a request of route with id makes.
func routeCalls(route string, id int) []call {
	ids := strconv.Itoa(id)
	switch route {
	case routeOrder:
		return []call{redisCall("GET", "shop:order:"+ids), sqlCall(ids), redisCall("SET", "shop:order:"+ids)}
	case routeItem:
		return []call{redisCall("GET", "shop:item:"+ids), sqlCall(ids), redisCall("SET", "shop:item:"+ids)}
	case routeFeatured:
		return []call{redisCall("GET", "shop:featured"), sqlCall("1")}
	}
	return nil
}

func routePath(route string, id int) string {
	return strings.Replace(route, "{id}", strconv.Itoa(id), 1)
}

// learnAlone runs requests of each route one at a time, enough for the
// tracker to trust what it learnt.
func learnAlone(t *testing.T, tr *Tracker, routes ...string) {
	t.Helper()
	for i := 0; i < minRouteCalls; i++ {
		for _, r := range routes {
			id := 1000 + i
			sc := spanContext(t, 200, byte(i))
			eid := tr.EnterRequest(sc, "", r, routePath(r, id))
			for _, c := range routeCalls(r, id) {
				if got, a, why := tr.AttributeHint(trace.SpanContext{}, c.hint()); a != Inferred || why != ReasonSole || !got.Equal(sc) {
					t.Fatalf("learning %s: %s %s", r, a, why)
				}
			}
			tr.Leave(eid)
		}
	}
}

// TestTrackerTimelines: requests enter and leave, calls begin; each call
// is tied to the request the table says, or to none. Every case has a
// call with two or more requests in flight and an owner, so each fails
// with the tracker of before (one request in flight, else ambiguous); the
// steps that want none guard precision.
func TestTrackerTimelines(t *testing.T) {
	type step struct {
		enter, leave string // a request: "name route id"; leave by name
		call         *call
		want         string // the owner's name, "" for none
		why          Reason
	}
	enter := func(name, route string, id int) step {
		return step{enter: name + " " + route + " " + strconv.Itoa(id)}
	}
	leave := func(name string) step { return step{leave: name} }
	do := func(c call, want string, why Reason) step { return step{call: &c, want: want, why: why} }
	all := []string{routeOrder, routeItem, routeFeatured}
	for _, tc := range []struct {
		name  string
		learn []string
		steps []step
	}{
		{"alone, then not", all, []step{
			do(redisCall("GET", "shop:order:17"), "", ""),
			enter("a", routeOrder, 17), do(redisCall("GET", "shop:order:17"), "a", ReasonSole),
			enter("f", routeFeatured, 0), do(sqlCall("17"), "a", ReasonValue),
		}},
		{"the key carries one request's id", all, []step{
			enter("a", routeOrder, 17), enter("b", routeOrder, 42),
			do(redisCall("GET", "shop:order:42"), "b", ReasonValue),
			do(sqlCall("17"), "a", ReasonValue),
			do(redisCall("SET", "shop:order:17"), "a", ReasonValue),
		}},
		{"a value is a whole token: 17 is not in shop:order:170", all, []step{
			enter("a", routeOrder, 17), enter("b", routeOrder, 170),
			do(redisCall("GET", "shop:order:170"), "b", ReasonValue),
		}},
		{"two requests with the same id", all, []step{
			enter("a", routeOrder, 17), enter("b", routeItem, 17),
			do(sqlCall("17"), "", ""),
			do(redisCall("SET", "shop:item:17"), "b", ReasonValue),
		}},
		{"the same id twice: the request that made its read is ruled out", all, []step{
			enter("a", routeOrder, 17), enter("f", routeFeatured, 0),
			do(redisCall("GET", "shop:order:17"), "a", ReasonValue),
			enter("b", routeOrder, 17),
			do(redisCall("GET", "shop:order:17"), "b", ReasonValue),
			do(sqlCall("17"), "", ""),
		}},
		{"the shape rules the other route out", all, []step{
			enter("a", routeOrder, 17), enter("b", routeItem, 17),
			do(redisCall("GET", "shop:item:17"), "b", ReasonValue),
		}},
		{"a call carrying nothing of the request, its route's shape", all, []step{
			enter("a", routeOrder, 17), enter("f", routeFeatured, 0),
			do(redisCall("GET", "shop:featured"), "f", ReasonRoute),
		}},
		{"a fixed parameter: the featured order is 1, not 17", all, []step{
			enter("a", routeOrder, 17), enter("f", routeFeatured, 0),
			do(sqlCall("1"), "f", ReasonRoute),
			do(sqlCall("17"), "a", ReasonValue),
		}},
		{"two requests of a route whose calls carry nothing", all, []step{
			enter("f", routeFeatured, 0), enter("g", routeFeatured, 0),
			do(redisCall("GET", "shop:featured"), "", ""),
			enter("a", routeOrder, 5),
			do(redisCall("GET", "shop:order:5"), "a", ReasonValue),
		}},
		{"a request that made its one call of a shape cannot make another", all, []step{
			enter("a", routeOrder, 17), enter("f", routeFeatured, 0),
			do(redisCall("GET", "shop:featured"), "f", ReasonRoute),
			enter("g", routeFeatured, 0),
			do(redisCall("GET", "shop:featured"), "g", ReasonRoute),
		}},
		{"a route not learnt rules nothing out", []string{routeOrder}, []step{
			enter("a", routeOrder, 17), enter("x", "/api/stock/{id}", 5),
			do(redisCall("GET", "shop:order:17"), "", ""),
			enter("b", routeOrder, 42), leave("x"),
			do(redisCall("GET", "shop:order:42"), "b", ReasonValue),
		}},
		{"a shape no request in flight makes", all, []step{
			enter("a", routeOrder, 17), enter("f", routeFeatured, 0),
			do(redisCall("DEL", "shop:order:17"), "", ""),
			do(redisCall("GET", "shop:order:17"), "a", ReasonValue),
		}},
		{"a request that left is no candidate", all, []step{
			enter("a", routeOrder, 17), enter("f", routeFeatured, 0), enter("g", routeFeatured, 0),
			leave("g"),
			do(redisCall("GET", "shop:featured"), "f", ReasonRoute),
			leave("f"),
			do(sqlCall("1"), "a", ReasonSole),
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := NewTracker()
			learnAlone(t, tr, tc.learn...)
			ids := map[string]uint64{}
			scs := map[string]trace.SpanContext{}
			for i, s := range tc.steps {
				switch {
				case s.enter != "":
					f := strings.Fields(s.enter)
					id, _ := strconv.Atoi(f[2])
					scs[f[0]] = spanContext(t, byte(1+len(scs)), byte(i))
					ids[f[0]] = tr.EnterRequest(scs[f[0]], "", f[1], routePath(f[1], id))
				case s.leave != "":
					tr.Leave(ids[s.leave])
				default:
					sc, a, why := tr.AttributeHint(trace.SpanContext{}, s.call.hint())
					got := ""
					for name, want := range scs {
						if sc.IsValid() && sc.Equal(want) {
							got = name
						}
					}
					wantA := Inferred
					if s.want == "" {
						wantA = Ambiguous
					}
					if got != s.want || a != wantA || why != s.why {
						t.Errorf("step %d (%s %v): tied to %q (%s %q), want %q (%s %q)", i, s.call.shape, s.call.values, got, a, why, s.want, wantA, s.why)
					}
				}
			}
		})
	}
}

// TestTrackerBounds: what the tracker learns is bounded; a route past its
// bound of shapes rules nothing out.
func TestTrackerBounds(t *testing.T) {
	tr := NewTracker()
	for r := 0; r < maxLearnedRoutes+10; r++ {
		route := "/r" + strconv.Itoa(r)
		id := tr.EnterRequest(spanContext(t, 1, 1), "", route, route)
		for s := 0; s < maxShapesPerRoute+5; s++ {
			tr.AttributeHint(trace.SpanContext{}, call{shape: "GET k" + strconv.Itoa(s)}.hint())
		}
		tr.Leave(id)
	}
	if len(tr.routes) != maxLearnedRoutes {
		t.Errorf("%d routes learnt, want the bound %d", len(tr.routes), maxLearnedRoutes)
	}
	for r, rs := range tr.routes {
		if !rs.full || len(rs.shapes) != 0 {
			t.Fatalf("route %s: full %v with %d shapes, want full and none kept", r, rs.full, len(rs.shapes))
		}
	}
}

// TestInferredCarriesTracestate: a call tied to one of several requests
// in flight by its value carries that request's tracestate on, as a W3C
// participant does; an ambiguous call carries none.
func TestInferredCarriesTracestate(t *testing.T) {
	tr := NewTracker()
	learnAlone(t, tr, routeOrder)
	a := tr.EnterRequest(spanContext(t, 1, 1), "vendor=a", routeOrder, routePath(routeOrder, 7))
	b := tr.EnterRequest(spanContext(t, 2, 2), "vendor=b", routeOrder, routePath(routeOrder, 8))
	defer tr.Leave(a)
	defer tr.Leave(b)
	sc, ts, attr, why, _ := tr.attributeHint(trace.SpanContext{}, redisCall("GET", "shop:order:8").hint(), false)
	if attr != Inferred || why != ReasonValue || !sc.Equal(spanContext(t, 2, 2)) || ts != "vendor=b" {
		t.Errorf("the call with 8's key: %s %s, tracestate %q", attr, why, ts)
	}
	if _, ts, attr, _, _ := tr.attributeHint(trace.SpanContext{}, redisCall("GET", "shop:other").hint(), false); attr != Ambiguous || ts != "" {
		t.Errorf("a call neither could make: %s, tracestate %q", attr, ts)
	}
}

// TestTrackerOrder: several requests of a route whose calls carry nothing
// of theirs: the call goes to the one idle longest by more than
// orderMargin (ReasonOrder), one with a call in progress last; closer than
// that it stays ambiguous, and then none passes for idle since before it.
// A request tied to a call its route makes after another made that other
// one unseen.
func TestTrackerOrder(t *testing.T) {
	ms := func(f float64) int64 { return int64(f * 1e6) }
	type step struct {
		at    float64 // milliseconds on the tracker's clock
		enter string  // "name", on routeFeatured
		call  *call
		end   string // the named request's tracked call ends
		leave string
		want  string
		why   Reason
	}
	get, sel := redisCall("GET", "shop:featured"), sqlCall("1")
	enter := func(at float64, name string) step { return step{at: at, enter: name} }
	do := func(at float64, c call, want string, why Reason) step {
		return step{at: at, call: &c, want: want, why: why}
	}
	end := func(at float64, name string) step { return step{at: at, end: name} }
	leave := func(at float64, name string) step { return step{at: at, leave: name} }
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"the first to come makes the call first", []step{
			enter(0, "f"), enter(1, "g"),
			do(2, get, "f", ReasonOrder),
			do(3, get, "g", ReasonRoute), // f made its one
		}},
		{"within the margin: ambiguous, and no one stays the oldest", []step{
			enter(0, "f"), enter(0.2, "g"),
			do(1, get, "", ""),
			enter(1.2, "h"),
			do(2, get, "", ""), // f is no longer idle since 0
		}},
		{"the one whose last call ended first goes first", []step{
			enter(0, "f"), enter(1, "g"),
			do(2, get, "f", ReasonOrder), do(2.1, get, "g", ReasonRoute),
			end(3, "g"), end(5, "f"),
			do(6, sel, "g", ReasonOrder),
			do(7, sel, "f", ReasonRoute),
		}},
		{"one with a call in progress comes after one without", []step{
			enter(0, "f"), do(0.1, get, "f", ReasonSole), enter(0.2, "g"),
			do(0.3, sel, "g", ReasonOrder), // f still in its GET
		}},
		{"tied to its second call, it made the first one unseen", []step{
			enter(0, "f"), enter(0.1, "g"),
			do(0.2, get, "", ""), // f's
			leave(1, "g"),
			do(2, sel, "f", ReasonSole),
			end(3.5, "f"),
			enter(3, "h"),
			do(4, get, "h", ReasonRoute), // not f's again: f made its GET
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := NewTracker()
			learnAlone(t, tr, routeOrder, routeItem, routeFeatured)
			var clock int64
			tr.now = func() int64 { return clock }
			ids := map[string]uint64{}
			scs := map[string]trace.SpanContext{}
			tracked := map[string]uint64{} // a request's last tracked call
			for i, s := range tc.steps {
				clock = ms(s.at)
				switch {
				case s.enter != "":
					scs[s.enter] = spanContext(t, byte(1+len(scs)), byte(i))
					ids[s.enter] = tr.EnterRequest(scs[s.enter], "", routeFeatured, routePath(routeFeatured, 0))
				case s.end != "":
					tr.ended(tracked[s.end])
				case s.leave != "":
					tr.Leave(ids[s.leave])
				default:
					sc, _, a, why, req := tr.attributeHint(trace.SpanContext{}, s.call.hint(), true)
					got := ""
					for name, want := range scs {
						if sc.IsValid() && sc.Equal(want) {
							got, tracked[name] = name, req
						}
					}
					wantA := Inferred
					if s.want == "" {
						wantA = Ambiguous
					}
					if got != s.want || a != wantA || why != s.why {
						t.Errorf("step %d at %.1f ms (%s %v): tied to %q (%s %q), want %q (%s %q)", i, s.at, s.call.shape, s.call.values, got, a, why, s.want, wantA, s.why)
					}
				}
			}
		})
	}
}
