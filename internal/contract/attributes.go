package contract

// Span attribute keys of the OpenTelemetry semantic conventions (v1.37)
// that the sidecar and its backend proxies write and the collector reads.
// attributes_test.go checks each against go.opentelemetry.io/otel/semconv.
const (
	AttrServiceName = "service.name"
	// AttrK8sNamespaceName is a resource attribute: the namespace of the
	// pod the span comes from (the injector sets it through the downward
	// API); the collector's histograms carry it as LabelK8sNamespace.
	AttrK8sNamespaceName = "k8s.namespace.name"
	// AttrK8sDeploymentName is a resource attribute of the sidecar's spans:
	// the Deployment of the pod, which the injector derives at admission
	// from the pod's ReplicaSet (injector.DeploymentName).
	AttrK8sDeploymentName      = "k8s.deployment.name"
	AttrHTTPRequestMethod      = "http.request.method"
	AttrHTTPRequestMethodOrig  = "http.request.method_original"
	AttrHTTPRoute              = "http.route"
	AttrHTTPResponseStatusCode = "http.response.status_code"
	AttrHTTPResponseBodySize   = "http.response.body.size"
	AttrURLPath                = "url.path"
	AttrURLQuery               = "url.query"
	AttrURLScheme              = "url.scheme"
	AttrURLFull                = "url.full"
	AttrClientAddress          = "client.address"
	AttrUserAgentOriginal      = "user_agent.original"
	AttrServerAddress          = "server.address"
	AttrServerPort             = "server.port"
	AttrNetworkPeerAddress     = "network.peer.address"
	AttrNetworkProtocolVersion = "network.protocol.version"
	AttrErrorType              = "error.type"
	// AttrTLSProtocolVersion is, on a backend's connect span, the TLS
	// version the sidecar negotiated with the target ("1.2", "1.3").
	AttrTLSProtocolVersion = "tls.protocol.version"
	AttrDBSystemName       = "db.system.name"
	AttrDBOperationName    = "db.operation.name"
	AttrDBQueryText        = "db.query.text"
	// AttrDBOperationBatchSize is, on the span of a batch (a Redis
	// pipeline: commands the client wrote together), how many calls it
	// stands for (2 or more).
	AttrDBOperationBatchSize = "db.operation.batch.size"
	// AttrDBNamespace is the database a backend call ran against: a
	// PostgreSQL connection's database (its startup message's database,
	// else its user), a Redis connection's database index ("0" until a
	// SELECT).
	AttrDBNamespace = "db.namespace"
	// AttrDBQuerySummary is "{operation} {target}" of a statement, e.g.
	// "SELECT orders" (PostgreSQL: the first table the normalised
	// statement names, when it is plain to see), else the operation alone.
	AttrDBQuerySummary       = "db.query.summary"
	AttrDBResponseStatusCode = "db.response.status_code"
	AttrRPCSystem            = "rpc.system"
	AttrRPCMethod            = "rpc.method"
	// AttrRPCGRPCStatusCode is the gRPC status of a call (an int), on the
	// sidecar's server span of a gRPC request: the grpc-status the app
	// sent in its trailers (or its trailers-only headers).
	AttrRPCGRPCStatusCode = "rpc.grpc.status_code"
)

// Values of AttrDBSystemName the backend proxies write (semantic
// conventions' well-known values).
const (
	DBSystemPostgreSQL = "postgresql"
	DBSystemRedis      = "redis"
)

// Older semantic-convention keys (v1.20) that apps' own instrumentation
// may still write; the collector reads each beside its current name.
const (
	AttrHTTPMethodOld     = "http.method"
	AttrHTTPStatusCodeOld = "http.status_code"
	AttrHTTPURLOld        = "http.url"
	AttrNetPeerNameOld    = "net.peer.name"
	AttrNetPeerPortOld    = "net.peer.port"
	AttrDBSystemOld       = "db.system"
	AttrDBOperationOld    = "db.operation"
	AttrDBStatementOld    = "db.statement"
)

// Byte counts of a relayed connection or request, written by the backend
// proxies. Not in the semantic conventions' registry (which has
// network.io.direction on metrics only), so under hopscope.*, named in
// their style.
const (
	AttrNetworkIOSentBytes     = "hopscope.network.io.sent_bytes"
	AttrNetworkIOReceivedBytes = "hopscope.network.io.received_bytes"
)

// Names hopscope's own attributes had before they moved under hopscope.*
// (issue 12), which sidecars of older versions still write. No collector
// code reads these attributes today (the spans are exported as they came);
// one that comes to read them must read the old name beside the new one,
// as it does the semantic conventions' older keys above.
const (
	AttrNetworkIOSentBytesOld     = "network.io.sent_bytes"
	AttrNetworkIOReceivedBytesOld = "network.io.received_bytes"
	AttrPostgreSQLSeverityOld     = "db.postgresql.error.severity"
)

