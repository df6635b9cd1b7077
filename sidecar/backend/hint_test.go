package backend

import (
	"strconv"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/trace"
)

func TestHintMatches(t *testing.T) {
	for _, tc := range []struct {
		values []string
		ints   []int64
		mark   string
		want   bool
	}{
		{[]string{"shop:order:17"}, nil, "17", true},
		{[]string{"shop:order:170"}, nil, "17", false},
		{[]string{"shop:order:017"}, nil, "17", false},
		{[]string{"user-17-cart"}, nil, "17", true},
		{[]string{"17"}, nil, "17", true},
		{[]string{"x", "y", "z", "w", "17"}, nil, "17", false},                  // past MaxHintValues
		{[]string{strings.Repeat("a", MaxHintValue) + ":17"}, nil, "17", false}, // too long: skipped
		{nil, []int64{17}, "17", true},
		{nil, []int64{-17}, "-17", true},
		{nil, []int64{-17}, "17", true}, // the digits are a token of -17
		{nil, []int64{9223372036854775807}, "9223372036854775807", true},
		{[]string{"abc"}, nil, "", false},
	} {
		var h Hint
		for _, v := range tc.values {
			h.AddValue([]byte(v))
		}
		for _, v := range tc.ints {
			h.AddInt(v)
		}
		if got := h.Matches(tc.mark); got != tc.want {
			t.Errorf("%v %v matches %q = %v, want %v", tc.values, tc.ints, tc.mark, got, tc.want)
		}
	}
}

func TestHintShape(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"shop:order:17", "GET shop:order:#"},
		{"a1b22c333", "GET a#b#c#"},
		{"shop:featured", "GET shop:featured"},
		{strings.Repeat("k", 200), "GET " + strings.Repeat("k", maxShape-4)},
	} {
		var h Hint
		h.SetShape("GET")
		h.AppendShape([]byte(" "))
		h.AppendShapeMasked([]byte(tc.in))
		if got := string(h.Shape()); got != tc.want {
			t.Errorf("shape of %q = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestPathMarks(t *testing.T) {
	for _, tc := range []struct {
		path string
		want []string
	}{
		{"/api/orders/17", []string{"17"}},
		{"/api/featured", nil},
		{"/v2/users/4bf92f35-77b3/orders/9", []string{"v2", "4bf92f35-77b3", "9"}},
		{"/1/2/3/4/5/6", []string{"1", "2", "3", "4"}},
		{"/x/" + strings.Repeat("7", maxMark+1), nil},
		{"", nil},
	} {
		m := pathMarks(tc.path)
		got := m.v[:m.n]
		if strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("marks of %q = %q, want %q", tc.path, got, tc.want)
		}
	}
}

// TestHintAllocs: matching a call against the requests in flight does not
// allocate.
func TestHintAllocs(t *testing.T) {
	tr := NewTracker()
	for i := 0; i < 16; i++ {
		tr.EnterRequest(spanContext(t, byte(i+1), 1), "", routeOrder, routePath(routeOrder, 100+i))
	}
	h := redisCall("GET", "shop:order:107").hint()
	if n := testing.AllocsPerRun(100, func() { tr.AttributeHint(trace.SpanContext{}, h) }); n != 0 {
		t.Errorf("%v allocations per call", n)
	}
}

// BenchmarkAttribute: the tracker's decision at the start of a call, with
// n requests of the shop's routes in flight (learnt alone first), for a
// Redis GET carrying one request's id. AttributeHint is on every call's
// path.
func BenchmarkAttribute(b *testing.B) {
	t := &testing.T{}
	for _, n := range []int{1, 16, 64} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			tr := NewTracker()
			learnAlone(t, tr, routeOrder, routeItem, routeFeatured)
			routes := []string{routeOrder, routeItem, routeFeatured}
			for i := 0; i < n; i++ {
				r := routes[i%3]
				tr.EnterRequest(spanContext(t, byte(i+1), byte(i>>8)+1), "", r, routePath(r, 100+i))
			}
			h := redisCall("GET", "shop:order:"+strconv.Itoa(100+n/2/3*3)).hint()
			b.ReportAllocs()
			for b.Loop() {
				tr.AttributeHint(trace.SpanContext{}, h)
			}
		})
	}
}
