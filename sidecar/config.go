package sidecar

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hopscope/hopscope/internal/cliconfig"
	"github.com/hopscope/hopscope/internal/endpoint"
	"github.com/hopscope/hopscope/sidecar/accesslog"
	"github.com/hopscope/hopscope/sidecar/backend"
	"github.com/hopscope/hopscope/sidecar/propagation"
)

// Config is the sidecar's configuration. Every field is a flag of
// `hopscope sidecar`, an environment variable HOPSCOPE_<FLAG> and a key of the
// --config YAML file, all of the same name.
type Config struct {
	// Listen is the inbound address the Service's traffic reaches (--listen).
	Listen string
	// Upstream is the app's base URL on localhost (--upstream).
	Upstream string
	// UpstreamTimeout bounds the wait for the app's response headers; past it
	// the client gets a 504 (--upstream-timeout). 0 disables it.
	UpstreamTimeout time.Duration
	// UpstreamProtocol selects how the sidecar talks to the app: "auto" speaks
	// h2c to the app for gRPC arriving over HTTP/2 and HTTP/1.1 otherwise,
	// "http1" always HTTP/1.1, "h2c" always HTTP/2 cleartext
	// (--upstream-protocol).
	UpstreamProtocol string
	// MaxIdleConnsPerHost is the size of the keep-alive pool to the app
	// (--upstream-max-idle-conns).
	MaxIdleConnsPerHost int
	// AdminListen serves /metrics, /healthz and /readyz (--admin-listen).
	AdminListen string
	// Service names this workload in spans, logs and metrics (--service).
	// Defaults to OTEL_SERVICE_NAME, then HOPSCOPE_POD_APP_LABEL (the pod's
	// app label, set by the injector through the downward API), else "unknown".
	Service string
	// OTLPEndpoint is where spans go: http(s)://host:4318 for OTLP/HTTP,
	// grpc://host:4317 (or grpcs://) for OTLP/gRPC (--otlp-endpoint).
	// Empty: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or
	// OTEL_EXPORTER_OTLP_ENDPOINT (otlpenv.go), else no export.
	OTLPEndpoint string
	// TracesSampler is the head sampler of the spans the sidecar records,
	// as OTEL_TRACES_SAMPLER names it: always_on, always_off,
	// traceidratio, parentbased_always_on, parentbased_always_off or
	// parentbased_traceidratio (--traces-sampler). Empty:
	// OTEL_TRACES_SAMPLER, else parentbased_always_on. Metrics and access
	// logs stay complete whatever it samples (sampling.go).
	TracesSampler string
	// TracesSamplerArg is the sampling probability of the ratio samplers,
	// a number from 0 to 1 (--traces-sampler-arg). Empty:
	// OTEL_TRACES_SAMPLER_ARG, else 1.
	TracesSamplerArg string
	// SpanQueueSize bounds the spans waiting for export; when full, spans are
	// dropped and counted (--span-queue-size).
	SpanQueueSize int
	// SpanQueueBytes bounds the memory of those spans and of the batch
	// being exported: each is counted at an upper bound of what it holds,
	// 2 KiB plus the bytes of its name and attributes (about 2.3 KiB for a
	// typical server span); a span that would take the total past it is
	// dropped and counted (--span-queue-bytes).
	SpanQueueBytes int
	// FluentAddress is host:port of a Fluent Bit forward input; empty
	// disables log shipping (--fluent-address).
	FluentAddress string
	// FluentTag is the tag of shipped access-log records (--fluent-tag).
	FluentTag string
	// FluentBufferLimit bounds the records queued for Fluent Bit
	// (--fluent-buffer-limit).
	FluentBufferLimit int
	// FluentBufferBytes bounds the memory of those records, encoded,
	// queued or awaiting Fluent Bit's acknowledgement
	// (--fluent-buffer-bytes).
	FluentBufferBytes int
	// Propagators are the trace header formats read and written
	// (--propagators): tracecontext, baggage, b3, b3multi, jaeger, xray.
	Propagators []string
	// TimingAllowOrigin is sent as Timing-Allow-Origin so browsers expose
	// Server-Timing cross-origin; empty sends nothing (--timing-allow-origin).
	TimingAllowOrigin string
	// DrainTimeout bounds how long in-flight requests may finish after
	// SIGTERM (--drain-timeout).
	DrainTimeout time.Duration
	// ShutdownGrace is how long the listener keeps accepting after SIGTERM
	// while /readyz already fails, so endpoints can be removed first
	// (--shutdown-grace).
	ShutdownGrace time.Duration
	// AccessLog is "stdout" (one JSON line per request) or "off"
	// (--access-log).
	AccessLog string
	// Routes are route templates such as /orders/{id}, matched before the
	// built-in heuristic (--routes; a YAML list in the file).
	Routes []string
	// MaxRoutes caps the distinct route label values; later routes are
	// counted as "other" (--max-routes).
	MaxRoutes int
	// RedactQueryParams are query parameters whose values never appear in
	// logs or spans (--redact-query-params).
	RedactQueryParams []string
	// MaxHeaderBytes limits the inbound request header size
	// (--max-header-bytes).
	MaxHeaderBytes int
	// ReadHeaderTimeout limits how long a client may take to send its
	// request headers, against slowloris (--read-header-timeout).
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes idle inbound keep-alive connections
	// (--idle-timeout).
	IdleTimeout time.Duration
	// RequestBodyTimeout bounds the wait for each read of an HTTP/1.x
	// request body, as nginx's client_body_timeout does: between two
	// successive reads, not for the whole body, so a long upload that keeps
	// coming is never cut. When no byte arrives for this long the request
	// to the app is cancelled (its connection released), the client gets
	// 408 request_body_timeout, or its connection is closed when the
	// response had begun, and the request is counted in
	// hopscope_requests_rejected_total{reason="request_body_timeout"}.
	// HTTP/2 streams are not bounded (flow control bounds what a stream
	// holds, and a gRPC client stream may be idle by design). 0 disables it
	// (--request-body-timeout).
	RequestBodyTimeout time.Duration
	// GCPercent is the Go garbage collector's target, applied by the
	// command at start unless the GOGC variable is set (--gc-percent). The
	// default is Go's own 100: a sidecar's memory is paid in every pod, and
	// 400 costs about 10 MiB more RSS at any request rate for about 12%
	// more requests per CPU-second at saturation (bench/README.md); the
	// memory limit (MemoryLimit, or GOMEMLIMIT) caps the heap either way.
	GCPercent int
	// ReleaseStartupPages: once serving, the command asks the kernel to
	// take back the pages of its own executable that start-up touched
	// (madvise MADV_PAGEOUT on Linux; clean file pages, faulted back from
	// the page cache as serving needs them), which were most of the idle
	// RSS (--release-startup-pages).
	ReleaseStartupPages bool
	// MemoryLimit is the container's memory limit in bytes (the chart
	// sets it from limits.memory through the downward API). The command
	// sets the Go runtime's soft memory limit to GoMemoryLimit, the limit
	// less MemoryLimitReserve, unless the GOMEMLIMIT variable is set: with
	// a large GCPercent the heap would otherwise grow to many times the
	// live data, past the container's limit while the telemetry queues
	// are full. 0 sets none (--memory-limit).
	MemoryLimit int64
	// Backends are the backend protocol proxies the app is pointed at
	// instead of its backends (YAML key `backends:` of the --config file
	// only: a list of objects, see package backend).
	Backends []backend.Config
	// EgressListen is the forward proxy for apps that honour HTTP_PROXY and
	// HTTPS_PROXY; loopback only; empty = off (--egress-listen).
	EgressListen string
	// TraceIDFromRequestID makes a request that carries no trace context
	// but an X-Request-ID of 32 lower-case hex digits (ingress-nginx's
	// $request_id) start its trace with that id, so that the ingress line,
	// which knows only the request id, and the trace agree on one id: what
	// a scaled-out collector routes the line by (docs/scaling.md)
	// (--trace-id-from-request-id).
	TraceIDFromRequestID bool
}

