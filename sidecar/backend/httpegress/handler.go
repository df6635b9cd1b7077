package httpegress

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"time"

	"github.com/hopscope/hopscope/internal/contract"
	"github.com/hopscope/hopscope/sidecar/backend"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// Span attributes of the egress proxy besides the OpenTelemetry HTTP
// client conventions (http.request.method, url.full,
// http.response.status_code, server.address, server.port).
const (
	AttrDNS      = contract.AttrHTTPDNSMS      // DNS lookup, ms (0 when none: an IP, a reused connection)
	AttrConnect  = contract.AttrHTTPConnectMS  // TCP connect, ms (0 on a reused connection)
	AttrTLS      = contract.AttrHTTPTLSMS      // TLS handshake, ms (0 when none)
	AttrTTFB     = contract.AttrHTTPTTFBMS     // from having a connection to the first response byte, ms
	AttrBody     = contract.AttrHTTPBodyMS     // from the response headers to the body's end, ms
	AttrAttempts = contract.AttrHTTPAttempts   // tries of the request, the first included
	AttrReused   = contract.AttrHTTPConnReused // the connection came from the keep-alive pool
	AttrTunnel   = contract.AttrHTTPTunnelMS   // CONNECT: the tunnel's life, ms
)

// call is what the proxy learns of one request as it goes.
type call struct {
	backend.Call
	ex        *exchange
	method    string
	u         *url.URL
	status    int
	attempts  int
	errType   string
	headersAt time.Time
	bodyEnd   time.Time
	respBytes int64
	// an upgraded exchange (101) relays bytes both ways
	upgraded       bool
	sent, received int64
}

// ServeHTTP proxies one request of the app.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if r.Method == http.MethodConnect {
		if p.forward {
			p.tunnel(w, r, start)
			return
		}
		reply(w, http.StatusMethodNotAllowed, p.replies.method, nil)
		return
	}
	u := new(url.URL)
	*u = *r.URL
	u.User, u.Fragment, u.RawFragment = nil, "", ""
	if p.forward {
		if !r.URL.IsAbs() || r.URL.Host == "" || r.URL.Opaque != "" || (r.URL.Scheme != "http" && r.URL.Scheme != "https") {
			reply(w, http.StatusBadRequest, p.replies.notProxy, nil)
			return
		}
		if p.isSelf(r, u.Host, u.Scheme) {
			reply(w, http.StatusLoopDetected, p.replies.loop, nil)
			return
		}
	} else {
		u.Scheme, u.Host, u.Opaque = p.target.Scheme, p.target.Host, ""
	}

	var explicit trace.SpanContext
	tp := r.Header[hTraceparent]
	if len(tp) == 1 { // two or more are invalid, as one malformed is (W3C)
		explicit, _ = parseTraceparent(tp[0])
	}
	c := &call{Call: p.b.BeginTraced(start, explicit), method: r.Method, u: u}
	c.ex = p.getExchange()
	defer p.putExchange(c.ex)

	if p.limiter != nil && !p.limiter.allow(start) {
		p.b.RateLimited()
		reply(w, http.StatusTooManyRequests, p.replies.rateLimited, retryAfterOne)
		c.status, c.errType = http.StatusTooManyRequests, errRateLimited
		p.finish(c, time.Now())
		return
	}

	h, upgrade := forwardHeader(r.Header)
	if upgrade != "" {
		h["Connection"] = connectionUpgrade
		h["Upgrade"] = []string{upgrade}
	}
	if !explicit.IsValid() {
		// A tracestate the app sent goes with its traceparent, missing or
		// invalid: the spec drops it. The call carries on the inbound
		// request's context as a participant: its trace, a new parent id,
		// its tracestate.
		delete(h, hTracestate)
		h[hTraceparent] = []string{formatTraceparent(outgoingContext(c.Call))}
		if ts := c.Call.Tracestate(); ts != "" {
			h[hTracestate] = []string{ts}
		}
	}
	if _, ok := h["User-Agent"]; !ok {
		h["User-Agent"] = noValue // else net/http sends its own
	}

	ctx := r.Context()
	var dl *deadline
	if p.timeout > 0 {
		ctx, dl = withDeadline(ctx, p.timeout)
		defer dl.end()
	}
	out := r.WithContext(httptrace.WithClientTrace(ctx, &c.ex.timing.trace))
	out.URL, out.Host, out.Header, out.RequestURI, out.Close = u, u.Host, h, "", false

	resp := p.roundTrip(ctx, out, c, dl)
	if resp == nil {
		switch c.errType {
		case errCanceled:
			// The app went away (or half-closed): the answer is likely lost,
			// but net/http must not send its default 200 instead.
			reply(w, http.StatusBadGateway, p.replies.badGateway, nil)
		case errTimeout:
			c.status = http.StatusGatewayTimeout
			reply(w, c.status, p.replies.timeout, nil)
		case errCircuitOpen:
			c.status = http.StatusServiceUnavailable
			reply(w, c.status, p.replies.circuitOpen, p.replies.retryAfterOpen)
		default:
			c.status = http.StatusBadGateway
			reply(w, c.status, p.replies.badGateway, nil)
		}
		p.finish(c, time.Now())
		return
	}
	c.headersAt = time.Now()
	if !dl.stop() { // the timeout fired as the headers came
		resp.Body.Close()
		c.status, c.errType = http.StatusGatewayTimeout, errTimeout
		reply(w, c.status, p.replies.timeout, nil)
		p.finish(c, time.Now())
		return
	}
	c.status = resp.StatusCode
	c.errType = statusError(resp.StatusCode)
	if resp.StatusCode == http.StatusSwitchingProtocols {
		p.switchProtocols(w, r, resp, c)
		p.finish(c, time.Now())
		return
	}
	p.respond(w, r, resp, c)
	p.finish(c, time.Now())
}

