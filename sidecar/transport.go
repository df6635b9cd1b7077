package sidecar

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hopscope/hopscope/sidecar/internal/h1"
)

// timedTransport picks the protocol to the app and notes when the request
// was forwarded and when the app's response headers arrived.
type timedTransport struct {
	fast    *h1.Client        // plain HTTP/1.1 requests
	h1, h2c http.RoundTripper // upgrades and the rest; gRPC and h2c
	mode    string            // auto, http1, h2c
}

func newTimedTransport(cfg *Config) *timedTransport {
	u, _ := url.Parse(cfg.Upstream)
	fast := h1.New(h1.Config{Addr: hostPort(u), HeaderTimeout: cfg.UpstreamTimeout, MaxIdle: cfg.MaxIdleConnsPerHost})
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	base := func() *http.Transport {
		return &http.Transport{
			Proxy:                  nil, // the app is local; HTTP_PROXY is for the app's egress, not us
			DialContext:            dialer.DialContext,
			MaxIdleConns:           cfg.MaxIdleConnsPerHost,
			MaxIdleConnsPerHost:    cfg.MaxIdleConnsPerHost,
			IdleConnTimeout:        90 * time.Second,
			ResponseHeaderTimeout:  cfg.UpstreamTimeout,
			ExpectContinueTimeout:  time.Second,
			DisableCompression:     true, // bytes pass through as the app wrote them
			MaxResponseHeaderBytes: 1 << 20,
			WriteBufferSize:        16 << 10,
			ReadBufferSize:         16 << 10,
		}
	}
	h1 := base()
	h1.Protocols = new(http.Protocols)
	h1.Protocols.SetHTTP1(true)
	h2c := base()
	h2c.Protocols = new(http.Protocols)
	h2c.Protocols.SetUnencryptedHTTP2(true)
	return &timedTransport{
		fast: fast,
		h1:   h1, h2c: h2c, mode: cfg.UpstreamProtocol,
	}
}

// hostPort is u's host with the scheme's default port made explicit.
func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	if u.Scheme == "https" {
		return net.JoinHostPort(u.Hostname(), "443")
	}
	return net.JoinHostPort(u.Hostname(), "80")
}

// pick chooses the round tripper for req. In auto mode gRPC arriving over
// HTTP/2 goes to the app over h2c, everything else over HTTP/1.1.
func (t *timedTransport) pick(req *http.Request) http.RoundTripper {
	switch {
	case t.mode == "h2c":
		return t.h2c
	case t.mode == "auto" && req.ProtoMajor == 2 && strings.HasPrefix(req.Header.Get("Content-Type"), "application/grpc"):
		return t.h2c
	case t.fast.Handles(req):
		return t.fast
	default:
		return t.h1
	}
}

func (t *timedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	rt := t.pick(req)
	st := stateFrom(req.Context())
	if st == nil {
		return rt.RoundTrip(req)
	}
	st.appStart = time.Now()
	res, err := rt.RoundTrip(req)
	st.appHeaders = time.Now()
	if err != nil {
		if neverReached(err) {
			// The time went into dialing: the app spent none, and
			// Server-Timing, app_ms and the span report none.
			st.appStart, st.appHeaders = time.Time{}, time.Time{}
		}
		return nil, err
	}
	// A 101's body is the raw upgraded connection: ReverseProxy needs it
	// as an io.ReadWriteCloser, so it is left unwrapped.
	if res.StatusCode != http.StatusSwitchingProtocols && res.Body != nil {
		st.body = timedBody{rc: res.Body, st: st}
		res.Body = &st.body
	}
	return res, nil
}

// neverReached reports whether err is a failure to connect to the app.
func neverReached(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

func (t *timedTransport) CloseIdleConnections() {
	for _, rt := range []http.RoundTripper{t.fast, t.h1, t.h2c} {
		if c, ok := rt.(interface{ CloseIdleConnections() }); ok {
			c.CloseIdleConnections()
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
