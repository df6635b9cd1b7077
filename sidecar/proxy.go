package sidecar

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/hopscope/hopscope/internal/tracectx"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/hopscope/hopscope/correlate/queuetime"
	"github.com/hopscope/hopscope/sidecar/accesslog"
	"github.com/hopscope/hopscope/sidecar/backend"
	"github.com/hopscope/hopscope/sidecar/internal/h1"
	"github.com/hopscope/hopscope/sidecar/propagation"
)

// StatusClientClosed is recorded, as nginx does, for a request whose client
// went away before the response was complete.
const StatusClientClosed = 499

// StatusSidecarShutdown is recorded for a request the sidecar itself cut
// because --drain-timeout ended before it finished; the client gets it as
// a response when no response header had left yet. Its error kind
// (error.type, the JSON body's "error") is ErrorSidecarShutdown.
const StatusSidecarShutdown = http.StatusServiceUnavailable

// ErrorSidecarShutdown is the error kind of a request cut at the end of
// the drain.
const ErrorSidecarShutdown = "sidecar_shutdown"

// errSidecarShutdown is the cause the sidecar cancels every request
// context with when the drain times out.
var errSidecarShutdown = errors.New("the sidecar is shutting down and --drain-timeout has passed")

// cutByShutdown reports whether ctx was cancelled by the end of the drain
// rather than by the client.
func cutByShutdown(ctx context.Context) bool {
	return ctx.Err() != nil && errors.Is(context.Cause(ctx), errSidecarShutdown)
}

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
)

// proxy is the inbound request path: extract context, start the server span,
// forward to the app through httputil.ReverseProxy, then record metrics,
// span and access log. All per-request state lives in one reqState.
type proxy struct {
	target *url.URL
	rp     *httputil.ReverseProxy
	prop   *propagation.Propagation
	tracer trace.Tracer
	// tracker knows the requests in flight for the backend proxies'
	// attribution; nil when no backend proxy runs.
	tracker   *backend.Tracker
	metrics   *metrics
	routes    *routeNamer
	redactor  *queryRedactor
	access    *accesslog.Logger // nil when access logs are off
	service   string
	tao       string
	upTimeout time.Duration
	// bodyTimeout is --request-body-timeout: the longest wait for each
	// read of an HTTP/1.x request body; 0: none.
	bodyTimeout time.Duration
	draining    *atomic.Bool
	exemplars   exemplarLimiter
	// active counts the handlers running (probes and upgraded connections
	// included), so that Shutdown can wait for them and say how many it cut.
	active atomic.Int64
}

type stateKey struct{}

// reqState is one request's state. It is also the request's context (it
// embeds the parent and answers stateKey), which saves an allocation per
// request and lets the transport and error handler find it.
type reqState struct {
	context.Context
	p *proxy

	start, appStart, appHeaders, appEnd time.Time

	span       trace.Span
	sc         trace.SpanContext
	trackID    uint64 // in the backend tracker, when there is one
	traceID    string // hex, formatted once
	source     propagation.Source
	route      string
	requestID  string
	queueTime  time.Duration
	hasQueue   bool
	upstreamSC int // status the app answered
	errKind    string
	clientGone bool
	// closeConn ends the connection after the response: a request with
	// both Content-Length and Transfer-Encoding (RFC 9112 §6.3), or one
	// whose raw head could not be checked (rawhead.go).
	closeConn   bool
	rw          respWriter
	body        timedBody
	reqBody     countingBody
	serverTimer [160]byte
	rec         accesslog.Record
}

func (s *reqState) Value(k any) any {
	if k == (stateKey{}) {
		return s
	}
	return s.Context.Value(k)
}