// hopscope's own span attributes. The sidecar's server span carries the
// first group; the collector reads those it needs to join the span to the
// other sources (README, "Spans").
const (
	// AttrComponent is ComponentSidecar on the sidecar's spans (and its
	// resource): the collector takes a server span as the sidecar's by it.
	AttrComponent = "hopscope.component"
	// AttrVersion is the sidecar's version, on its resource.
	AttrVersion = "hopscope.version"
	// AttrRequestID is the request's X-Request-ID.
	AttrRequestID = "hopscope.request_id"
	// AttrXRayRoot is the Root of the request's X-Amzn-Trace-Id.
	AttrXRayRoot = "hopscope.xray_root"
	// AttrQueueTimeMS is the time from X-Request-Start to the sidecar, ms.
	AttrQueueTimeMS = "hopscope.queue_time_ms"
	// AttrAppDurationMS is the time the app took, ms.
	AttrAppDurationMS = "hopscope.app_duration_ms"
	// AttrOverheadMS is the sidecar's own time, ms.
	AttrOverheadMS = "hopscope.overhead_ms"
	// AttrAppStartMS is when the request reached the app, ms after the
	// span's start.
	AttrAppStartMS = "hopscope.app_start_ms"
	// AttrPropagation is the header format the trace context came in.
	AttrPropagation = "hopscope.propagation"
)

// ComponentSidecar is the value of AttrComponent on the sidecar's spans.
const ComponentSidecar = "sidecar"

// Attributes of the client spans of the sidecar's backend proxies.
const (
	// AttrBackend is the backend's configured name.
	AttrBackend = "hopscope.backend"
	// AttrAttribution says how the call was tied to an inbound request:
	// exact, inferred or ambiguous (correlate.Attribution).
	AttrAttribution = "hopscope.attribution"
	// AttrAttributionReason says how an inferred call was tied to its
	// request: ReasonSole, ReasonValue, ReasonRoute or ReasonOrder.
	AttrAttributionReason = "hopscope.attribution.reason"
	// AttrPostgreSQLSeverity is the severity of a PostgreSQL error
	// response (ERROR, FATAL, PANIC). Not in the semantic conventions'
	// registry (db.response.status_code has the SQLSTATE).
	AttrPostgreSQLSeverity = "hopscope.db.postgresql.error.severity"
	// AttrDBAuthMethod is, on a PostgreSQL connect span, how the server
	// asked the client to authenticate (AuthMethod* values), read from
	// its Authentication message's type; never a credential.
	AttrDBAuthMethod = "hopscope.db.auth_method"
	// AttrDBConnectionSetup is true on a Redis command sent at connection
	// start (HELLO, AUTH, SELECT, CLIENT before any other command).
	AttrDBConnectionSetup = "hopscope.db.connection_setup"
)

// Values of AttrDBAuthMethod: the authentication request a PostgreSQL
// server (or PgBouncer) sent at startup.
const (
	AuthMethodNone      = "none"          // AuthenticationOk at once (trust)
	AuthMethodCleartext = "cleartext"     // AuthenticationCleartextPassword
	AuthMethodMD5       = "md5"           // AuthenticationMD5Password
	AuthMethodSCRAM     = "scram-sha-256" // AuthenticationSASL offering SCRAM-SHA-256
	AuthMethodSASL      = "sasl"          // AuthenticationSASL without SCRAM-SHA-256
	AuthMethodGSS       = "gss"           // AuthenticationGSS or SSPI
	AuthMethodOther     = "other"         // another request (Kerberos V5, SCM credentials, unknown)
)

// OpConnect is the operation (db.operation.name, the duration
// histogram's operation label) of a backend connection's setup: a
// PostgreSQL startup up to the first ReadyForQuery, or a failed dial.
const OpConnect = "connect"

// Values of AttrAttributionReason (correlate.AttributionReason).
const (
	// ReasonSole: exactly one inbound request was in flight
	// when the call began.
	ReasonSole = "sole"
	// ReasonValue: exactly one request in flight could have
	// made the call, and the call carries a value of its path (an id in a
	// Redis key or argument, a PostgreSQL bind parameter).
	ReasonValue = "value"
	// ReasonRoute: exactly one request in flight is on a route
	// seen making calls of this shape.
	ReasonRoute = "route"
	// ReasonOrder: several requests in flight on one route could have
	// made the call, which carries nothing of any of them (a fixed key, a
	// constant id), none of them has made it yet, and it went to the one
	// that came in first: requests of one route reach the same call in
	// the order they arrived.
	ReasonOrder = "order"
)

// Attributes of the HTTP egress proxy's client spans: the phases of one
// call, in milliseconds.
const (
	AttrHTTPDNSMS      = "hopscope.http.dns_ms"      // DNS lookup (0 when none: an IP, a reused connection)
	AttrHTTPConnectMS  = "hopscope.http.connect_ms"  // TCP connect (0 on a reused connection)
	AttrHTTPTLSMS      = "hopscope.http.tls_ms"      // TLS handshake (0 when none)
	AttrHTTPTTFBMS     = "hopscope.http.ttfb_ms"     // from having a connection to the first response byte
	AttrHTTPBodyMS     = "hopscope.http.body_ms"     // from the response headers to the body's end
	AttrHTTPAttempts   = "hopscope.http.attempts"    // tries of the request, the first included
	AttrHTTPConnReused = "hopscope.http.conn_reused" // the connection came from the keep-alive pool
	AttrHTTPTunnelMS   = "hopscope.http.tunnel_ms"   // CONNECT: the tunnel's life
)

// Attributes of the spans the collector synthesizes for hops no span
// covers (the load balancer, the ingress, the network, ...) when it
// exports a trace.
const (
	// AttrSynthetic is "true" on the resource of synthesized spans.
	AttrSynthetic = "hopscope.synthetic"
	// AttrHop is the hop name (hops.go) a synthesized span stands for.
	AttrHop = "hopscope.hop"
	// AttrSource is the source that measured it (rum, ingress, sidecar,
	// backend).
	AttrSource = "hopscope.source"
	// AttrDurationMS is its exclusive time, ms.
	AttrDurationMS = "hopscope.duration_ms"
)
