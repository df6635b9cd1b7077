// Package endpoint parses the OTLP endpoint URLs that the sidecar's
// --otlp-endpoint and the collector's --export-otlp-endpoint accept:
// http(s)://host:4318[/path] for OTLP/HTTP and grpc(s)://host:4317 for
// OTLP/gRPC.
package endpoint

import (
	"fmt"
	"net/url"
	"strings"
)

// OTLP is a parsed OTLP endpoint.
type OTLP struct {
	// GRPC is true for grpc:// and grpcs://.
	GRPC bool
	// TLS is true for https:// and grpcs://.
	TLS bool
	// Target is the full URL for OTLP/HTTP (with /v1/traces added to a
	// bare host) and host:port for gRPC.
	Target string
}

// Parse parses s.
func Parse(s string) (OTLP, error) {
	u, err := url.Parse(s)
	if err != nil {
		return OTLP{}, err
	}
	if u.Host == "" {
		return OTLP{}, fmt.Errorf("want http(s)://host:4318 or grpc://host:4317, got %q", s)
	}
	switch u.Scheme {
	case "http", "https":
		if u.Path == "" || u.Path == "/" {
			s = strings.TrimRight(s, "/") + "/v1/traces"
		}
		return OTLP{TLS: u.Scheme == "https", Target: s}, nil
	case "grpc", "grpcs":
		return OTLP{GRPC: true, TLS: u.Scheme == "grpcs", Target: u.Host}, nil
	}
	return OTLP{}, fmt.Errorf("unknown scheme %q: want http, https, grpc or grpcs", u.Scheme)
}