// forwardHeader is the request's header without its hop-by-hop fields, and
// the protocol an Upgrade asks for.
func forwardHeader(in http.Header) (http.Header, string) {
	h := make(http.Header, len(in)+2)
	for k, v := range in {
		h[k] = v
	}
	return h, removeHopByHop(h)
}

// replayable is whether the request's body can be sent again.
func replayable(r *http.Request) bool {
	return r.Body == nil || r.Body == http.NoBody || r.GetBody != nil
}

// roundTrip sends out, within the retry and circuit breaker policies; nil
// with c.errType set when no response came.
func (p *Proxy) roundTrip(ctx context.Context, out *http.Request, c *call, dl *deadline) *http.Response {
	maxAttempts := 1
	if p.retry != nil {
		p.budget.request(time.Now())
		if idempotent(out.Method) && replayable(out) {
			maxAttempts = p.retry.Attempts
		}
	}
	for c.attempts = 1; ; c.attempts++ {
		trial := false
		if p.breaker != nil {
			ok, t := p.breaker.allow(time.Now())
			if !ok {
				c.errType = errCircuitOpen
				return nil
			}
			trial = t
		}
		if c.attempts > 1 && out.GetBody != nil {
			body, err := out.GetBody()
			if err != nil {
				c.errType = errTransport
				return nil
			}
			out.Body = body
		}
		c.ex.timing.reset()
		resp, err := p.transport.RoundTrip(out)
		v, errType, retryable := judge(ctx, resp, err, dl)
		if p.breaker != nil {
			p.breaker.report(time.Now(), trial, v)
		}
		c.errType = errType
		if !retryable || c.attempts >= maxAttempts || !p.budget.tryRetry(time.Now()) {
			return resp
		}
		if resp != nil {
			io.CopyN(io.Discard, resp.Body, 64<<10) // lets the connection be reused
			resp.Body.Close()
		}
		if !sleep(ctx, p.retry.Backoff<<(c.attempts-1)) {
			c.errType = errCanceled
			if dl.expired() {
				c.errType = errTimeout
			}
			return nil
		}
		p.b.Retried()
	}
}

// judge classifies one attempt: its verdict on the target's health, its
// error type, and whether it may be retried.
func judge(ctx context.Context, resp *http.Response, err error, dl *deadline) (v verdict, errType string, retryable bool) {
	if err != nil {
		switch {
		case dl.expired():
			return verdictFailure, errTimeout, false
		case ctx.Err() != nil:
			return verdictNone, errCanceled, false
		case isDialError(err):
			return verdictFailure, errConnect, true
		case isTLSError(err):
			return verdictFailure, errTLS, false
		default:
			return verdictFailure, errTransport, true
		}
	}
	code := resp.StatusCode
	if code >= 500 {
		return verdictFailure, statusError(code), code == http.StatusBadGateway || code == http.StatusServiceUnavailable || code == http.StatusGatewayTimeout
	}
	return verdictSuccess, statusError(code), false
}

func isTLSError(err error) bool {
	var verify *tls.CertificateVerificationError
	var record tls.RecordHeaderError
	var alert tls.AlertError
	return errors.As(err, &verify) || errors.As(err, &record) || errors.As(err, &alert)
}

func isDialError(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns)
}

