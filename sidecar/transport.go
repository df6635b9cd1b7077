package sidecar

import (
	"net"
	"net/http"
	"time"
)

// timedTransport picks the protocol to the app and notes when the request
// was forwarded and when the app's response headers arrived.
type timedTransport struct {
	h1, h2c http.RoundTripper
	mode    string // auto, http1, h2c
}

func newTimedTransport(cfg *Config) *timedTransport {
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
	return &timedTransport{h1: h1, h2c: h2c, mode: cfg.UpstreamProtocol}
}

func (t *timedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	rt := t.h1
	if t.mode == "h2c" || (t.mode == "auto" && req.ProtoMajor == 2) {
		rt = t.h2c
	}
	st := stateFrom(req.Context())
	if st == nil {
		return rt.RoundTrip(req)
	}
	st.appStart = time.Now()
	res, err := rt.RoundTrip(req)
	st.appHeaders = time.Now()
	if err != nil {
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

func (t *timedTransport) CloseIdleConnections() {
	for _, rt := range []http.RoundTripper{t.h1, t.h2c} {
		if c, ok := rt.(interface{ CloseIdleConnections() }); ok {
			c.CloseIdleConnections()
		}
	}
}
