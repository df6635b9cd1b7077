package sidecar

import (
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
)

// Headers the sidecar reads and writes (DESIGN.md, Contract).
const (
	headerRequestID      = "X-Request-Id"
	headerRequestStart   = "X-Request-Start"
	headerQueueStart     = "X-Queue-Start"
	headerXRay           = "X-Amzn-Trace-Id"
	headerServerTiming   = "Server-Timing"
	headerTimingAllow    = "Timing-Allow-Origin"
	headerForwardedFor   = "X-Forwarded-For"
	headerForwardedProto = "X-Forwarded-Proto"
	headerForwardedHost  = "X-Forwarded-Host"
	headerGRPCStatus     = "Grpc-Status"
)

// rewrite prepares the request to the app. pr.In is never modified.
func (p *proxy) rewrite(pr *httputil.ProxyRequest) {
	pr.SetURL(p.target)
	pr.Out.Host = pr.In.Host // the app sees the Host the client asked for
	// Request trailers: In's map, which net/http fills once the body has
	// been read to its end, is what the transport writes after the body
	// (ReverseProxy's Clone copied it while still empty). Shared, not
	// modified.
	pr.Out.Trailer = pr.In.Trailer
	in := pr.In.Header
	// Keep the X-Forwarded-* chain the ingress started: the sidecar is
	// reached only from inside the cluster, so its peers are trusted.
	if prior := in.Values(headerForwardedFor); len(prior) > 0 {
		pr.Out.Header.Set(headerForwardedFor, strings.Join(prior, ", ")+", "+hostOnly(pr.In.RemoteAddr))
	} else {
		pr.Out.Header.Set(headerForwardedFor, hostOnly(pr.In.RemoteAddr))
	}
	if v := in.Get(headerForwardedProto); v != "" {
		pr.Out.Header.Set(headerForwardedProto, v)
	} else {
		pr.Out.Header.Set(headerForwardedProto, schemeOf(pr.In))
	}
	if v := in.Get(headerForwardedHost); v != "" {
		pr.Out.Header.Set(headerForwardedHost, v)
	} else {
		pr.Out.Header.Set(headerForwardedHost, pr.In.Host)
	}
	if v := in.Values("Forwarded"); len(v) > 0 {
		pr.Out.Header["Forwarded"] = append([]string(nil), v...)
	}
	st := stateFrom(pr.In.Context())
	if st == nil {
		return // health probe: no trace
	}
	p.prop.Inject(st, pr.Out.Header)
	pr.Out.Header.Set(headerRequestID, st.requestID)
}

func schemeOf(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

func hostOnly(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}