// sleep waits d unless ctx ends first.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// respond streams the target's response to the app.
func (p *Proxy) respond(w http.ResponseWriter, r *http.Request, resp *http.Response, c *call) {
	defer resp.Body.Close()
	dst := w.Header()
	for k, v := range resp.Header {
		dst[k] = v
	}
	removeHopByHop(dst)
	// net/http would otherwise add a sniffed Content-Type and a Date the
	// target did not send.
	if _, ok := resp.Header["Content-Type"]; !ok {
		dst["Content-Type"] = noValue
	}
	if _, ok := resp.Header["Date"]; !ok {
		dst["Date"] = noValue
	}
	if len(resp.Trailer) > 0 {
		keys := make([]string, 0, len(resp.Trailer))
		for k := range resp.Trailer {
			keys = append(keys, k)
		}
		dst["Trailer"] = keys
	}
	w.WriteHeader(resp.StatusCode)

	var flusher http.Flusher
	if resp.ContentLength < 0 { // a stream: pass each piece on as it comes
		flusher, _ = w.(http.Flusher)
		if flusher != nil {
			flusher.Flush()
		}
	}
	n, rerr, werr := copyBody(w, resp.Body, c.ex.buf, flusher)
	c.bodyEnd, c.respBytes = time.Now(), n
	switch {
	case werr != nil:
		c.errType = errCanceled
	case rerr != nil:
		if r.Context().Err() != nil {
			c.errType = errCanceled
			return
		}
		// The app must not take a truncated body for a whole one.
		c.errType = errBody
		abort(w)
		return
	}
	for k, v := range resp.Trailer {
		dst[http.TrailerPrefix+k] = v
	}
}

// copyBody copies src to w through buf, flushing after each piece when
// flusher is set; it tells read errors from write errors.
func copyBody(w io.Writer, src io.Reader, buf []byte, flusher http.Flusher) (n int64, rerr, werr error) {
	for {
		nr, er := src.Read(buf)
		if nr > 0 {
			nw, ew := w.Write(buf[:nr])
			n += int64(nw)
			if ew == nil && nw != nr {
				ew = io.ErrShortWrite
			}
			if ew != nil {
				return n, nil, ew
			}
			if flusher != nil {
				flusher.Flush()
			}
		}
		if er == io.EOF {
			return n, nil, nil
		}
		if er != nil {
			return n, er, nil
		}
	}
}

// abort closes the app's connection mid-response.
func abort(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	conn.Close()
	release(conn)
}

// finish records the call.
func (p *Proxy) finish(c *call, end time.Time) {
	attrs := c.ex.attrs[:0]
	method := c.method
	if _, ok := methodNames[method]; !ok {
		attrs = append(attrs, attribute.String(contract.AttrHTTPRequestMethodOrig, method))
		method = "_OTHER"
	}
	attrs = append(attrs,
		attribute.String(contract.AttrHTTPRequestMethod, method),
		attribute.String(contract.AttrURLFull, redactedURL(c.u)))
	if c.status > 0 {
		attrs = append(attrs, attribute.Int(contract.AttrHTTPResponseStatusCode, c.status))
	}
	dns, connect, tlsMs, ttfb := c.ex.timing.phases()
	var body float64
	if !c.headersAt.IsZero() && c.bodyEnd.After(c.headersAt) {
		body = float64(c.bodyEnd.Sub(c.headersAt)) / 1e6
	}
	attrs = append(attrs,
		attribute.Float64(AttrDNS, dns),
		attribute.Float64(AttrConnect, connect),
		attribute.Float64(AttrTLS, tlsMs),
		attribute.Float64(AttrTTFB, ttfb),
		attribute.Float64(AttrBody, body),
		attribute.Int(AttrAttempts, c.attempts),
		attribute.Bool(AttrReused, c.ex.timing.reused.Load()),
	)
	if c.respBytes > 0 {
		attrs = append(attrs, attribute.Int64(contract.AttrHTTPResponseBodySize, c.respBytes))
	}
	if c.upgraded {
		attrs = append(attrs,
			attribute.Int64(contract.AttrNetworkIOSentBytes, c.sent),
			attribute.Int64(contract.AttrNetworkIOReceivedBytes, c.received))
	}
	if p.forward {
		attrs = appendServer(attrs, c.u.Hostname(), c.u.Port(), c.u.Scheme)
	}
	c.Finish(end, backend.Op{Name: opName(c.method), Error: c.errType, Attrs: attrs})
	c.ex.attrs = attrs
}

// appendServer adds server.address and server.port (the scheme's default
// when the URL has none).
func appendServer(attrs []attribute.KeyValue, host, port, scheme string) []attribute.KeyValue {
	attrs = append(attrs, attribute.String(contract.AttrServerAddress, host))
	n, err := strconv.Atoi(port)
	if err != nil {
		switch scheme {
		case "https":
			n = 443
		case "http":
			n = 80
		}
	}
	if n > 0 {
		attrs = append(attrs, attribute.Int(contract.AttrServerPort, n))
	}
	return attrs
}

// isSelf reports whether hostport (of a URL of scheme, or a CONNECT
// authority when scheme is "") names the proxy's own listener: forwarding
// it would loop until the sockets run out.
func (p *Proxy) isSelf(r *http.Request, hostport, scheme string) bool {
	la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok {
		return false
	}
	tcp, ok := la.(*net.TCPAddr)
	if !ok {
		return false
	}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		host, port = hostport, "80"
		if scheme == "https" {
			port = "443"
		}
	}
	if n, err := strconv.Atoi(port); err != nil || n != tcp.Port {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && (ip.IsLoopback() || ip.IsUnspecified() || ip.Equal(tcp.IP))
}
