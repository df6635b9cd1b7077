package collector

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/hopscope/hopscope/collector/peers"
	"github.com/hopscope/hopscope/collector/relay"
	"github.com/hopscope/hopscope/internal/bearer"
	"github.com/hopscope/hopscope/internal/cliconfig"
)

// Validate checks every field and names the flag of each bad one.
func (c *Config) Validate() error {
	var errs []error
	bad := func(flag, format string, a ...any) {
		errs = append(errs, fmt.Errorf("--%s: %s", flag, fmt.Sprintf(format, a...)))
	}
	for _, l := range []struct {
		flag, addr string
		optional   bool
	}{{"otlp-grpc-listen", c.OTLPGRPCListen, true}, {"otlp-http-listen", c.OTLPHTTPListen, true},
		{"forward-listen", c.ForwardListen, true}, {"rum-listen", c.RUMListen, true}, {"http-listen", c.HTTPListen, false}} {
		if err := cliconfig.ListenAddr(l.flag, l.addr, l.optional); err != nil {
			errs = append(errs, err)
		}
	}
	for _, o := range c.RUMAllowedOrigins {
		if o == "*" {
			continue
		}
		if u, err := url.Parse(o); err != nil || u.Scheme == "" || u.Host == "" || u.Path != "" {
			bad("rum-allowed-origins", "%q is not an origin like https://shop.example.com", o)
		}
	}
	if c.RUMRatePerSecond <= 0 {
		bad("rum-rate", "must be positive")
	}
	if c.RUMBurst < 1 {
		bad("rum-burst", "must be at least 1")
	}
	if c.RUMTrustedHops < 1 {
		bad("rum-trusted-hops", "must be at least 1")
	}
	if !(c.RUMGlobalRatePerSecond >= 1) || math.IsInf(c.RUMGlobalRatePerSecond, 0) {
		bad("rum-global-rate", "must be a finite number of at least 1")
	}
	if err := c.gatewayConfig().Validate(); err != nil {
		errs = append(errs, err)
	}
	for _, t := range c.Tail {
		if _, err := ParseTail(t); err != nil {
			bad("tail", "%v", err)
		}
	}
	exportErrs := len(errs)
	switch c.ExportCompression {
	case "", "gzip", "none":
	default:
		bad("export-compression", "must be gzip or none, got %q", c.ExportCompression)
	}
	if _, err := bearer.ParseOTelHeaders(c.ExportHeaders); err != nil {
		bad("export-headers", "%v", err)
	}
	if c.ExportOTLPEndpoint != "" && len(errs) == exportErrs {
		// The endpoint, the CA file and the OpenTelemetry variables the
		// export reads; errors name the flag or the variable.
		if _, err := c.exportSettings(os.LookupEnv); err != nil {
			errs = append(errs, err)
		}
	}
	if c.ExportDelay < 0 {
		bad("export-delay", "must not be negative")
	}
	if c.Window <= 0 {
		bad("window", "must be positive")
	}
	if c.ExportDelay >= c.Window {
		bad("export-delay", "must be shorter than --window (%s)", c.Window)
	}
	if c.MaxTraces < 1 {
		bad("max-traces", "must be at least 1")
	}
	if c.MaxExportBufferMiB < 1 {
		bad("max-export-buffer-mib", "must be at least 1")
	}
	if c.JaegerUIURL != "" {
		if u, err := url.Parse(c.JaegerUIURL); err != nil || u.Host == "" {
			bad("jaeger-ui-url", "must be a URL, got %q", c.JaegerUIURL)
		}
	}
	if _, err := time.LoadLocation(c.HAProxyTimezone); err != nil {
		bad("haproxy-timezone", "%v", err)
	}
	if c.Peers != "" {
		if err := peers.DefaultConfig(c.Peers).Validate(); err != nil {
			bad("peers", "%v", err)
		}
	}
	if c.GatewayEndpoint != "" {
		rc := relay.DefaultConfig()
		rc.Endpoint = c.GatewayEndpoint
		if err := rc.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if c.GatewayTokenFile != "" {
		if c.GatewayEndpoint == "" {
			bad("gateway-token-file", "set without --gateway-endpoint")
		} else if _, err := bearer.Load(c.GatewayTokenFile); err != nil {
			bad("gateway-token-file", "%v", err)
		}
	}
	if c.AuthTokenFile != "" {
		if _, err := bearer.Load(c.AuthTokenFile); err != nil {
			bad("auth-token-file", "%v", err)
		} else if c.GatewayEndpoint != "" && hasCommentLine(c.AuthTokenFile) {
			// The gateway reads the same list with the Collector's
			// bearertokenauth, which takes every line's first word as a
			// token: a comment's "#" would be a valid token there.
			bad("auth-token-file", "has a comment line; with --gateway-endpoint the scale-out gateway reads the same list and would take its \"#\" as a token: remove the comments")
		}
	}
	if c.ALBS3URL != "" {
		if err := c.albS3Config().Validate(); err != nil {
			errs = append(errs, err)
		}
	} else if c.ALBSQSQueueURL != "" || c.ALBS3Endpoint != "" {
		bad("alb-s3-url", "must be set with --alb-sqs-queue-url or --alb-s3-endpoint")
	}
	if _, err := c.memoryLimiter(goMemLimit()); err != nil {
		errs = append(errs, err)
	}
	if c.KubeMetadata {
		if err := c.kubeConfig().Validate(); err != nil {
			errs = append(errs, err)
		}
	} else if c.IngressZone != "" {
		bad("ingress-zone", "needs --kube-metadata")
	}
	return errors.Join(errs...)
}

// hasCommentLine reports whether a token file has a line starting with
// "#" (unreadable: false; Load reports that).
func hasCommentLine(path string) bool {
	data, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			return true
		}
	}
	return false
}
