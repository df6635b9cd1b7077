package sidecar

import (
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/hopscope/hopscope/internal/contract"
	"github.com/hopscope/hopscope/internal/tracectx"
	"github.com/hopscope/hopscope/sidecar/accesslog"
)

// finish records the request once its response is complete or aborted.
func (p *proxy) finish(st *reqState, r *http.Request) {
	rec := recover()
	if rec != nil {
		// Re-panic once recorded, http.ErrAbortHandler included: net/http
		// then aborts the response (no terminating chunk, a reset stream),
		// so a client never takes a cut body for a complete one.
		defer panic(rec)
	}
	end := time.Now()
	st.reqBody.finished.Store(true)
	p.metrics.inflight.Dec()
	if p.tracker != nil {
		p.tracker.Leave(st.trackID)
	}

	status := st.rw.status
	bodyTimedOut := st.reqBody.timedOut.Load()
	if bodyTimedOut {
		p.metrics.bodyTimeouts.Inc()
	}
	switch {
	case bodyTimedOut && (rec == http.ErrAbortHandler || st.clientGone):
		// The client stalled mid-body after the response had begun: the
		// sidecar closed the connection; the client's fault, not a 499
		// of a client that went away nor the app's.
		status, st.errKind = http.StatusRequestTimeout, ErrorRequestBodyTimeout
	case st.errKind == ErrorSidecarShutdown:
		status = StatusSidecarShutdown
	case (rec == http.ErrAbortHandler || st.clientGone) && cutByShutdown(st):
		// Cut mid-response (the client may have had a 200's headers): the
		// sidecar ended it, not the client.
		status, st.errKind = StatusSidecarShutdown, ErrorSidecarShutdown
	case rec == http.ErrAbortHandler || st.clientGone:
		status = StatusClientClosed
	case status == 0:
		status = st.upstreamSC // upgraded (101) connections write no header through us
	}
	total := end.Sub(st.start)
	var app time.Duration
	if !st.appStart.IsZero() {
		appEnd := st.appEnd
		if appEnd.IsZero() {
			appEnd = end
		}
		app = appEnd.Sub(st.appStart)
	}
	overhead := total - app
	if overhead < 0 {
		overhead = 0
	}

	grpcCode := noGRPC
	if isGRPC(r.Header.Get("Content-Type")) {
		grpcCode = grpcStatus(st.res, status)
	}
	method := methodLabel(r.Method)
	code := codeLabel(status)
	p.metrics.requests.WithLabelValues(directionInbound, method, st.route, code, grpcLabel(grpcCode)).Inc()
	obs := p.metrics.duration.WithLabelValues(directionInbound, method, st.route, code)
	if st.sc.IsSampled() && p.exemplars.take(total.Seconds(), end) {
		obs.(prometheus.ExemplarObserver).ObserveWithExemplar(total.Seconds(), prometheus.Labels{"trace_id": st.traceID})
	} else {
		obs.Observe(total.Seconds())
	}
	p.metrics.overhead.Observe(overhead.Seconds())
	if st.hasQueue {
		p.metrics.queueTime.Observe(st.queueTime.Seconds())
	}

	query := p.redactor.Redact(r.URL.RawQuery)
	if st.span.IsRecording() {
		p.spanAttributes(st, r, query, status, grpcCode, app, overhead)
		st.span.End(trace.WithTimestamp(end))
	}

	if p.access != nil {
		rec := &st.rec
		*rec = accesslog.Record{
			Time:         st.start,
			Service:      p.service,
			TraceID:      st.traceID,
			SpanID:       st.sc.SpanID().String(),
			RequestID:    st.requestID,
			Method:       r.Method,
			Path:         r.URL.Path,
			Query:        query,
			Route:        st.route,
			Proto:        r.Proto,
			Status:       status,
			BytesIn:      st.reqBody.n,
			BytesOut:     st.rw.n,
			Duration:     total,
			AppDuration:  app,
			Overhead:     overhead,
			QueueTime:    st.queueTime,
			HasQueueTime: st.hasQueue,
			ClientAddr:   hostOnly(r.RemoteAddr),
			UserAgent:    r.Header.Get("User-Agent"),
		}
		p.access.Log(rec)
	}
}

// Span attribute names, from the contract (internal/contract). The
// collector reads the hopscope.* ones; the README documents all of them.
const (
	AttrRequestID   = contract.AttrRequestID
	AttrXRayRoot    = contract.AttrXRayRoot
	AttrQueueTimeMS = contract.AttrQueueTimeMS
	AttrAppDuration = contract.AttrAppDurationMS
	AttrOverhead    = contract.AttrOverheadMS
	AttrAppStart    = contract.AttrAppStartMS
	AttrPropagation = contract.AttrPropagation
	AttrComponent   = contract.AttrComponent
)

