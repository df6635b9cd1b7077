package httpegress

import (
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/hopscope/hopscope/internal/contract"
	"github.com/hopscope/hopscope/sidecar/backend"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

var connectEstablished = []byte("HTTP/1.1 200 Connection established\r\n\r\n")

// tunnel serves CONNECT host:port: it dials the destination (timing DNS
// and connect apart), answers 200 and relays the bytes opaque both ways;
// the tunnel is one call, "CONNECT", with its life and bytes.
func (p *Proxy) tunnel(w http.ResponseWriter, r *http.Request, start time.Time) {
	host, port, err := net.SplitHostPort(r.Host)
	if err != nil || host == "" || port == "" {
		reply(w, http.StatusBadRequest, p.replies.notProxy, nil)
		return
	}
	if p.isSelf(r, r.Host, "") {
		reply(w, http.StatusLoopDetected, p.replies.loop, nil)
		return
	}
	var explicit trace.SpanContext
	if tp := r.Header[hTraceparent]; len(tp) == 1 { // two or more are invalid (W3C)
		explicit, _ = parseTraceparent(tp[0])
	}
	c := p.b.Begin(start, explicit)
	op := backend.Op{Name: "CONNECT"}
	var attrs [10]attribute.KeyValue
	op.Attrs = append(attrs[:0], attribute.String(contract.AttrHTTPRequestMethod, http.MethodConnect))
	op.Attrs = appendServer(op.Attrs, host, port, "")
	finish := func(status int, errType string) {
		if status > 0 {
			op.Attrs = append(op.Attrs, attribute.Int(contract.AttrHTTPResponseStatusCode, status))
		}
		op.Error = errType
		c.Finish(time.Now(), op)
	}

	if p.limiter != nil && !p.limiter.allow(start) {
		p.b.RateLimited()
		reply(w, http.StatusTooManyRequests, p.replies.rateLimited, retryAfterOne)
		finish(http.StatusTooManyRequests, errRateLimited)
		return
	}
	trial := false
	if p.breaker != nil {
		ok, t := p.breaker.allow(time.Now())
		if !ok {
			reply(w, http.StatusServiceUnavailable, p.replies.circuitOpen, p.replies.retryAfterOpen)
			finish(http.StatusServiceUnavailable, errCircuitOpen)
			return
		}
		trial = t
	}

	ctx := r.Context()
	var dl *deadline
	if p.timeout > 0 {
		ctx, dl = withDeadline(ctx, p.timeout)
		defer dl.end()
	}
	up, dnsMs, connectMs, err := p.dialTimed(ctx, host, port)
	op.Attrs = append(op.Attrs, attribute.Float64(AttrDNS, dnsMs), attribute.Float64(AttrConnect, connectMs))
	if err == nil && !dl.stop() {
		up.Close()
		up, err = nil, context.DeadlineExceeded
	}
	if err != nil {
		v, status, errType, body := verdictFailure, http.StatusBadGateway, errConnect, p.replies.badGateway
		switch {
		case dl.expired():
			status, errType, body = http.StatusGatewayTimeout, errTimeout, p.replies.timeout
		case r.Context().Err() != nil:
			v, errType = verdictNone, errCanceled
		}
		if p.breaker != nil {
			p.breaker.report(time.Now(), trial, v)
		}
		reply(w, status, body, nil)
		finish(status, errType)
		return
	}
	if p.breaker != nil {
		p.breaker.report(time.Now(), trial, verdictSuccess)
	}
	defer up.Close()

	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil { // not HTTP/1 (cannot happen behind ServeConn)
		reply(w, http.StatusBadGateway, p.replies.badRequest, nil)
		finish(http.StatusBadGateway, errTransport)
		return
	}
	defer release(conn)
	defer conn.Close()
	if tc, ok := conn.(*trackedConn); ok {
		tc.decoded() // the connection is an opaque tunnel from now on
	}
	relayed := p.b.Connected(backend.StateRelayed)
	defer relayed()

	tunnelStart := time.Now()
	if _, err := conn.Write(connectEstablished); err != nil {
		finish(http.StatusOK, errCanceled)
		return
	}
	var early int64
	if n := brw.Reader.Buffered(); n > 0 { // the client did not wait for our 200
		b, _ := brw.Reader.Peek(n)
		m, err := up.Write(b)
		early = int64(m)
		if err != nil {
			finish(http.StatusOK, errTransport)
			return
		}
	}
	sent, received := backend.Pipe(connContext(conn, r.Context()), conn, up)
	op.Attrs = append(op.Attrs,
		attribute.Float64(AttrTunnel, float64(time.Since(tunnelStart))/1e6),
		attribute.Int64(contract.AttrNetworkIOSentBytes, early+sent),
		attribute.Int64(contract.AttrNetworkIOReceivedBytes, received))
	finish(http.StatusOK, "")
}

// dialTimed connects to host:port, timing the DNS lookup and the connect
// apart.
func (p *Proxy) dialTimed(ctx context.Context, host, port string) (conn net.Conn, dnsMs, connectMs float64, err error) {
	var addrs []string
	if ip := net.ParseIP(host); ip != nil {
		addrs = []string{net.JoinHostPort(host, port)}
	} else {
		t := time.Now()
		ips, lerr := p.lookup(ctx, host)
		dnsMs = float64(time.Since(t)) / 1e6
		if lerr != nil {
			return nil, dnsMs, 0, lerr
		}
		for _, ip := range ips {
			addrs = append(addrs, net.JoinHostPort(ip.String(), port))
		}
	}
	t := time.Now()
	err = &net.AddrError{Err: "no address", Addr: host}
	for _, a := range addrs {
		if conn, err = p.dial(ctx, "tcp", a); err == nil {
			break
		}
	}
	return conn, dnsMs, float64(time.Since(t)) / 1e6, err
}

// switchProtocols relays an upgraded exchange (WebSocket, say): the 101
// goes to the app, then bytes flow both ways until either side ends.
func (p *Proxy) switchProtocols(w http.ResponseWriter, r *http.Request, resp *http.Response, c *call) {
	up, ok := resp.Body.(io.ReadWriteCloser)
	if !ok {
		resp.Body.Close()
		c.status, c.errType = http.StatusBadGateway, errTransport
		reply(w, c.status, p.replies.badGateway, nil)
		return
	}
	defer up.Close()
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		c.status, c.errType = http.StatusBadGateway, errTransport
		reply(w, c.status, p.replies.badGateway, nil)
		return
	}
	defer release(conn)
	defer conn.Close()
	if tc, ok := conn.(*trackedConn); ok {
		tc.decoded()
	}
	relayed := p.b.Connected(backend.StateRelayed)
	defer relayed()

	h := resp.Header.Clone()
	proto := resp.Header.Get("Upgrade")
	removeHopByHop(h)
	h["Connection"] = connectionUpgrade
	h["Upgrade"] = []string{proto}
	brw.Writer.WriteString("HTTP/1.1 101 Switching Protocols\r\n")
	h.Write(brw.Writer)
	brw.Writer.WriteString("\r\n")
	if err := brw.Writer.Flush(); err != nil {
		c.errType = errCanceled
		return
	}
	c.upgraded = true
	if n := brw.Reader.Buffered(); n > 0 {
		b, _ := brw.Reader.Peek(n)
		m, err := up.Write(b)
		c.sent = int64(m)
		if err != nil {
			c.errType = errTransport
			return
		}
	}
	sent, received := relay(connContext(conn, r.Context()), conn, up)
	c.sent += sent
	c.received = received
	c.bodyEnd = time.Now()
}

// relay copies both ways between the app's connection and an upgraded
// upstream until either direction ends, then closes both.
func relay(ctx context.Context, client net.Conn, up io.ReadWriteCloser) (sent, received int64) {
	var once sync.Once
	closeBoth := func() { once.Do(func() { client.Close(); up.Close() }) }
	stop := context.AfterFunc(ctx, closeBoth)
	defer stop()
	done := make(chan struct{})
	go func() {
		defer close(done)
		received, _ = io.Copy(client, up)
		closeBoth()
	}()
	sent, _ = io.Copy(up, client)
	closeBoth()
	<-done
	return sent, received
}
