// Package gateway recognises the OpenTelemetry server spans of ingresses
// and gateways (Envoy Gateway, Istio's ingress gateway, Traefik, NGINX
// Gateway Fabric and nginx's otel module, Caddy, …) among the spans the
// collector receives, and turns each into the [correlate.IngressLog] that
// an ingress-nginx access-log line would have given, so that the span
// plays the breakdown's ingress hop.
//
// A span is a gateway's when it is a SERVER span and its resource matches
// (service.name in Config.Services, or a resource attribute in
// Config.ResourceAttributes) or the span itself carries one of
// Config.SpanAttributes (Traefik's entry_point, Envoy's upstream_cluster).
// An Envoy span whose upstream_cluster starts with "inbound|" is an Istio
// sidecar's inbound span, never a gateway's.
//
// The record: Start and RequestTime are the span's; Method, Path, Host
// and Status come from the HTTP semantic conventions (current and old
// names); Keys.RequestID from Envoy's guid:x-request-id; Upstream from
// upstream_cluster. The tries are the CLIENT spans of the same service in
// the same trace that lie within the server span, in order of start:
// Envoy's upstream spans (spawn_upstream_span, one per attempt, named
// "router <cluster> egress") and Traefik's ReverseProxy spans (one per
// attempt of its retry middleware). A try's Addr is upstream_address,
// else server.address:server.port; its Status the span's HTTP status; its
// Response the span's duration. Without such spans there are no tries and
// the ingress hop holds the service hop's time too, as for an
// ingress-nginx line without upstream times. The gateway's client spans
// are tries, never backend calls of the trace.
//
// Tries are joined within one OTLP export request: a gateway's batch
// exporter sends a trace's spans together when they end together, which
// they do (the client spans end inside the server span). A try that comes
// in a later request than its server span is not joined.
//
// Only gateway server spans are kept while a request is walked; the
// request is walked a second time for their client spans only when it
// holds one, so that the collector's ingest of other spans costs no more
// memory (BenchmarkIngestOTLP: the same bytes and allocations per request
// as before).
//
// The package is pure: it reads span views and keeps no state between
// requests.
package gateway
