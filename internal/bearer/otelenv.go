package bearer

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
)

// ParseOTelHeaders parses a header list in the OpenTelemetry environment
// format (OTEL_EXPORTER_OTLP_HEADERS): comma-separated key=value pairs,
// the values percent-encoded, as the OpenTelemetry specification and
// W3C Baggage write them ("authorization=Bearer%20abc,x-tenant=shop").
// Keys must be HTTP field names.
func ParseOTelHeaders(s string) (http.Header, error) {
	h := http.Header{}
	for n, pair := range strings.Split(s, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		k, v, ok := strings.Cut(pair, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("entry %d: want key=value", n+1)
		}
		if !validFieldName(k) {
			return nil, fmt.Errorf("entry %d: %q is not a header name", n+1, k)
		}
		dv, err := url.PathUnescape(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("entry %d (%s): %w", n+1, k, err)
		}
		if strings.ContainsAny(dv, "\r\n\x00") {
			return nil, fmt.Errorf("entry %d (%s): a value holds no line break", n+1, k)
		}
		h.Add(k, dv)
	}
	return h, nil
}

// TracesHeadersFromEnv returns the OTLP trace exporter's headers from
// OTEL_EXPORTER_OTLP_HEADERS, overridden key by key by
// OTEL_EXPORTER_OTLP_TRACES_HEADERS, as the specification says; errors
// name the variable.
func TracesHeadersFromEnv() (http.Header, error) {
	h := http.Header{}
	for _, name := range []string{"OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"} {
		v, ok := os.LookupEnv(name)
		if !ok {
			continue
		}
		hh, err := ParseOTelHeaders(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		for k, vs := range hh {
			h[k] = vs
		}
	}
	return h, nil
}

// validFieldName: RFC 9110's token characters.
func validFieldName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return s != ""
}
