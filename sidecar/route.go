package sidecar

import (
	"strings"
	"sync"
)

// RouteOther is the route label of requests past the route cap.
const RouteOther = "other"

// routeNamer maps a URL path to a bounded route label: a configured template
// when one matches, else the path with identifier-like segments (numbers,
// UUIDs, long hex strings) collapsed to {id}. At most max distinct labels are
// handed out; the rest become "other", so a scanner walking random paths
// cannot blow up the metrics' cardinality.
type routeNamer struct {
	templates []routeTemplate
	max       int

	mu    sync.RWMutex
	known map[string]struct{}
}

type routeTemplate struct {
	raw      string
	segments []string // "" marks a {param} segment
	rest     bool     // ends in {name...} or *: matches any remainder
}

func newRouteNamer(templates []string, max int) *routeNamer {
	n := &routeNamer{max: max, known: make(map[string]struct{}, max)}
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
	route := collapseIDs(path)
	n.mu.RLock()
	_, ok := n.known[route]
	n.mu.RUnlock()
	if ok {
		return route
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.known[route]; ok {
		return route
	}
	if len(n.known) >= n.max {
		return RouteOther
	}
	n.known[route] = struct{}{}
	return route
}

// collapseIDs replaces identifier-like segments with {id}. It returns path
// itself, without allocating, when nothing is replaced.
func collapseIDs(path string) string {
	var b *strings.Builder
	start := 0
	for start <= len(path) {
		end := strings.IndexByte(path[start:], '/')
		if end < 0 {
			end = len(path)
		} else {
			end += start
		}
		seg := path[start:end]
		if isIDSegment(seg) {
			if b == nil {
				b = &strings.Builder{}
				b.Grow(len(path))
				b.WriteString(path[:start])
			}
			b.WriteString("{id}")
		} else if b != nil {
			b.WriteString(seg)
		}
		if end == len(path) {
			break
		}
		if b != nil {
			b.WriteByte('/')
		}
		start = end + 1
	}
	if b == nil {
		return path
	}
	return b.String()
}

func isIDSegment(s string) bool {
	if s == "" {
		return false
	}
	digits, hex := true, true
	for i := 0; i < len(s); i++ {
		c := s[i]
		isDigit := c >= '0' && c <= '9'
		if !isDigit {
			digits = false
		}
		if !isDigit && !(c >= 'a' && c <= 'f') && !(c >= 'A' && c <= 'F') {
			hex = false
		}
	}
	if digits {
		return true
	}
	if hex && len(s) >= 16 {
		return true
	}
	return isUUID(s)
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9') && !(c >= 'a' && c <= 'f') && !(c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}
