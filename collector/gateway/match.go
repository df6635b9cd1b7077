package gateway

import (
	"slices"
	"strings"

	"github.com/hopscope/hopscope/internal/contract"
	"github.com/hopscope/hopscope/internal/otlpwire"
)

// OTLP span kinds (opentelemetry.proto.trace.v1).
const (
	kindServer = 2
	kindClient = 3
)

// Matcher decides which spans are a gateway's. It is read-only after
// NewMatcher and safe for concurrent use.
type Matcher struct {
	services            []pattern
	resAttrs, spanAttrs []attrRule
}

type pattern struct {
	text               string
	prefix, suffix, in bool // "*" after, before, both sides
}

type attrRule struct {
	key, value string
	anyValue   bool
}

// NewMatcher checks cfg and returns its matcher.
func NewMatcher(cfg Config) (*Matcher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := &Matcher{}
	for _, s := range cfg.Services {
		s = strings.ToLower(strings.TrimSpace(s))
		p := pattern{}
		lead, trail := strings.HasPrefix(s, "*"), strings.HasSuffix(s, "*")
		p.text = strings.Trim(s, "*")
		p.in, p.prefix, p.suffix = lead && trail, trail && !lead, lead && !trail
		m.services = append(m.services, p)
	}
	for _, a := range cfg.ResourceAttributes {
		k, v, _ := strings.Cut(a, "=")
		m.resAttrs = append(m.resAttrs, attrRule{key: k, value: v})
	}
	for _, a := range cfg.SpanAttributes {
		k, v, ok := strings.Cut(a, "=")
		m.spanAttrs = append(m.spanAttrs, attrRule{key: k, value: v, anyValue: !ok})
	}
	return m, nil
}

func (p pattern) match(s string) bool {
	switch {
	case p.in:
		return strings.Contains(s, p.text)
	case p.prefix:
		return strings.HasPrefix(s, p.text)
	case p.suffix:
		return strings.HasSuffix(s, p.text)
	}
	return s == p.text
}

// Resource reports whether a resource is a gateway's: its service.name or
// one of its attributes matches.
func (m *Matcher) Resource(res *otlpwire.Resource) bool {
	if len(m.services) > 0 {
		if v, ok := res.Attr(contract.AttrServiceName); ok {
			name := strings.ToLower(v.String())
			for _, p := range m.services {
				if p.match(name) {
					return true
				}
			}
		}
	}
	for _, a := range m.resAttrs {
		if v, ok := res.Attr(a.key); ok && v.String() == a.value {
			return true
		}
	}
	return false
}

// serverSpan reports whether sp, a SERVER span, is a gateway's, given
// whether its resource is (resMatch).
func (m *Matcher) serverSpan(resMatch bool, sp *otlpwire.Span) bool {
	if !resMatch && !slices.ContainsFunc(m.spanAttrs, func(a attrRule) bool {
		v, ok := sp.Attr(a.key)
		return ok && (a.anyValue || v.String() == a.value)
	}) {
		return false
	}
	v, ok := sp.Attr(attrUpstreamCluster)
	return !ok || !strings.HasPrefix(v.String(), "inbound|") // not an Istio sidecar's inbound span
}
