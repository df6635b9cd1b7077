package collector

import (
	"flag"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hopscope/hopscope/collector/albs3"
	"github.com/hopscope/hopscope/collector/gateway"
	"github.com/hopscope/hopscope/collector/k8smeta"
	"github.com/hopscope/hopscope/collector/logformat"
	"github.com/hopscope/hopscope/internal/cliconfig"
)

// Config is the collector's configuration. Every field is a flag of
// `hopscope collector`, an environment variable HOPSCOPE_<FLAG> and a key of
// the --config YAML file, all of the same name.
type Config struct {
	// OTLPGRPCListen receives OTLP/gRPC spans (--otlp-grpc-listen; empty = off).
	OTLPGRPCListen string
	// OTLPHTTPListen receives OTLP/HTTP spans, protobuf and JSON
	// (--otlp-http-listen; empty = off).
	OTLPHTTPListen string
	// ForwardListen receives Fluent forward traffic: ingress-nginx lines
	// and sidecar access logs from Fluent Bit (--forward-listen; empty = off).
	ForwardListen string
	// HTTPListen serves the internal API, UI, /metrics and /healthz
	// (--http-listen).
	HTTPListen string
	// RUMListen serves the public browser endpoint: /rum.js and /v1/rum
	// (--rum-listen; empty = off). Kept apart from HTTPListen on purpose.
	// It stays off, with a warning, until RUMAllowedOrigins names a page
	// origin.
	RUMListen string
	// RUMAllowedOrigins are the page origins allowed to send beacons
	// (--rum-allowed-origins; "*" allows any).
	RUMAllowedOrigins []string
	// RUMRatePerSecond and RUMBurst bound beacons per client IP
	// (--rum-rate, --rum-burst).
	RUMRatePerSecond float64
	RUMBurst         int
	// RUMTrustForwardedFor takes the client IP for rate limiting from
	// X-Forwarded-For: the RUMTrustedHops-th address from the right, the
	// one the outermost trusted proxy appended. Set it when the endpoint
	// is reached through an ingress (--rum-trust-forwarded-for,
	// --rum-trusted-hops).
	RUMTrustForwardedFor bool
	RUMTrustedHops       int
	// RUMGlobalRatePerSecond caps the beacons of all clients together
	// (--rum-global-rate).
	RUMGlobalRatePerSecond float64
	// ALBLogs is a directory of ALB access-log files as ALB writes them to
	// S3, plain or .gz; each file is read once (--alb-logs; empty = off).
	ALBLogs string
	// ALBS3URL is s3://bucket/prefix of ALB access-log objects in S3, each
	// read once (--alb-s3-url; empty = off; package collector/albs3,
	// credentials from the AWS default chain, IRSA on EKS).
	ALBS3URL string
	// ALBS3Region is the bucket's region (--alb-s3-region; empty = from
	// AWS_REGION or the shared config).
	ALBS3Region string
	// ALBS3Endpoint is an S3-compatible server's URL used instead of AWS
	// (--alb-s3-endpoint; empty = AWS).
	ALBS3Endpoint string
	// ALBS3PathStyle addresses the bucket in the URL path, as most
	// S3-compatible servers need (--alb-s3-path-style).
	ALBS3PathStyle bool
	// ALBS3PollInterval is the time between two listings of the prefix
	// (--alb-s3-poll-interval).
	ALBS3PollInterval time.Duration
	// ALBS3Lookback is how long after its day an ALB object may still
	// appear in its day directory; older days are listed no more
	// (--alb-s3-lookback, at least 24h).
	ALBS3Lookback time.Duration
	// ALBSQSQueueURL is an SQS queue receiving the bucket's S3 event
	// notifications: objects are read as they are announced instead of
	// by polling the listing (--alb-sqs-queue-url; empty = poll).
	ALBSQSQueueURL string
	// StateDir keeps progress (ALB files read, tail offsets) across
	// restarts (--state-dir; empty = in memory only).
	StateDir string
	// GatewayServices, GatewayResourceAttributes and GatewaySpanAttributes
	// say which OTLP server spans are an ingress's or gateway's, which then
	// play the ingress hop (package collector/gateway; docs/gateways.md):
	// service.name values with "*" at either end, KEY=VALUE resource
	// attributes, KEY or KEY=VALUE span attributes
	// (--gateway-services, --gateway-resource-attributes,
	// --gateway-span-attributes). Empty lists recognise no gateway.
	GatewayServices           []string
	GatewayResourceAttributes []string
	GatewaySpanAttributes     []string
	// Tail follows growing log files: FORMAT:PATH with FORMAT one of
	// ingress-nginx, ingress-nginx-json, haproxy, alb, envoy, envoy-json,
	// traefik-json (--tail, repeatable).
	Tail []string
	// ExportOTLPEndpoint receives every span plus the synthesized ones
	// (Jaeger or any OTLP backend): http(s)://host:4318 or grpc://host:4317
	// (--export-otlp-endpoint; empty = no export).
	ExportOTLPEndpoint string
	// ExportHeaders are sent with every export request, as HTTP headers or
	// gRPC metadata (a backend's token, a tenant): key=value pairs
	// separated by commas, values percent-encoded, as in
	// OTEL_EXPORTER_OTLP_HEADERS (--export-headers; "authorization=Bearer%20abc").
	// They override, key by key, OTEL_EXPORTER_OTLP_HEADERS and
	// OTEL_EXPORTER_OTLP_TRACES_HEADERS, which are sent too.
	ExportHeaders string
	// ExportCompression compresses export requests: gzip or none
	// (--export-compression; empty: OTEL_EXPORTER_OTLP_TRACES_COMPRESSION,
	// else OTEL_EXPORTER_OTLP_COMPRESSION, else none).
	ExportCompression string
	// ExportCAFile is a PEM file of the CA that signed the export
	// endpoint's certificate (https:// or grpcs://), verified against it
	// instead of the system's CAs (--export-ca-file; empty:
	// OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE, else
	// OTEL_EXPORTER_OTLP_CERTIFICATE, else the system's).
	ExportCAFile string
	// ExportDelay is how long a trace's spans wait for the trace's other
	// records before they are exported and its hops observed
	// (--export-delay).
	ExportDelay time.Duration
	// Window keeps a trace this long after its last record, so late data
	// (ALB logs arrive every 5 minutes) still joins it (--window).
	Window time.Duration
	// MaxTraces bounds the traces held in memory (--max-traces).
	MaxTraces int
	// MaxExportBufferMiB bounds the spans held for export, in MiB of
	// their encoded bytes: spans wait there for --export-delay and while
	// an export is under way; past it new spans still make breakdowns but
	// are not exported, and are counted (--max-export-buffer-mib).
	MaxExportBufferMiB int
	// JaegerUIURL, when set, links breakdowns to Jaeger's UI
	// (--jaeger-ui-url).
	JaegerUIURL string
	// HAProxyTimezone is the zone of HAProxy's accept dates
	// (--haproxy-timezone, e.g. UTC or Europe/Berlin).
	HAProxyTimezone string
	// AuthTokenFile, when set, names a file of bearer tokens (one per
	// line, at least 16 characters; read again when it changes) that
	// OTLP senders and API clients must present as "Authorization: Bearer
	// <token>": OTLP/HTTP answers 401, OTLP/gRPC Unauthenticated, /api/
	// 401. /metrics, /healthz, the UI's static files, the Fluent forward
	// port and the public RUM endpoint stay open (--auth-token-file).
	AuthTokenFile string
	// MemoryLimitMiB is the memory limiter's hard limit of the heap in use,
	// in MiB (--memory-limit-mib): from MemoryLimitMiB − MemorySpikeMiB on,
	// input is refused with each protocol's back-pressure (OTLP/HTTP 429,
	// OTLP/gRPC RESOURCE_EXHAUSTED, Fluent forward connections and file
	// readers paused, RUM 429) until the heap is back under it; at the
	// limit a GC is also forced. 0: 80 % of GOMEMLIMIT when one is set
	// (the chart sets it to the container's memory limit), else no limiter.
	MemoryLimitMiB uint64
	// MemorySpikeMiB is the room kept under the limit for what arrives
	// between two checks (--memory-spike-mib; 0: 20 % of the limit).
	MemorySpikeMiB uint64
	// HeapHugePages asks Linux to back the heap with transparent huge
	// pages as it grows (--heap-huge-pages; internal/hugeheap): under
	// the host mode "madvise" the store's growth otherwise costs a page
	// fault per 4 KiB. Nothing happens under "always" or "never".
	HeapHugePages bool
	// Peers are the other replicas of a scaled-out collector, whose API
	// this one asks when a trace is not its own and for the recent
	// breakdowns of all (--peers): dns+HOST:PORT (every address of a
	// headless Service, at its API port) or HOST:PORT,... Empty: this
	// replica answers for itself only (docs/scaling.md).
	Peers string
	// GatewayEndpoint is the scale-out gateway's OTLP/HTTP base URL
	// (--gateway-endpoint, http://HOST:4318): records this replica parses
	// from log lines, ALB logs and beacons are sent there, as OTLP log
	// records with their trace id, to reach the replica that owns their
	// trace (collector/relay). Empty: they are joined here.
	GatewayEndpoint string
	// GatewayTokenFile is a token file whose first token the relay sends
	// to the gateway (--gateway-token-file; the chart's auth.enabled
	// mounts the sender token there). Empty: none.
	GatewayTokenFile string
	// KubeMetadata maps each ingress upstream address to its pod, node
	// and zone from the Kubernetes API (EndpointSlices, Pods and Nodes:
	// get, list, watch), and marks the service hop's try cross-zone and
	// terminating (--kube-metadata; off by default, the chart turns it
	// on with collector.kubeMetadata.enabled). It uses the in-cluster
	// ServiceAccount, or $KUBECONFIG outside a cluster.
	KubeMetadata bool
	// KubeMetadataNamespaces limits the EndpointSlices and Pods watched
	// to these namespaces (--kube-metadata-namespaces; empty = all).
	KubeMetadataNamespaces []string
	// KubeMetadataHistory is how long an address's past states are kept,
	// so that a line read late gets the state at its request's time
	// (--kube-metadata-history).
	KubeMetadataHistory time.Duration
	// KubeMetadataMaxAddresses bounds the addresses tracked
	// (--kube-metadata-max-addresses).
	KubeMetadataMaxAddresses int
	// IngressZone is the zone the ingress runs in: a try to an endpoint
	// of another zone is marked cross_zone (--ingress-zone; empty = not
	// known, no try is marked). Needs --kube-metadata.
	IngressZone string
}

