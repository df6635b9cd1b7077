package contract

// Hop names of a breakdown (docs/design.md, "Breakdown semantics"), as in
// the API, the UI, the exported spans and the hop label of
// hopscope_hop_duration_seconds. The breakdown of one request lists the
// hops its sources could measure, outermost first.
const (
	HopDNS            = "dns"
	HopConnect        = "connect"
	HopTLS            = "tls"
	HopEdgeNetwork    = "edge_network"
	HopLoadBalancer   = "loadbalancer"
	HopIngress        = "ingress"
	HopIngressRetries = "ingress_retries"
	HopService        = "service"
	HopSidecar        = "sidecar"
	HopApp            = "app"
	HopDownload       = "download"
	HopOther          = "other"
)

// Backend hops: the kinds of backend calls hopscope names itself. Any
// other kind (a db.system.name or rpc.system of an app's span) is a hop
// of its own under that name.
const (
	HopPostgres   = "postgres"
	HopRedis      = "redis"
	HopHTTPEgress = "http_egress"
)