func stateFrom(ctx context.Context) *reqState {
	st, _ := ctx.Value(stateKey{}).(*reqState)
	return st
}

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.active.Add(1)
	defer p.active.Add(-1)
	head := checkHead(r) // headPlain but for suspicious chunked HTTP/1.x requests
	if probe := probeKind(r.Header.Get("User-Agent")); probe != "" {
		if head != headPlain {
			w.Header().Set("Connection", "close")
		}
		if head == headFoldedTE {
			http.Error(w, "Transfer-Encoding folded over lines", http.StatusBadRequest)
			return
		}
		p.serveProbe(w, r, probe)
		return
	}
	st := &reqState{p: p, start: time.Now(), closeConn: head != headPlain}
	p.metrics.inflight.Inc()

	ctx, src := p.prop.Extract(r.Context(), r.Header)
	st.source = src
	st.route = p.routes.Route(r.URL.Path)
	ctx, st.span = p.tracer.Start(ctx, spanName(r.Method, st.route),
		trace.WithSpanKind(trace.SpanKindServer), trace.WithTimestamp(st.start))
	st.sc = st.span.SpanContext()
	st.traceID = st.sc.TraceID().String()
	if p.tracker != nil {
		st.trackID = p.tracker.EnterID(st.sc)
	}
	st.Context = ctx

	if st.requestID = r.Header.Get(headerRequestID); st.requestID == "" {
		st.requestID = st.traceID
	}
	v := r.Header.Get(headerRequestStart)
	if v == "" {
		v = r.Header.Get(headerQueueStart)
	}
	if v != "" {
		st.queueTime, st.hasQueue = queuetime.Parse(v, st.start)
	}

	out := r.WithContext(st)
	if r.Body != nil && r.Body != http.NoBody {
		st.reqBody.rc = r.Body
		if p.bodyTimeout > 0 && r.ProtoMajor == 1 {
			// HTTP/1.x only: an HTTP/2 stream's deadline is a timer that
			// fires even while the sidecar is not reading (the app is
			// slow to take the body), and a gRPC client stream may be
			// quiet by design; flow control bounds what it holds.
			if d := readDeadliner(w); d != nil {
				st.reqBody.idle, st.reqBody.dl = p.bodyTimeout, d
			}
		}
		out.Body = &st.reqBody
	}
	st.rw = respWriter{ResponseWriter: w}
	defer p.finish(st, r)
	if head == headFoldedTE {
		// Refused, not forwarded: another parser could read its length
		// differently (RFC 9112 §5.2 lets a server answer 400).
		p.writeError(&st.rw, st, errorBody{Status: http.StatusBadRequest, Error: ErrorBadRequestHeader,
			Message: "Transfer-Encoding folded over two lines (obs-fold) is refused"})
		return
	}
	p.rp.ServeHTTP(&st.rw, out)
}

// waitIdle returns once no handler runs, or with ctx's error.
func (p *proxy) waitIdle(ctx context.Context) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for p.active.Load() > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

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

	method := methodLabel(r.Method)
	code := codeLabel(status)
	p.metrics.requests.WithLabelValues(directionInbound, method, st.route, code).Inc()
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
		p.spanAttributes(st, r, query, status, app, overhead)
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

// Span attribute names. The collector reads the hopscope.* ones; the
// README documents all of them.
const (
	AttrRequestID   = "hopscope.request_id"
	AttrXRayRoot    = "hopscope.xray_root"
	AttrQueueTimeMS = "hopscope.queue_time_ms"
	AttrAppDuration = "hopscope.app_duration_ms"
	AttrOverhead    = "hopscope.overhead_ms"
	AttrAppStart    = "hopscope.app_start_ms"
	AttrPropagation = "hopscope.propagation"
	AttrComponent   = "hopscope.component"
)

func (p *proxy) spanAttributes(st *reqState, r *http.Request, query string, status int, app, overhead time.Duration) {
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
		attribute.String("http.request.method", method),
		attribute.String("http.route", route),
		attribute.String("url.path", path),
		attribute.String("url.scheme", schemeOf(r)),
		attribute.String("client.address", hostOnly(r.RemoteAddr)),
		attribute.String("user_agent.original", r.Header.Get("User-Agent")),
		attribute.Int("http.response.status_code", status),
		attribute.String(AttrRequestID, st.requestID),
		attribute.String(AttrPropagation, string(st.source)),
		attribute.Float64(AttrAppDuration, ms(app)),
		attribute.Float64(AttrOverhead, ms(overhead)),
	)
	// server.address is the host the client asked for (Host, :authority)
	// without the port; server.port the port when the client named one.
	if host, port := splitHost(r.Host); host != "" {
		a = append(a, attribute.String("server.address", host))
		if port > 0 {
			a = append(a, attribute.Int("server.port", port))
		}
	}
	if !st.appStart.IsZero() {
		a = append(a, attribute.Float64(AttrAppStart, ms(st.appStart.Sub(st.start))))
	}
	if query != "" {
		a = append(a, attribute.String("url.query", query))
	}
	if r.ProtoMajor != 1 || r.ProtoMinor != 1 {
		// HTTP/1.1 is the default; other versions are worth a look.
		a = append(a, attribute.String("network.protocol.version", protoVersion(r)))
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
		a = append(a, attribute.String("error.type", st.errKind))
	}
	st.span.SetAttributes(a...)
	if status >= 500 {
		st.span.SetStatus(codes.Error, st.errKind)
	}
}