// DefaultMaxExportBufferMiB is --max-export-buffer-mib's default: a
// quarter of the chart's 1 GiB memory limit, about 200,000 spans of a
// sidecar's size.
const DefaultMaxExportBufferMiB = 256

// DefaultConfig returns the contract's ports (DESIGN.md) and defaults.
func DefaultConfig() Config {
	return Config{
		OTLPGRPCListen:         ":4317",
		OTLPHTTPListen:         ":4318",
		ForwardListen:          ":24224",
		HTTPListen:             ":8088",
		RUMListen:              ":8089",
		RUMAllowedOrigins:      nil,
		RUMRatePerSecond:       5,
		RUMBurst:               20,
		RUMTrustedHops:         1,
		RUMGlobalRatePerSecond: 1000,
		ExportDelay:            5 * time.Second,
		Window:                 10 * time.Minute,
		MaxTraces:              100_000,
		MaxExportBufferMiB:     DefaultMaxExportBufferMiB,
		HAProxyTimezone:        "UTC",
		HeapHugePages:          true,
		GatewayServices:        gateway.DefaultConfig().Services,
		GatewaySpanAttributes:  gateway.DefaultConfig().SpanAttributes,

		ALBS3PollInterval: albs3.DefaultPollInterval,
		ALBS3Lookback:     albs3.DefaultLookback,

		KubeMetadataHistory:      k8smeta.DefaultConfig().History,
		KubeMetadataMaxAddresses: k8smeta.DefaultConfig().MaxAddresses,
	}
}

