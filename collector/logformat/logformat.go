// Package logformat is the parse stage of the collector's log receivers
// (the file tailers, the ALB log directory, Fluent forward): it turns a
// log line of a known format, or of a format to be guessed, into a
// correlate record with the parsers of correlate's sub-packages.
package logformat

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hopscope/hopscope/correlate"
	"github.com/hopscope/hopscope/correlate/alb"
	"github.com/hopscope/hopscope/correlate/envoy"
	"github.com/hopscope/hopscope/correlate/haproxy"
	"github.com/hopscope/hopscope/correlate/ingressnginx"
	"github.com/hopscope/hopscope/correlate/traefik"
)

// Log formats (--tail format:path).
const (
	IngressNginx     = "ingress-nginx"
	IngressNginxJSON = "ingress-nginx-json"
	HAProxy          = "haproxy"
	ALB              = "alb"
	// Envoy is Envoy's default access-log format (Envoy Gateway, Istio,
	// Contour, plain Envoy), EnvoyJSON a json_format line with Envoy
	// Gateway's or Istio's keys, TraefikJSON Traefik's JSON access log.
	// They play the ingress hop, as ingress-nginx's lines do.
	Envoy       = "envoy"
	EnvoyJSON   = "envoy-json"
	TraefikJSON = "traefik-json"
)

// Formats are the known formats, in the order --tail's help lists them.
var Formats = []string{IngressNginx, IngressNginxJSON, HAProxy, ALB, Envoy, EnvoyJSON, TraefikJSON}

// Sources are the collector's source labels of the formats' receivers.
const (
	SourceIngress = "ingress"
	SourceHAProxy = "haproxy"
	SourceALB     = "alb"
)

// Source is the source label lines of format are received under.
func Source(format string) string {
	switch format {
	case ALB:
		return SourceALB
	case HAProxy:
		return SourceHAProxy
	default:
		return SourceIngress
	}
}

// Parser turns a log line of a known format into a record.
type Parser struct {
	// HAProxyLoc is the time zone of HAProxy's local timestamps.
	HAProxyLoc *time.Location
}

// Parse reads line as format.
func (p Parser) Parse(format, line string) (correlate.Record, error) {
	switch format {
	case IngressNginx:
		r, err := ingressnginx.ParseText(line)
		return &r, err
	case IngressNginxJSON:
		r, err := ingressnginx.ParseJSON(line)
		return &r, err
	case HAProxy:
		loc := p.HAProxyLoc
		if loc == nil {
			loc = time.UTC
		}
		r, err := haproxy.Parse(line, loc)
		return &r, err
	case ALB:
		r, err := alb.Parse(line)
		return &r, err
	case Envoy:
		r, err := envoy.ParseText(line)
		return &r, err
	case EnvoyJSON:
		r, err := envoy.ParseJSON(line)
		return &r, err
	case TraefikJSON:
		r, err := traefik.ParseJSON(line)
		return &r, err
	}
	return nil, fmt.Errorf("unknown format %q", format)
}

// Sniff guesses the format of a line that came without one (Fluent Bit's
// tail input forwards raw lines under "log"); hint (a forward tag) names
// the format to try first when it contains "alb", "haproxy", "ingress",
// "envoy" or "traefik".
func (p Parser) Sniff(line, hint string) (correlate.Record, string, error) {
	order := []string{IngressNginxJSON, IngressNginx, HAProxy, ALB, Envoy}
	if strings.HasPrefix(strings.TrimSpace(line), "{") {
		order = []string{IngressNginxJSON, EnvoyJSON, TraefikJSON}
	}
	for _, f := range []string{ALB, HAProxy, IngressNginx, Envoy, TraefikJSON} {
		if strings.Contains(hint, strings.Split(f, "-")[0]) {
			order = append([]string{f}, order...)
			break
		}
	}
	var errs []error
	for _, f := range order {
		rec, err := p.Parse(f, line)
		if err == nil {
			return rec, f, nil
		}
		errs = append(errs, err)
	}
	return nil, "", errors.Join(errs...)
}
