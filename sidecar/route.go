package sidecar

import (
	"strings"

	"github.com/hopscope/hopscope/internal/route"
)

// RouteOther is the route label of requests past the route cap.
const RouteOther = route.Other

// routeNamer maps a URL path to a bounded route label: a configured template
// when one matches, else the path with identifier-like segments (numbers,
// UUIDs, long hex strings) collapsed to {id} by internal/route, as the
// collector names the routes of requests no sidecar saw. At most max
// distinct labels are handed out (route.Limit, as the collector caps its
// labels); the rest become "other", counted in
// hopscope_route_overflow_total, so a scanner walking random paths cannot
// blow up the metrics' cardinality.
type routeNamer struct {
	templates []routeTemplate
	known     *route.Limit[string]
}

type routeTemplate struct {
	raw      string
	segments []string // "" marks a {param} segment
	rest     bool     // ends in {name...} or *: matches any remainder
}

func newRouteNamer(templates []string, max int) *routeNamer {
	n := &routeNamer{known: route.NewLimit[string](max)}
	for _, t := range templates {
		n.templates = append(n.templates, parseTemplate(t))
	}
	return n
}

func parseTemplate(t string) routeTemplate {
	rt := routeTemplate{raw: t}
	trimmed := strings.Trim(t, "/")
	if trimmed == "" {
		return rt
	}
	for _, s := range strings.Split(trimmed, "/") {
		switch {
		case s == "*" || (strings.HasPrefix(s, "{") && strings.HasSuffix(s, "...}")):
			rt.rest = true
			return rt
		case strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}"):
			rt.segments = append(rt.segments, "")
		default:
			rt.segments = append(rt.segments, s)
		}
	}
	return rt
}

// match reports whether path fits the template, without allocating.
func (t *routeTemplate) match(path string) bool {
	p := strings.Trim(path, "/")
	for _, seg := range t.segments {
		if p == "" {
			return false
		}
		part, rest, _ := strings.Cut(p, "/")
		if part == "" || (seg != "" && part != seg) {
			return false
		}
		p = rest
	}
	return p == "" || t.rest
}

// Route returns the label for path.
func (n *routeNamer) Route(path string) string {
	if path == "" {
		path = "/"
	}
	for i := range n.templates {
		if n.templates[i].match(path) {
			return n.templates[i].raw
		}
	}
	return route.Value(n.known, route.CollapseIDs(path))
}
