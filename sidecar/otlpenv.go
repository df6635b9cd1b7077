package sidecar

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hopscope/hopscope/internal/endpoint"
)

// exportSettings are the span exporter's settings: --otlp-endpoint and
// the OpenTelemetry SDK's environment variables (the OTLP exporter
// specification's OTEL_EXPORTER_OTLP_*), resolved once for both
// protocols, so that OTLP/HTTP (hopscope's own exporter, which reads no
// variable) and OTLP/gRPC (the SDK's, whose explicit options would
// override the variables it reads) honour the same ones.
type exportSettings struct {
	endpoint endpoint.OTLP
	// from names where the endpoint came from: the flag or a variable.
	from    string
	gzip    bool
	timeout time.Duration
	// rootCAs verify the endpoint's certificate instead of the system's
	// (OTEL_EXPORTER_OTLP_CERTIFICATE); nil: the system's.
	rootCAs *x509.CertPool
}

// getenv looks a variable up; os.LookupEnv outside tests.
type getenv func(string) (string, bool)

// otelVar returns the trace exporter's variable OTEL_EXPORTER_OTLP_TRACES_<name>,
// else OTEL_EXPORTER_OTLP_<name>, with the name of the one set ("" when
// neither is).
func otelVar(env getenv, name string) (value, from string) {
	for _, k := range []string{"OTEL_EXPORTER_OTLP_TRACES_" + name, "OTEL_EXPORTER_OTLP_" + name} {
		if v, ok := env(k); ok && strings.TrimSpace(v) != "" {
			return strings.TrimSpace(v), k
		}
	}
	return "", ""
}

// resolveExport reads the exporter's settings: the endpoint from flag
// (--otlp-endpoint) when set, else from OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
// or OTEL_EXPORTER_OTLP_ENDPOINT with the protocol of _TRACES_PROTOCOL or
// _PROTOCOL; the compression, timeout and CA certificate from _COMPRESSION,
// _TIMEOUT and _CERTIFICATE (the _TRACES_ variant first, each). ok is false
// when no endpoint is set: no export. An endpoint that cannot be used is
// an error naming its variable (as a bad --otlp-endpoint is); a bad
// compression, timeout or certificate is returned in warn, naming its
// variable, and left at its default: the app's traffic does not depend on
// telemetry.
func resolveExport(flag string, env getenv) (s exportSettings, ok bool, warn, err error) {
	s.timeout = exportTimeout
	if flag != "" {
		s.endpoint, err = endpoint.Parse(flag)
		if err != nil {
			return s, false, nil, fmt.Errorf("--otlp-endpoint: %w", err)
		}
		s.from = "--otlp-endpoint"
	} else {
		raw, from := otelVar(env, "ENDPOINT")
		if raw == "" {
			return s, false, nil, nil
		}
		proto, protoFrom := otelVar(env, "PROTOCOL")
		// Per signal, the URL is used as it is; the general one is a base
		// the signal's path is appended to.
		if s.endpoint, err = envEndpoint(raw, proto, protoFrom, from == "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"); err != nil {
			return s, false, nil, fmt.Errorf("%s: %w", from, err)
		}
		s.from = from
	}
	var warns []error
	switch v, from := otelVar(env, "COMPRESSION"); v {
	case "", "none":
	case "gzip":
		s.gzip = true
	default:
		warns = append(warns, fmt.Errorf("%s: %q is not gzip or none; not compressing", from, v))
	}
	if v, from := otelVar(env, "TIMEOUT"); v != "" {
		ms, err := strconv.ParseInt(v, 10, 64)
		if err != nil || ms <= 0 {
			warns = append(warns, fmt.Errorf("%s: %q is not a positive number of milliseconds; using %v", from, v, exportTimeout))
		} else {
			s.timeout = time.Duration(ms) * time.Millisecond
		}
	}
	if v, from := otelVar(env, "CERTIFICATE"); v != "" {
		pem, err := os.ReadFile(v)
		pool := x509.NewCertPool()
		switch {
		case err != nil:
			warns = append(warns, fmt.Errorf("%s: %w; verifying with the system's CAs", from, err))
		case !pool.AppendCertsFromPEM(pem):
			warns = append(warns, fmt.Errorf("%s: no PEM certificate in %s; verifying with the system's CAs", from, v))
		default:
			s.rootCAs = pool
		}
	}
	return s, true, errors.Join(warns...), nil
}

// envEndpoint reads an OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT URL for the
// protocol named by _PROTOCOL (http/protobuf when unset, as the
// specification's default). Over gRPC the URL's host is the target and
// https means TLS; over HTTP a per-signal URL is used as is (no path: /),
// a general one gets v1/traces appended to its path.
func envEndpoint(raw, proto, protoFrom string, perSignal bool) (endpoint.OTLP, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return endpoint.OTLP{}, err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return endpoint.OTLP{}, fmt.Errorf("want an http:// or https:// URL with a host, got %q", raw)
	}
	tls := u.Scheme == "https"
	switch proto {
	case "grpc":
		return endpoint.OTLP{GRPC: true, TLS: tls, Target: u.Host}, nil
	case "", "http/protobuf":
	default:
		return endpoint.OTLP{}, fmt.Errorf("%s is %q: the sidecar sends grpc or http/protobuf", protoFrom, proto)
	}
	if perSignal {
		if u.Path == "" {
			u.Path = "/"
		}
	} else {
		u.Path = strings.TrimSuffix(u.Path, "/") + "/v1/traces"
		u.RawPath = ""
	}
	return endpoint.OTLP{TLS: tls, Target: u.String()}, nil
}
