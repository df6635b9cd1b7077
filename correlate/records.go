package correlate

import "time"

// Keys are the identifiers a record can be joined on, strongest first: the
// W3C trace id, the X-Ray Root (whose two hex parts concatenated are the
// trace id) and the X-Request-ID.
type Keys struct {
	// TraceID is 32 lowercase hex characters, or "" when unknown.
	TraceID string `json:"trace_id,omitempty"`
	// XRayRoot is the X-Ray Root as written ("1-5759e988-bd862e3fe1be46a994272793").
	XRayRoot string `json:"xray_root,omitempty"`
	// RequestID is the X-Request-ID value.
	RequestID string `json:"request_id,omitempty"`
}

// BrowserTiming is one page load's Navigation Timing, sent by rum.js.
// Durations are differences of the browser's own timestamps.
type BrowserTiming struct {
	Keys
	// Page is the page URL without query string.
	Page string
	// Initiator is what made the request: InitiatorNavigation for the
	// page load itself (Navigation Timing), or the Resource Timing
	// initiatorType of a call the page made, InitiatorFetch or
	// InitiatorXHR. Empty is read as InitiatorNavigation.
	Initiator string
	// URL is the called URL without query string, for a fetch/XHR call;
	// empty for a navigation (the page is the URL).
	URL string
	// Start is the wall-clock time of fetchStart, for the waterfall.
	Start time.Time
	// Total is responseEnd − fetchStart.
	Total time.Duration
	// DNS is domainLookupEnd − domainLookupStart.
	DNS time.Duration
	// Connect is the TCP connection set-up: secureConnectionStart −
	// connectStart when the connection used TLS (secureConnectionStart >
	// 0), else connectEnd − connectStart.
	Connect time.Duration
	// TLS is connectEnd − secureConnectionStart, the TLS handshake; 0 on
	// plain HTTP and on a reused connection.
	TLS time.Duration
	// ServerTime is responseStart − requestStart: what the client waited
	// for the first byte once the request was sent.
	ServerTime time.Duration
	// Download is responseEnd − responseStart.
	Download time.Duration
	// StartOffsets place DNS, Connect, request and response on the
	// waterfall, relative to fetchStart.
	DNSStart, ConnectStart, RequestStart, ResponseStart time.Duration
	// TLSStart places TLS on the waterfall, relative to fetchStart
	// (ConnectStart + Connect).
	TLSStart time.Duration
}

// Initiators of a BrowserTiming.
const (
	InitiatorNavigation = "navigation"
	InitiatorFetch      = "fetch"
	InitiatorXHR        = "xmlhttprequest"
)

// LoadBalancerLog is one request in an AWS ALB or HAProxy access log.
type LoadBalancerLog struct {
	Keys
	// Kind is "alb" or "haproxy".
	Kind string
	// Start is when the load balancer received the request.
	Start time.Time
	// Total is the load balancer's whole time for the request: for an ALB
	// request_processing_time + target_processing_time +
	// response_processing_time; for HAProxy Ta (or Tr-based if no Ta).
	Total time.Duration
	// Target is what the load balancer itself waited for: from sending the
	// request to the target to the target's response headers (ALB
	// target_processing_time; HAProxy Tr). Its precision is the log's.
	Target time.Duration
	// Dispatched is false when the request never reached a target (ALB
	// logs -1 timings).
	Dispatched bool
	// Resolution is the precision of the log's durations (1 ms for ALB
	// and HAProxy); differences smaller than it are clamped, not trusted.
	Resolution   time.Duration
	Method, Path string
	Status       int
	TargetAddr   string
	TargetStatus int
}

// UpstreamTry is one attempt of the ingress to reach a backend; the last is
// the one that answered.
type UpstreamTry struct {
	Addr     string        `json:"addr"`
	Status   int           `json:"status"`
	Connect  time.Duration `json:"-"`
	Header   time.Duration `json:"-"`
	Response time.Duration `json:"-"`
	// Pod, Namespace, Node and Zone name what Addr was in the cluster
	// at the request's time, Terminating whether that endpoint was
	// terminating, and CrossZone whether the ingress sent the request
	// to another zone than its own; the collector fills them from the
	// Kubernetes API (--kube-metadata) before the record is joined.
	Pod, Namespace, Node, Zone string `json:"-"`
	Terminating, CrossZone     bool   `json:"-"`
}

// IngressLog is one request in an ingress-nginx access log.
type IngressLog struct {
	Keys
	// Start is when nginx read the first byte of the request (end −
	// request_time).
	Start time.Time
	// RequestTime is $request_time.
	RequestTime time.Duration
	// Tries are the upstream attempts in order ($upstream_addr and the
	// other $upstream_* lists); the last one answered.
	Tries []UpstreamTry
	// Resolution is the precision of the log's durations (1 ms for nginx).
	Resolution         time.Duration
	Method, Path, Host string
	Status             int
	// Upstream is ingress-nginx's $proxy_upstream_name
	// (namespace-service-port), when logged.
	Upstream string
}

// SidecarSpan is the hopscope sidecar's server span for one request.
type SidecarSpan struct {
	Keys
	// SpanID and ParentSpanID are the span's (binary: SpanID).
	SpanID, ParentSpanID SpanID
	Service, Method      string
	// Namespace is the Kubernetes namespace of the sidecar's pod (its
	// resource's k8s.namespace.name), "" when it did not say.
	Namespace string
	Route     string
	Status    int
	// Start and Duration are the inbound request's.
	Start    time.Time
	Duration time.Duration
	// App is the app's part: request forwarded → response finished.
	App time.Duration
	// AppStart is when the request was forwarded to the app, relative to
	// Start (the sidecar's own time before it).
	AppStart time.Duration
}

// Attribution says how a backend call was tied to its inbound request.
type Attribution string

// Attribution values.
const (
	// AttributionExact: trace context travelled with the call.
	AttributionExact Attribution = "exact"
	// AttributionInferred: the sidecar tied the call to the request from
	// what it saw (AttributionReason says how).
	AttributionInferred Attribution = "inferred"
	// AttributionAmbiguous: several were; the call is listed but its time is
	// not subtracted from the app with certainty.
	AttributionAmbiguous Attribution = "ambiguous"
)

// AttributionReason says how an inferred call was tied to its request
// (hopscope.attribution.reason); "" for the others, and for an inferred
// call of a sidecar that does not say.
type AttributionReason string

// AttributionReason values.
const (
	// ReasonSole: exactly one inbound request was in flight in the pod when
	// the call started.
	ReasonSole AttributionReason = "sole"
	// ReasonValue: exactly one request in flight could have made the call,
	// and the call carries a value of its path (an id).
	ReasonValue AttributionReason = "value"
	// ReasonRoute: exactly one request in flight is on a route seen making
	// calls of this shape.
	ReasonRoute AttributionReason = "route"
	// ReasonOrder: several requests of one route in flight could have made
	// the call, which carries nothing of theirs; it went to the first of
	// them to arrive.
	ReasonOrder AttributionReason = "order"
)

// BackendCall is one call from the app to a backend (PostgreSQL, Redis, an
// HTTP API), from the sidecar's protocol proxies or the app's own client
// spans.
type BackendCall struct {
	Keys
	// SpanID and ParentSpanID are the call's client span's.
	SpanID, ParentSpanID SpanID
	// Kind is the backend hop name: "postgres", "redis", "http_egress", …
	Kind      string
	Target    string
	Operation string
	Start     time.Time
	Duration  time.Duration
	Error     bool
	Attribution
	// Reason says how an inferred call was tied.
	Reason AttributionReason
}