// albS3Config is the ALB S3 reader's part of c.
func (c *Config) albS3Config() albs3.Config {
	acfg := albs3.DefaultConfig()
	acfg.URL, acfg.Region, acfg.Endpoint, acfg.PathStyle = c.ALBS3URL, c.ALBS3Region, c.ALBS3Endpoint, c.ALBS3PathStyle
	acfg.QueueURL, acfg.StateDir = c.ALBSQSQueueURL, c.StateDir
	acfg.PollInterval, acfg.Lookback = c.ALBS3PollInterval, c.ALBS3Lookback
	return acfg
}

// gatewayConfig is the gateway recognition part of c.
func (c *Config) gatewayConfig() gateway.Config {
	return gateway.Config{Services: c.GatewayServices, ResourceAttributes: c.GatewayResourceAttributes,
		SpanAttributes: c.GatewaySpanAttributes}
}

// RegisterFlags binds every field to a flag of fs.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.OTLPGRPCListen, "otlp-grpc-listen", c.OTLPGRPCListen, "OTLP/gRPC address (empty = off)")
	fs.StringVar(&c.OTLPHTTPListen, "otlp-http-listen", c.OTLPHTTPListen, "OTLP/HTTP address (empty = off)")
	fs.StringVar(&c.ForwardListen, "forward-listen", c.ForwardListen, "Fluent forward address (empty = off)")
	fs.StringVar(&c.HTTPListen, "http-listen", c.HTTPListen, "internal API, UI and /metrics address")
	fs.StringVar(&c.RUMListen, "rum-listen", c.RUMListen, "public RUM endpoint address (empty = off)")
	fs.Var(cliconfig.NewStringList(&c.RUMAllowedOrigins), "rum-allowed-origins", "origins allowed to send beacons (* = any)")
	fs.Float64Var(&c.RUMRatePerSecond, "rum-rate", c.RUMRatePerSecond, "beacons per second per client IP")
	fs.IntVar(&c.RUMBurst, "rum-burst", c.RUMBurst, "beacon burst per client IP")
	fs.BoolVar(&c.RUMTrustForwardedFor, "rum-trust-forwarded-for", c.RUMTrustForwardedFor, "rate-limit by the X-Forwarded-For address the trusted proxy appended")
	fs.IntVar(&c.RUMTrustedHops, "rum-trusted-hops", c.RUMTrustedHops, "proxies appending to X-Forwarded-For in front of the RUM endpoint (the client is that many addresses from the right)")
	fs.Float64Var(&c.RUMGlobalRatePerSecond, "rum-global-rate", c.RUMGlobalRatePerSecond, "beacons per second from all clients together")
	fs.StringVar(&c.ALBLogs, "alb-logs", c.ALBLogs, "directory of ALB access-log files (empty = off)")
	fs.StringVar(&c.ALBS3URL, "alb-s3-url", c.ALBS3URL, "s3://bucket/prefix of ALB access-log objects, each read once (empty = off; AWS default credential chain)")
	fs.StringVar(&c.ALBS3Region, "alb-s3-region", c.ALBS3Region, "region of the --alb-s3-url bucket (empty = AWS_REGION or the shared config)")
	fs.StringVar(&c.ALBS3Endpoint, "alb-s3-endpoint", c.ALBS3Endpoint, "URL of an S3-compatible server instead of AWS S3 (empty = AWS)")
	fs.BoolVar(&c.ALBS3PathStyle, "alb-s3-path-style", c.ALBS3PathStyle, "address the --alb-s3-url bucket in the URL path (S3-compatible servers)")
	fs.DurationVar(&c.ALBS3PollInterval, "alb-s3-poll-interval", c.ALBS3PollInterval, "time between two listings of --alb-s3-url")
	fs.DurationVar(&c.ALBS3Lookback, "alb-s3-lookback", c.ALBS3Lookback, "how long after its day an ALB object may still appear in its day directory (at least 24h)")
	fs.StringVar(&c.ALBSQSQueueURL, "alb-sqs-queue-url", c.ALBSQSQueueURL, "SQS queue of the bucket's S3 event notifications: read --alb-s3-url objects as announced (empty = poll the listing)")
	fs.StringVar(&c.StateDir, "state-dir", c.StateDir, "directory for progress kept across restarts")
	fs.Var(cliconfig.NewStringList(&c.GatewayServices), "gateway-services", "service.name values of ingresses/gateways whose server spans play the ingress hop (* at either end matches anything)")
	fs.Var(cliconfig.NewStringList(&c.GatewayResourceAttributes), "gateway-resource-attributes", "KEY=VALUE resource attributes marking an ingress/gateway")
	fs.Var(cliconfig.NewStringList(&c.GatewaySpanAttributes), "gateway-span-attributes", "KEY or KEY=VALUE span attributes marking a server span as an ingress/gateway's")
	fs.Var(cliconfig.NewStringList(&c.Tail), "tail", "FORMAT:PATH of a log file to follow (repeatable)")
	fs.StringVar(&c.ExportOTLPEndpoint, "export-otlp-endpoint", c.ExportOTLPEndpoint, "OTLP endpoint spans are exported to (Jaeger)")
	fs.StringVar(&c.ExportHeaders, "export-headers", c.ExportHeaders, "k=v,k2=v2 headers sent with every export request, values percent-encoded (over OTEL_EXPORTER_OTLP_HEADERS)")
	fs.StringVar(&c.ExportCompression, "export-compression", c.ExportCompression, "gzip or none (empty: OTEL_EXPORTER_OTLP_COMPRESSION, else none)")
	fs.StringVar(&c.ExportCAFile, "export-ca-file", c.ExportCAFile, "PEM file of the CA of the export endpoint's certificate (empty: OTEL_EXPORTER_OTLP_CERTIFICATE, else the system's)")
	fs.DurationVar(&c.ExportDelay, "export-delay", c.ExportDelay, "wait for a trace's other records before exporting it")
	fs.DurationVar(&c.Window, "window", c.Window, "how long a trace is kept after its last record")
	fs.IntVar(&c.MaxTraces, "max-traces", c.MaxTraces, "traces held in memory")
	fs.IntVar(&c.MaxExportBufferMiB, "max-export-buffer-mib", c.MaxExportBufferMiB, "MiB of spans held for export; past it spans are not exported (counted)")
	fs.StringVar(&c.JaegerUIURL, "jaeger-ui-url", c.JaegerUIURL, "Jaeger UI base URL for links")
	fs.StringVar(&c.HAProxyTimezone, "haproxy-timezone", c.HAProxyTimezone, "time zone of HAProxy log dates")
	fs.StringVar(&c.AuthTokenFile, "auth-token-file", c.AuthTokenFile, "file of bearer tokens required of OTLP senders and API clients (empty = none)")
	fs.Uint64Var(&c.MemoryLimitMiB, "memory-limit-mib", c.MemoryLimitMiB, "heap limit in MiB: input is refused from the limit minus --memory-spike-mib on (0 = 80% of GOMEMLIMIT when set, else no limit)")
	fs.StringVar(&c.Peers, "peers", c.Peers, "the other replicas' API, asked for traces this one does not hold: dns+HOST:PORT or HOST:PORT,... (empty = none)")
	fs.StringVar(&c.GatewayEndpoint, "gateway-endpoint", c.GatewayEndpoint, "scale-out gateway's OTLP/HTTP URL that log lines, ALB records and beacons are relayed through to the replica owning their trace (empty = joined here)")
	fs.StringVar(&c.GatewayTokenFile, "gateway-token-file", c.GatewayTokenFile, "token file whose first token is sent to --gateway-endpoint (empty = none)")
	fs.BoolVar(&c.KubeMetadata, "kube-metadata", c.KubeMetadata, "map ingress upstream addresses to pod, node and zone from the Kubernetes API (EndpointSlices, Pods, Nodes: read-only)")
	fs.Var(cliconfig.NewStringList(&c.KubeMetadataNamespaces), "kube-metadata-namespaces", "namespaces whose EndpointSlices and Pods are watched (empty = all)")
	fs.DurationVar(&c.KubeMetadataHistory, "kube-metadata-history", c.KubeMetadataHistory, "how long past endpoint states are kept for late log lines")
	fs.IntVar(&c.KubeMetadataMaxAddresses, "kube-metadata-max-addresses", c.KubeMetadataMaxAddresses, "pod addresses tracked at most")
	fs.StringVar(&c.IngressZone, "ingress-zone", c.IngressZone, "zone of the ingress: tries to another zone are marked cross_zone (needs --kube-metadata)")
	fs.Uint64Var(&c.MemorySpikeMiB, "memory-spike-mib", c.MemorySpikeMiB, "room under --memory-limit-mib for what arrives between two checks (0 = 20% of the limit)")
	fs.BoolVar(&c.HeapHugePages, "heap-huge-pages", c.HeapHugePages, "ask Linux to back the heap with transparent huge pages as it grows (when the host's mode is madvise)")
}

