package sidecar

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestRouteNamer(t *testing.T) {
	n := newRouteNamer([]string{"/orders/{id}", "/static/*", "/files/{path...}", "/"}, 100)
	tests := []struct{ path, want string }{
		{"/orders/123", "/orders/{id}"},
		{"/orders/abc", "/orders/{id}"}, // templates win over the heuristic
		{"/orders/", "/orders/"},        // an empty segment is not a param
		{"/orders/1/items", "/orders/{id}/items"},
		{"/static/app.js", "/static/*"},
		{"/static/css/a.css", "/static/*"},
		{"/files/a/b/c", "/files/{path...}"},
		{"/", "/"},
		{"", "/"},
		{"/users/42", "/users/{id}"},
		{"/users/42/posts/7", "/users/{id}/posts/{id}"},
		{"/items/550e8400-e29b-41d4-a716-446655440000", "/items/{id}"},
		{"/blobs/4bf92f3577b34da6a3ce929d0e0e4736", "/blobs/{id}"},
		{"/blobs/cafe", "/blobs/cafe"}, // short hex is a word
		{"/healthz", "/healthz"},
		{"/v2/users", "/v2/users"},
		{"/users/42/", "/users/{id}/"},
	}
	for _, tt := range tests {
		if got := n.Route(tt.path); got != tt.want {
			t.Errorf("Route(%q) = %q, want %q", tt.path, got, tt.want)
		}
	}
}

func TestRouteCardinalityCap(t *testing.T) {
	n := newRouteNamer(nil, 3)
	for i := 0; i < 3; i++ {
		if got := n.Route(fmt.Sprintf("/page%c", 'a'+i)); got == RouteOther {
			t.Fatalf("route %d capped too early", i)
		}
	}
	if got := n.Route("/pagez"); got != RouteOther {
		t.Fatalf("4th distinct route = %q, want %q", got, RouteOther)
	}
	if got := n.Route("/pagea"); got != "/pagea" {
		t.Fatalf("known route after cap = %q", got)
	}
	for i := 0; i < 1000; i++ {
		n.Route(fmt.Sprintf("/scan/x%dy", i))
	}
	if n.known.Len() != 3 {
		t.Fatalf("namer holds %d routes, cap is 3", n.known.Len())
	}
}

func TestExemplarLimiter(t *testing.T) {
	var l exemplarLimiter
	now := time.Unix(1000, 0)
	if !l.take(0.003, now) {
		t.Fatal("first exemplar refused")
	}
	if l.take(0.003, now.Add(time.Millisecond)) {
		t.Fatal("second exemplar in the same bucket within the spacing let through")
	}
	if !l.take(2.0, now.Add(time.Millisecond)) {
		t.Fatal("a slow request's exemplar (other bucket) refused")
	}
	if !l.take(0.003, now.Add(exemplarSpacing)) {
		t.Fatal("exemplar after the spacing refused")
	}
	if !l.take(1e6, now) {
		t.Fatal("beyond the last bucket refused")
	}
}

// TestRouteOverflowCounted: requests past --max-routes are labelled
// "other" and counted in hopscope_route_overflow_total.
func TestRouteOverflowCounted(t *testing.T) {
	up, _ := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	h := startSidecar(t, up, func(c *Config) { c.MaxRoutes = 2; c.AccessLog = "off" })
	for _, p := range []string{"/a", "/b", "/c", "/a", "/d"} {
		res, err := http.Get(h.url + p)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
	want := `
# HELP hopscope_route_overflow_total Requests whose route label became "other" because --max-routes distinct routes were taken.
# TYPE hopscope_route_overflow_total counter
hopscope_route_overflow_total{service="shop"} 2
`
	if err := testutil.GatherAndCompare(h.reg, strings.NewReader(want), metricRouteOverflow); err != nil {
		t.Error(err)
	}
	if n := testutil.ToFloat64(h.sc.metrics.requests.WithLabelValues(directionInbound, "GET", RouteOther, "200", "")); n != 2 {
		t.Errorf("requests with route=\"other\": %v, want 2", n)
	}
}