// Structured returns the YAML keys of the --config file that are not
// flags, and where each is decoded to.
func (c *Config) Structured() map[string]any {
	return map[string]any{"backends": &c.Backends}
}

// defaultRedactQueryParams are the query parameters whose values are
// redacted unless --redact-query-params says otherwise: tokens, keys,
// passwords, session ids and the signatures and credentials of AWS and GCS
// presigned URLs.
var defaultRedactQueryParams = []string{"token", "access_token", "id_token", "refresh_token", "private_token", "jwt", "auth",
	"api_key", "apikey", "key", "password", "passwd", "pwd", "secret", "client_secret", "session_id", "sessionid",
	"signature", "sig", "code", "X-Amz-Signature", "X-Amz-Credential", "X-Amz-Security-Token", "X-Goog-Signature", "X-Goog-Credential"}

// Bounds checked by Validate, and what of MemoryLimit the Go runtime's soft
// limit leaves for the memory it does not count.
const (
	// MinSpanQueueBytes is the smallest SpanQueueBytes accepted.
	MinSpanQueueBytes = 64 << 10
	// MinMemoryLimit is the smallest non-zero MemoryLimit accepted: it
	// leaves the Go runtime 24 MiB.
	MinMemoryLimit = 64 << 20
	// MemoryLimitReserve is the part of MemoryLimit kept out of the Go
	// runtime's soft limit: the binary's code, mapped from its file and
	// charged to the container like any other page (31–36 MiB resident,
	// measured with bench/outage), the kernel's socket buffers, which are
	// charged to it too, and slack. At the chart's 128Mi the runtime gets
	// 88 MiB (69%).
	MemoryLimitReserve = 40 << 20
)