// Tail formats.
const (
	FormatIngressNginx     = logformat.IngressNginx
	FormatIngressNginxJSON = logformat.IngressNginxJSON
	FormatHAProxy          = logformat.HAProxy
	FormatALB              = logformat.ALB
	FormatEnvoy            = logformat.Envoy
	FormatEnvoyJSON        = logformat.EnvoyJSON
	FormatTraefikJSON      = logformat.TraefikJSON
)

// TailSpec is one parsed --tail value.
type TailSpec struct{ Format, Path string }

// ParseTail splits FORMAT:PATH.
func ParseTail(v string) (TailSpec, error) {
	format, path, ok := strings.Cut(v, ":")
	if !ok || path == "" {
		return TailSpec{}, fmt.Errorf("want FORMAT:PATH, got %q", v)
	}
	if !slices.Contains(logformat.Formats, format) {
		return TailSpec{}, fmt.Errorf("unknown format %q (known: %s)", format, strings.Join(logformat.Formats, ", "))
	}
	return TailSpec{Format: format, Path: path}, nil
}

// kubeConfig is the --kube-metadata-* part of c.
func (c *Config) kubeConfig() k8smeta.Config {
	k := k8smeta.DefaultConfig()
	k.Namespaces, k.History, k.MaxAddresses = c.KubeMetadataNamespaces, c.KubeMetadataHistory, c.KubeMetadataMaxAddresses
	return k
}