// maxUnrecordedURI is how many bytes of the request URI a span may keep in
// memory without recording them (spanFixedCost allows for them).
const maxUnrecordedURI = 256

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func spanName(method, route string) string {
	return methodLabel(method) + " " + route
}

func schemeOf(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
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

func hostOnly(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
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
// recorded.
func xrayRoot(h string) string {
	for h != "" {
		var part string
		part, h, _ = strings.Cut(h, ";")
		k, v, ok := strings.Cut(part, "=")
		// Spaces and tabs only, as correlate/xray trims (and the
		// propagator reads the header): not every Unicode space.
		if !ok || strings.Trim(k, " \t") != "Root" {
			continue
		}
		if v = strings.Trim(v, " \t"); validXRayRoot(v) {
			return strings.ToLower(v)
		}
		return ""
	}
	return ""
}

// validXRayRoot reports whether r is 1-<8 hex>-<24 hex> with a trace id
// that is not all zeros, as correlate/xray parses it.
func validXRayRoot(r string) bool { return tracectx.ValidXRayRoot(r) }

// rewrite prepares the request to the app. pr.In is never modified.
func (p *proxy) rewrite(pr *httputil.ProxyRequest) {
	pr.SetURL(p.target)
	pr.Out.Host = pr.In.Host // the app sees the Host the client asked for
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

// modifyResponse stamps Server-Timing on the app's response.
func (p *proxy) modifyResponse(res *http.Response) error {
	st := stateFrom(res.Request.Context())
	if st == nil {
		return nil
	}
	st.upstreamSC = res.StatusCode
	p.stampResponse(st, res.Header, time.Now())
	return nil
}

func (p *proxy) stampResponse(st *reqState, h http.Header, now time.Time) {
	h.Add(headerServerTiming, st.serverTiming(now))
	if p.tao != "" {
		h.Set(headerTimingAllow, p.tao)
	}
	if p.draining.Load() || st.closeConn {
		h.Set("Connection", "close") // move keep-alive clients to other pods; end a suspicious connection
	}
}

// serverTiming renders `traceparent;desc="00-…-…-01", app;dur=…, sidecar;dur=…`
// as known when the response headers leave: app = the app's time to
// response headers, sidecar = the rest so far.
func (st *reqState) serverTiming(now time.Time) string {
	b := st.serverTimer[:0]
	b = append(b, `traceparent;desc="00-`...)
	tid, sid := st.sc.TraceID(), st.sc.SpanID()
	b = appendHex(b, tid[:])
	b = append(b, '-')
	b = appendHex(b, sid[:])
	if st.sc.IsSampled() {
		b = append(b, `-01"`...)
	} else {
		b = append(b, `-00"`...)
	}
	var app time.Duration
	if !st.appStart.IsZero() && !st.appHeaders.IsZero() {
		app = st.appHeaders.Sub(st.appStart)
		b = append(b, ", app;dur="...)
		b = appendMS(b, app)
	}
	b = append(b, ", sidecar;dur="...)
	b = appendMS(b, now.Sub(st.start)-app)
	return string(b)
}

const hexDigits = "0123456789abcdef"

func appendHex(b, src []byte) []byte {
	for _, c := range src {
		b = append(b, hexDigits[c>>4], hexDigits[c&0xf])
	}
	return b
}

// appendMS writes d in milliseconds with three decimals.
func appendMS(b []byte, d time.Duration) []byte {
	if d < 0 {
		d = 0
	}
	us := d.Microseconds()
	b = appendUint(b, uint64(us/1000))
	frac := us % 1000
	return append(b, '.', byte('0'+frac/100), byte('0'+frac/10%10), byte('0'+frac%10))
}

func appendUint(b []byte, v uint64) []byte {
	var tmp [20]byte
	i := len(tmp)
	for {
		i--
		tmp[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			break
		}
	}
	return append(b, tmp[i:]...)
}

// errorBody is the short JSON body of a response the sidecar makes itself.
type errorBody struct {
	Status  int    `json:"status"`
	Error   string `json:"error"`
	Message string `json:"message"`
	TraceID string `json:"trace_id,omitempty"`
}

// errorHandler turns a failed round trip into 502 (app unreachable), 504
// (app too slow), 503 sidecar_shutdown (cut at the end of the drain) or,
// when the client went away, a recorded 499.
func (p *proxy) errorHandler(w http.ResponseWriter, r *http.Request, err error) {
	st := stateFrom(r.Context())
	if st != nil && st.reqBody.timedOut.Load() {
		// The client stopped sending its body: the read that waited past
		// --request-body-timeout failed and the request to the app was
		// cancelled with the connection's context. The client hears why;
		// the connection's framing is lost.
		w.Header().Set("Connection", "close")
		p.writeError(w, st, errorBody{Status: http.StatusRequestTimeout, Error: ErrorRequestBodyTimeout,
			Message: fmt.Sprintf("no byte of the request body arrived for %s (--request-body-timeout)", p.bodyTimeout)})
		return
	}
	if cutByShutdown(r.Context()) {
		p.writeError(w, st, errorBody{Status: StatusSidecarShutdown, Error: ErrorSidecarShutdown,
			Message: "the sidecar is shutting down: the request did not finish within --drain-timeout"})
		return
	}
	var bre h1.BodyReadError
	if errors.As(err, &bre) && malformedBody(r, bre.Err) {
		// The client is there and sent a body that cannot be read: its
		// mistake, which it is told; the connection's framing is lost.
		w.Header().Set("Connection", "close")
		p.writeError(w, st, errorBody{Status: http.StatusBadRequest, Error: ErrorBadRequestBody,
			Message: fmt.Sprintf("the request body could not be read: %v", bre.Err)})
		return
	}
	if (r.Context().Err() != nil && errors.Is(err, context.Canceled)) || errors.As(err, &bre) {
		// The client went away, before the answer or in the middle of
		// sending its body: not the app's fault. Nobody is listening, and
		// no answer is made up for a half-closed connection either: the
		// response is aborted (finish records the 499).
		if st != nil {
			st.clientGone = true
			st.errKind = "client_closed"
		}
		panic(http.ErrAbortHandler)
	}
	body := errorBody{Status: http.StatusBadGateway, Error: "app_unreachable",
		Message: fmt.Sprintf("the sidecar could not reach the app at %s: %v", p.target.Host, rootCause(err))}
	var op *net.OpError
	var ne net.Error
	switch {
	case errors.As(err, &op) && op.Op == "dial":
	case errors.As(err, &ne) && ne.Timeout(), errors.Is(err, context.DeadlineExceeded):
		body.Status, body.Error = http.StatusGatewayTimeout, "app_timeout"
		body.Message = fmt.Sprintf("the app at %s did not answer within %s (--upstream-timeout)", p.target.Host, p.upTimeout)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		body.Error = "app_closed_connection"
		body.Message = fmt.Sprintf("the app at %s closed the connection without a response", p.target.Host)
	}
	p.writeError(w, st, body)
}

// ErrorBadRequestBody is the error of a 400 for a request body that could
// not be read (a malformed chunked encoding).
const ErrorBadRequestBody = "bad_request_body"

// ErrorRequestBodyTimeout is the error of a 408 for a request whose body
// stopped arriving for --request-body-timeout.
const ErrorRequestBodyTimeout = "request_body_timeout"

// ErrorBadRequestHeader is the error of a 400 for a request head the
// sidecar refuses to forward (a Transfer-Encoding folded over lines).
const ErrorBadRequestHeader = "bad_request_header"

// malformedBody reports whether a failure to read the request body is the
// body's own fault — an HTTP/1.1 chunked encoding net/http could not parse
// (a bad chunk size, no CRLF after a chunk, a bad trailer) — rather than the
// client going away: a body that ends early, a reset or closed connection.
func malformedBody(r *http.Request, err error) bool {
	if r.ProtoMajor != 1 || !slices.Contains(r.TransferEncoding, "chunked") {
		return false
	}
	var ne net.Error
	return !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) &&
		!errors.Is(err, context.Canceled) && !errors.As(err, &ne)
}

// writeError answers with the sidecar's own JSON error body.
func (p *proxy) writeError(w http.ResponseWriter, st *reqState, body errorBody) {
	if st != nil {
		st.errKind = body.Error
		body.TraceID = st.traceID
		p.stampResponse(st, w.Header(), time.Now())
	}
	b, _ := json.Marshal(body)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(body.Status)
	_, _ = w.Write(append(b, '\n'))
}

func rootCause(err error) error {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err
		}
		var op *net.OpError
		if errors.As(err, &op) {
			return op
		}
		err = u
	}
}

