package gateway

import (
	"errors"
	"fmt"
	"strings"
)

// Config says which spans are a gateway's. Every field is a flag of
// `hopscope collector` and a key of its --config YAML of the same name.
type Config struct {
	// Services are service.name values (the resource attribute) of
	// gateways; a leading or trailing "*" matches anything there; case is
	// ignored (--gateway-services).
	Services []string
	// ResourceAttributes are KEY=VALUE resource attributes that mark a
	// gateway's resource (--gateway-resource-attributes).
	ResourceAttributes []string
	// SpanAttributes are KEY or KEY=VALUE span attributes that mark a
	// server span as a gateway's, present or with that value
	// (--gateway-span-attributes).
	SpanAttributes []string
}

// DefaultConfig recognises the gateways of the package documentation:
// Envoy (unknown_service:envoy when unnamed, envoy*, Istio's
// *ingressgateway*, and any span with upstream_cluster), Traefik
// (traefik*, and any span with entry_point), NGINX Gateway Fabric (ngf:*)
// and nginx's otel module (unknown_service:nginx, nginx*), and Caddy
// (unknown_service:caddy when unnamed, as its tracing directive exports
// without OTEL_SERVICE_NAME, and caddy*).
func DefaultConfig() Config {
	return Config{
		Services: []string{
			"unknown_service:envoy", "envoy*", "*ingressgateway*",
			"traefik*", "ngf:*", "unknown_service:nginx", "nginx*", "unknown_service:caddy", "caddy*",
		},
		SpanAttributes: []string{"upstream_cluster", "entry_point"},
	}
}

// Validate checks every value and names the flag of a bad one.
func (c Config) Validate() error {
	var errs []error
	for _, s := range c.Services {
		if strings.TrimSpace(s) == "" || strings.Trim(s, "*") == "" {
			errs = append(errs, fmt.Errorf("--gateway-services: %q matches nothing or everything", s))
		}
	}
	for _, a := range c.ResourceAttributes {
		if k, _, ok := strings.Cut(a, "="); !ok || k == "" {
			errs = append(errs, fmt.Errorf("--gateway-resource-attributes: %q is not KEY=VALUE", a))
		}
	}
	for _, a := range c.SpanAttributes {
		if k, _, _ := strings.Cut(a, "="); k == "" {
			errs = append(errs, fmt.Errorf("--gateway-span-attributes: %q has no KEY", a))
		}
	}
	return errors.Join(errs...)
}