// GoMemoryLimit is the Go runtime's soft memory limit for MemoryLimit: the
// limit less MemoryLimitReserve; 0 when MemoryLimit is 0.
func (c *Config) GoMemoryLimit() int64 {
	if c.MemoryLimit <= 0 {
		return 0
	}
	return c.MemoryLimit - MemoryLimitReserve
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		Listen:              ":15080",
		Upstream:            "http://127.0.0.1:8080",
		UpstreamTimeout:     60 * time.Second,
		UpstreamProtocol:    "auto",
		MaxIdleConnsPerHost: 256,
		AdminListen:         ":15090",
		Service:             defaultService(os.LookupEnv),
		SpanQueueSize:       8192,
		SpanQueueBytes:      20 << 20,
		FluentTag:           "hopscope.access",
		FluentBufferLimit:   8192,
		FluentBufferBytes:   accesslog.DefaultFluentBufferBytes,
		Propagators:         []string{"tracecontext", "baggage", "b3", "jaeger", "xray"},
		DrainTimeout:        20 * time.Second,
		ShutdownGrace:       3 * time.Second,
		AccessLog:           "stdout",
		MaxRoutes:           200,
		RedactQueryParams:   slices.Clone(defaultRedactQueryParams),
		MaxHeaderBytes:      64 << 10,
		ReadHeaderTimeout:   10 * time.Second,
		IdleTimeout:         120 * time.Second,
		RequestBodyTimeout:  60 * time.Second,
		GCPercent:           100,
		ReleaseStartupPages: true,
	}
}