// probeKind names the health checker a User-Agent belongs to, or "".
func probeKind(ua string) string {
	switch {
	case strings.HasPrefix(ua, "kube-probe/"):
		return "kube-probe"
	case strings.HasPrefix(ua, "ELB-HealthChecker/"):
		return "elb"
	}
	return ""
}

// serveProbe proxies a health check without span, log or latency metrics.
func (p *proxy) serveProbe(w http.ResponseWriter, r *http.Request, probe string) {
	rw := &respWriter{ResponseWriter: w}
	defer func() {
		status := rw.status
		if status == 0 {
			status = http.StatusBadGateway
		}
		p.metrics.healthchecks.WithLabelValues(probe, codeLabel(status)).Inc()
	}()
	p.rp.ServeHTTP(rw, r)
}

// respWriter records the status and bytes written to the client.
type respWriter struct {
	http.ResponseWriter
	status int
	n      int64
}

func (w *respWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
		// Never invent a Content-Type the app did not send: a nil value
		// stops net/http from sniffing one.
		if h := w.Header(); h["Content-Type"] == nil {
			h["Content-Type"] = nil
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *respWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.n += int64(n)
	return n, err
}

// Flush forwards at once (SSE, streaming); Unwrap lets
// http.ResponseController reach Hijack and deadlines.
func (w *respWriter) Flush() { _ = http.NewResponseController(w.ResponseWriter).Flush() }

func (w *respWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// countingBody counts request body bytes and, when idle is set, bounds
// the wait for each read (--request-body-timeout): the inbound
// connection's read deadline is moved to idle from now before every read,
// as nginx's client_body_timeout, so only a client that stops sending is
// cut, never a long upload that keeps coming. net/http clears the deadline
// once the body is read (its background read) and sets its own for the
// next request. A read past the deadline fails, and net/http cancels the
// request's context with it, which cancels the request to the app.
type countingBody struct {
	rc   io.ReadCloser
	n    int64
	idle time.Duration
	dl   readDeadline // the inbound connection's
	eof  bool
	// timedOut: a read failed at the deadline. Atomic, as finished: the
	// body is read on the upstream writer's goroutine.
	timedOut atomic.Bool
	// finished: the handler returned, and the connection's deadlines are
	// net/http's again (http.Transport may still read, and fail on, the
	// closed body from its own goroutine).
	finished atomic.Bool
}

func (b *countingBody) Read(p []byte) (int, error) {
	if b.idle > 0 && !b.eof && !b.finished.Load() {
		_ = b.dl.SetReadDeadline(time.Now().Add(b.idle))
	}
	n, err := b.rc.Read(p)
	b.n += int64(n)
	if err != nil {
		if err == io.EOF {
			b.eof = true
		} else if b.idle > 0 && errors.Is(err, os.ErrDeadlineExceeded) {
			b.timedOut.Store(true)
		}
	}
	return n, err
}

func (b *countingBody) Close() error { return b.rc.Close() }

// readDeadline is what sets a connection's read deadline: net/http's
// HTTP/1.x response (http.ResponseController's SetReadDeadline).
type readDeadline interface{ SetReadDeadline(time.Time) error }

// readDeadliner finds w's readDeadline through Unwrap, as
// http.ResponseController does, but once per request and without
// allocating the error it makes for a writer that has none: nil then (a
// handler embedded behind a writer without deadlines is not bounded).
func readDeadliner(w http.ResponseWriter) readDeadline {
	for {
		switch t := w.(type) {
		case readDeadline:
			return t
		case interface{ Unwrap() http.ResponseWriter }:
			w = t.Unwrap()
		default:
			return nil
		}
	}
}

// timedBody notes when the app's response body ended.
type timedBody struct {
	rc io.ReadCloser
	st *reqState
}

func (b *timedBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err == io.EOF && b.st.appEnd.IsZero() {
		b.st.appEnd = time.Now()
	}
	return n, err
}

func (b *timedBody) Close() error {
	if b.st.appEnd.IsZero() {
		b.st.appEnd = time.Now()
	}
	return b.rc.Close()
}
