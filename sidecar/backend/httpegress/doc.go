// Package httpegress is the sidecar's HTTP egress proxy: the app's outbound
// HTTP calls pass through it and each one becomes a client span and a
// hopscope_backend_duration_seconds observation, with the request's time
// split by net/http/httptrace (DNS, connect, TLS, time to first byte, body).
//
// Two entry points make a *Proxy, which is both a backend.Handler (served
// per accepted connection by backend.Server) and an http.Handler:
//
//   - NewBackend serves a `kind: http` backend: the app sends plain HTTP/1.1
//     to the backend's listen address and the proxy forwards to its target,
//     speaking TLS to it with `tls: originate`.
//   - NewForward is the forward proxy for apps that honour HTTP_PROXY and
//     HTTPS_PROXY: absolute-form requests are proxied like the above, CONNECT
//     tunnels are relayed opaque and timed as one "CONNECT" call.
//
// The proxy changes nothing the app did not ask for: hop-by-hop headers are
// dropped (as RFC 9110 requires), no Via, no Accept-Encoding or User-Agent
// of its own, bodies are streamed both ways. It adds one header, a W3C
// traceparent, to requests that carry none, so the next hop continues the
// trace. The backend's policies (timeout, retries within a budget, circuit
// breaker, rate limit) are all off unless configured; the proxy's own
// refusals are short JSON bodies naming the backend.
package httpegress