func defaultService(lookup func(string) (string, bool)) string {
	for _, k := range []string{"OTEL_SERVICE_NAME", "HOPSCOPE_POD_APP_LABEL"} {
		if v, ok := lookup(k); ok && strings.TrimSpace(v) != "" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// RegisterFlags binds every field to a flag of fs.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Listen, "listen", c.Listen, "inbound listen address")
	fs.StringVar(&c.Upstream, "upstream", c.Upstream, "the app's base URL")
	fs.DurationVar(&c.UpstreamTimeout, "upstream-timeout", c.UpstreamTimeout, "max wait for the app's response headers before 504 (0 = none)")
	fs.StringVar(&c.UpstreamProtocol, "upstream-protocol", c.UpstreamProtocol, "auto, http1 or h2c")
	fs.IntVar(&c.MaxIdleConnsPerHost, "upstream-max-idle-conns", c.MaxIdleConnsPerHost, "keep-alive connections kept to the app")
	fs.StringVar(&c.AdminListen, "admin-listen", c.AdminListen, "admin address: /metrics, /healthz, /readyz")
	fs.StringVar(&c.Service, "service", c.Service, "service name in spans, logs and metrics")
	fs.StringVar(&c.OTLPEndpoint, "otlp-endpoint", c.OTLPEndpoint, "OTLP endpoint: http(s)://host:4318 or grpc://host:4317; empty = OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT, else no spans")
	fs.StringVar(&c.TracesSampler, "traces-sampler", c.TracesSampler, "head sampler: always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio; empty = OTEL_TRACES_SAMPLER, else parentbased_always_on")
	fs.StringVar(&c.TracesSamplerArg, "traces-sampler-arg", c.TracesSamplerArg, "sampling probability of the ratio samplers, 0 to 1; empty = OTEL_TRACES_SAMPLER_ARG, else 1")
	fs.IntVar(&c.SpanQueueSize, "span-queue-size", c.SpanQueueSize, "spans queued for export before dropping")
	fs.IntVar(&c.SpanQueueBytes, "span-queue-bytes", c.SpanQueueBytes, "bytes of spans queued or in export before dropping (2 KiB + strings per span)")
	fs.StringVar(&c.FluentAddress, "fluent-address", c.FluentAddress, "Fluent Bit forward input host:port; empty = off")
	fs.StringVar(&c.FluentTag, "fluent-tag", c.FluentTag, "tag of shipped access-log records")
	fs.IntVar(&c.FluentBufferLimit, "fluent-buffer-limit", c.FluentBufferLimit, "records queued for Fluent Bit before dropping")
	fs.IntVar(&c.FluentBufferBytes, "fluent-buffer-bytes", c.FluentBufferBytes, "bytes of records queued for Fluent Bit before dropping")
	fs.Var(cliconfig.NewStringList(&c.Propagators), "propagators", "trace header formats: tracecontext,baggage,b3,b3multi,jaeger,xray")
	fs.StringVar(&c.TimingAllowOrigin, "timing-allow-origin", c.TimingAllowOrigin, "Timing-Allow-Origin value; empty = not sent")
	fs.DurationVar(&c.DrainTimeout, "drain-timeout", c.DrainTimeout, "max time for in-flight requests after SIGTERM")
	fs.DurationVar(&c.ShutdownGrace, "shutdown-grace", c.ShutdownGrace, "time /readyz fails before the listener closes")
	fs.StringVar(&c.AccessLog, "access-log", c.AccessLog, "stdout or off")
	fs.Var(cliconfig.NewStringList(&c.Routes), "routes", "route templates such as /orders/{id}")
	fs.IntVar(&c.MaxRoutes, "max-routes", c.MaxRoutes, "distinct route label values before \"other\"")
	fs.Var(cliconfig.NewStringList(&c.RedactQueryParams), "redact-query-params", "query parameters whose values are redacted")
	fs.IntVar(&c.MaxHeaderBytes, "max-header-bytes", c.MaxHeaderBytes, "max inbound request header bytes")
	fs.DurationVar(&c.ReadHeaderTimeout, "read-header-timeout", c.ReadHeaderTimeout, "max time to read request headers")
	fs.DurationVar(&c.IdleTimeout, "idle-timeout", c.IdleTimeout, "idle keep-alive timeout for inbound connections")
	fs.DurationVar(&c.RequestBodyTimeout, "request-body-timeout", c.RequestBodyTimeout, "max wait between two reads of an HTTP/1.x request body, then 408 (0 = none)")
	fs.IntVar(&c.GCPercent, "gc-percent", c.GCPercent, "Go GC target percent (GOGC, when set, wins)")
	fs.BoolVar(&c.ReleaseStartupPages, "release-startup-pages", c.ReleaseStartupPages, "once serving, give the kernel back the executable's pages only start-up used (Linux)")
	fs.Int64Var(&c.MemoryLimit, "memory-limit", c.MemoryLimit, "container memory limit in bytes: the Go runtime is held to it less 40 MiB (GOMEMLIMIT, when set, wins); 0 = none")
	fs.StringVar(&c.EgressListen, "egress-listen", c.EgressListen, "forward proxy address for HTTP_PROXY/HTTPS_PROXY (loopback; empty = off)")
	fs.BoolVar(&c.TraceIDFromRequestID, "trace-id-from-request-id", c.TraceIDFromRequestID, "a request without trace context whose X-Request-ID is 32 lower-case hex digits starts its trace with that id")
}

// Validate checks every field and names the flag of each bad one.
func (c *Config) Validate() error {
	var errs []error
	bad := func(flag, format string, a ...any) {
		errs = append(errs, fmt.Errorf("--%s: %s", flag, fmt.Sprintf(format, a...)))
	}
	for _, l := range [][2]string{{"listen", c.Listen}, {"admin-listen", c.AdminListen}} {
		if err := cliconfig.ListenAddr(l[0], l[1], false); err != nil {
			errs = append(errs, err)
		}
	}
	if u, err := url.Parse(c.Upstream); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		bad("upstream", "must be an http:// or https:// URL with a host, got %q", c.Upstream)
	} else if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			bad("upstream", "port %q is not a number from 1 to 65535, got %q", p, c.Upstream)
		}
	}
	if c.UpstreamTimeout < 0 {
		bad("upstream-timeout", "must not be negative")
	}
	switch c.UpstreamProtocol {
	case "auto", "http1", "h2c":
	default:
		bad("upstream-protocol", "must be auto, http1 or h2c, got %q", c.UpstreamProtocol)
	}
	if c.MaxIdleConnsPerHost < 1 {
		bad("upstream-max-idle-conns", "must be at least 1")
	}
	if strings.TrimSpace(c.Service) == "" {
		bad("service", "must not be empty")
	}
	if c.OTLPEndpoint != "" {
		if _, err := endpoint.Parse(c.OTLPEndpoint); err != nil {
			bad("otlp-endpoint", "%v", err)
		}
	}
	if v := strings.TrimSpace(c.TracesSampler); v != "" {
		if err := checkSamplerName(strings.ToLower(v)); err != nil {
			bad("traces-sampler", "%v", err)
		}
	}
	if v := strings.TrimSpace(c.TracesSamplerArg); v != "" {
		if _, err := parseSamplerArg(v); err != nil {
			bad("traces-sampler-arg", "%v", err)
		}
	}
	if c.SpanQueueSize < 1 {
		bad("span-queue-size", "must be at least 1")
	}
	if c.SpanQueueBytes < MinSpanQueueBytes {
		bad("span-queue-bytes", "must be at least %d, got %d", MinSpanQueueBytes, c.SpanQueueBytes)
	}
	// The same checks as accesslog.New's, here so that a bad value is a
	// usage error naming the flag.
	if c.FluentAddress != "" {
		if err := accesslog.ValidateFluentAddress(c.FluentAddress); err != nil {
			bad("fluent-address", "%v", err)
		}
	}
	if c.FluentTag == "" {
		bad("fluent-tag", "must not be empty")
	} else if err := accesslog.ValidateFluentTag(c.FluentTag); err != nil {
		bad("fluent-tag", "%v", err)
	}
	if c.FluentBufferLimit < 1 {
		bad("fluent-buffer-limit", "must be at least 1")
	}
	if c.FluentBufferBytes < accesslog.MinFluentBufferBytes {
		bad("fluent-buffer-bytes", "must be at least %d, got %d", accesslog.MinFluentBufferBytes, c.FluentBufferBytes)
	}
	if _, err := propagation.New(c.Propagators); err != nil {
		bad("propagators", "%v", err)
	} else if !slices.Contains(c.Propagators, propagation.NameTraceContext) {
		bad("propagators", "must include tracecontext: the app always gets a traceparent")
	}
	if c.DrainTimeout < 0 {
		bad("drain-timeout", "must not be negative")
	}
	if c.ShutdownGrace < 0 {
		bad("shutdown-grace", "must not be negative")
	}
	switch c.AccessLog {
	case "stdout", "off":
	default:
		bad("access-log", "must be stdout or off, got %q", c.AccessLog)
	}
	for _, r := range c.Routes {
		if !strings.HasPrefix(r, "/") {
			bad("routes", "route template %q must start with /", r)
		}
	}
	if c.MaxRoutes < 1 {
		bad("max-routes", "must be at least 1")
	}
	if c.MaxHeaderBytes < 1024 {
		bad("max-header-bytes", "must be at least 1024")
	}
	if c.ReadHeaderTimeout <= 0 {
		bad("read-header-timeout", "must be positive")
	}
	if c.IdleTimeout < 0 {
		bad("idle-timeout", "must not be negative")
	}
	if c.RequestBodyTimeout < 0 {
		bad("request-body-timeout", "must not be negative")
	}
	if c.EgressListen != "" {
		if host, _, err := net.SplitHostPort(c.EgressListen); err != nil {
			bad("egress-listen", "must be host:port: %v", err)
		} else if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			bad("egress-listen", "must be a loopback address: only the pod's own app may use the forward proxy, got %q", c.EgressListen)
		}
	}
	if err := backend.ValidateAll(c.Backends); err != nil {
		errs = append(errs, err)
	}
	if c.GCPercent < 25 || c.GCPercent > 10000 {
		bad("gc-percent", "must be between 25 and 10000, got %d", c.GCPercent)
	}
	if c.MemoryLimit != 0 && c.MemoryLimit < MinMemoryLimit {
		bad("memory-limit", "must be 0 (none) or at least %d bytes (64 MiB), got %d", int64(MinMemoryLimit), c.MemoryLimit)
	}
	return errors.Join(errs...)
}
