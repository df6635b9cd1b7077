package sidecar

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/hopscope/hopscope/correlate/queuetime"
	"github.com/hopscope/hopscope/sidecar/accesslog"
	"github.com/hopscope/hopscope/sidecar/backend"
	"github.com/hopscope/hopscope/sidecar/propagation"
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
	// idFromRequestID is --trace-id-from-request-id (requestid.go).
	idFromRequestID bool
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
	// res is the app's response (nil when none came): a gRPC call's
	// status is in its trailers, which arrive with the body's end.
	res        *http.Response
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
	if src == propagation.SourceNone && p.idFromRequestID {
		ctx = traceIDFromRequestID(ctx, r.Header.Get(headerRequestID))
	}
	st.source = src
	st.route = p.routes.Route(r.URL.Path)
	ctx, st.span = p.tracer.Start(ctx, spanName(r.Method, st.route),
		trace.WithSpanKind(trace.SpanKindServer), trace.WithTimestamp(st.start))
	st.sc = st.span.SpanContext()
	st.traceID = st.sc.TraceID().String()
	if p.tracker != nil {
		st.trackID = p.tracker.EnterRequest(st.sc, p.prop.OutboundTracestate(ctx, st.sc), st.route, r.URL.Path)
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