func (p *proxy) spanAttributes(st *reqState, r *http.Request, query string, status, grpcCode int, app, overhead time.Duration) {
	// The method, the path and a route made of it share the memory of the
	// request line, which a redacted query can make much longer than what
	// the span records: a queued span is to hold no more than its
	// attributes' bytes (spanCost), so they are copied then (constants for
	// the standard methods).
	path, route := r.URL.Path, st.route
	if len(r.RequestURI)-len(path)-len(query) > maxUnrecordedURI {
		path, route = strings.Clone(path), strings.Clone(route)
	}
	method := methodLabel(r.Method)
	if method == "OTHER" {
		method = strings.Clone(r.Method)
	}
	var buf [24]attribute.KeyValue
	a := append(buf[:0],
		attribute.String(contract.AttrHTTPRequestMethod, method),
		attribute.String(contract.AttrHTTPRoute, route),
		attribute.String(contract.AttrURLPath, path),
		attribute.String(contract.AttrURLScheme, schemeOf(r)),
		attribute.String(contract.AttrClientAddress, hostOnly(r.RemoteAddr)),
		attribute.String(contract.AttrUserAgentOriginal, r.Header.Get("User-Agent")),
		attribute.Int(contract.AttrHTTPResponseStatusCode, status),
		attribute.String(AttrRequestID, st.requestID),
		attribute.String(AttrPropagation, string(st.source)),
		attribute.Float64(AttrAppDuration, ms(app)),
		attribute.Float64(AttrOverhead, ms(overhead)),
	)
	// server.address is the host the client asked for (Host, :authority)
	// without the port; server.port the port when the client named one.
	if host, port := splitHost(r.Host); host != "" {
		a = append(a, attribute.String(contract.AttrServerAddress, host))
		if port > 0 {
			a = append(a, attribute.Int(contract.AttrServerPort, port))
		}
	}
	if !st.appStart.IsZero() {
		a = append(a, attribute.Float64(AttrAppStart, ms(st.appStart.Sub(st.start))))
	}
	if query != "" {
		a = append(a, attribute.String(contract.AttrURLQuery, query))
	}
	if r.ProtoMajor != 1 || r.ProtoMinor != 1 {
		// HTTP/1.1 is the default; other versions are worth a look.
		a = append(a, attribute.String(contract.AttrNetworkProtocolVersion, protoVersion(r)))
	}
	if st.hasQueue {
		a = append(a, attribute.Float64(AttrQueueTimeMS, ms(st.queueTime)))
	}
	if x := r.Header.Get(headerXRay); x != "" {
		if root := xrayRoot(x); root != "" {
			a = append(a, attribute.String(AttrXRayRoot, root))
		}
	}
	if st.errKind != "" {
		a = append(a, attribute.String(contract.AttrErrorType, st.errKind))
	}
	if grpcCode != noGRPC {
		a = append(a, attribute.Int(contract.AttrRPCGRPCStatusCode, grpcCode))
	}
	st.span.SetAttributes(a...)
	switch {
	case status >= 500:
		st.span.SetStatus(codes.Error, st.errKind)
	case grpcServerError(grpcCode):
		// A failed call answers HTTP 200: its gRPC status decides, as
		// the semantic conventions' gRPC server spans have it.
		st.span.SetStatus(codes.Error, grpcLabel(grpcCode))
	}
}

// maxUnrecordedURI is how many bytes of the request URI a span may keep in
// memory without recording them (spanFixedCost allows for them).
const maxUnrecordedURI = 256

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func spanName(method, route string) string {
	return methodLabel(method) + " " + route
}

func protoVersion(r *http.Request) string {
	switch {
	case r.ProtoMajor == 2:
		return "2"
	case r.ProtoMinor == 0:
		return "1.0"
	default:
		return "1.1"
	}
}

// splitHost splits a Host header value into the host (IPv6 without
// brackets) and the port, 0 when absent or not a port number.
func splitHost(hostport string) (string, int) {
	host, port := hostport, ""
	if strings.HasPrefix(hostport, "[") { // [v6] or [v6]:port
		end := strings.IndexByte(hostport, ']')
		if end < 0 {
			return hostport, 0
		}
		rest := hostport[end+1:]
		if rest != "" && rest[0] != ':' {
			return hostport, 0 // "[v6]8080", "[v6]x": no host and port
		}
		host, port = hostport[1:end], strings.TrimPrefix(rest, ":")
	} else if i := strings.LastIndexByte(hostport, ':'); i >= 0 {
		if strings.IndexByte(hostport[:i], ':') >= 0 {
			return hostport, 0 // an IPv6 address without brackets: no port
		}
		host, port = hostport[:i], hostport[i+1:]
	}
	// By hand: net.SplitHostPort and strconv.Atoi allocate their errors,
	// and a Host without a port is the common case.
	if port == "" || len(port) > 5 {
		return host, 0
	}
	n := 0
	for i := 0; i < len(port); i++ {
		c := port[i]
		if c < '0' || c > '9' {
			return host, 0
		}
		n = n*10 + int(c-'0')
	}
	if n < 1 || n > 65535 {
		return host, 0
	}
	return host, n
}

// xrayRoot returns the Root=… value of an X-Amzn-Trace-Id header, in lower
// case, when it is an X-Ray trace id (1-<8 hex>-<24 hex>, not all zeros):
// the collector joins ALB and ingress records on it, so nothing else may be
// recorded. The header is read by tracectx.XRayHeaderRoot, as the log
// parsers read it.
func xrayRoot(h string) string { return strings.ToLower(tracectx.XRayHeaderRoot(h)) }
