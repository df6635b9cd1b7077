package h1

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"
)

// Client is a lean HTTP/1.1 client for the one thing the sidecar does
// most: a request to the app on localhost over a kept-alive connection.
// Unlike http.Transport it writes the request and reads the response on the
// caller's goroutine (no per-connection read and write loops, no channel
// hand-offs), which is most of the stock ReverseProxy's cost per request.
// Upgrades, h2c and anything unusual still go through http.Transport.
type Client struct {
	addr          string // host:port of the app
	dialer        net.Dialer
	headerTimeout time.Duration
	maxIdle       int

	mu   sync.Mutex
	idle []*conn // LIFO: the warmest connection first
}

// Config is what a Client is told about the app.
type Config struct {
	// Addr is the app's host:port.
	Addr string
	// HeaderTimeout bounds the wait for the response head, counted from
	// the end of the request body (the sidecar's --upstream-timeout); 0:
	// no bound.
	HeaderTimeout time.Duration
	// MaxIdle is how many idle connections the pool keeps.
	MaxIdle int
}

// New returns a Client for the app at cfg.Addr. It dials on demand.
func New(cfg Config) *Client {
	return &Client{
		addr:          cfg.Addr,
		dialer:        net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second},
		headerTimeout: cfg.HeaderTimeout,
		maxIdle:       cfg.MaxIdle,
	}
}

// Handles reports whether the fast path can carry req.
func (c *Client) Handles(req *http.Request) bool {
	return req.URL.Scheme == "http" && req.Header.Get("Upgrade") == "" && req.Method != http.MethodConnect
}

// aliveCheckAfter is how long a connection must have been idle before get
// checks it is alive. Apps close idle connections after seconds (Node 5 s,
// gunicorn 2 s); one that closes sooner says so with Connection: close.
// Under load connections come back within microseconds, and the check (a
// syscall, ~1-2 µs) is skipped there, where it would cost the most.
const aliveCheckAfter = time.Millisecond

// get returns a pooled connection that is still alive, else a new one.
func (c *Client) get(ctx context.Context) (*conn, error) {
	for {
		c.mu.Lock()
		n := len(c.idle)
		if n == 0 {
			c.mu.Unlock()
			break
		}
		pc := c.idle[n-1]
		c.idle[n-1] = nil
		c.idle = c.idle[:n-1]
		c.mu.Unlock()
		if time.Since(pc.idleSince) < aliveCheckAfter || pc.alive() {
			return pc, nil
		}
		pc.c.Close()
	}
	nc, err := c.dialer.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return nil, err
	}
	return newConn(nc), nil
}

func (c *Client) put(pc *conn) {
	pc.reused = true
	pc.idleSince = time.Now()
	c.mu.Lock()
	if len(c.idle) < c.maxIdle {
		c.idle = append(c.idle, pc)
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	pc.c.Close()
}

// CloseIdleConnections closes every pooled connection.
func (c *Client) CloseIdleConnections() {
	c.mu.Lock()
	idle := c.idle
	c.idle = nil
	c.mu.Unlock()
	for _, pc := range idle {
		pc.c.Close()
	}
}

// RoundTrip sends req and returns the response whose Body, once read to
// EOF and closed, returns the connection to the pool.
func (c *Client) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	for attempt := 0; ; attempt++ {
		pc, err := c.get(ctx)
		if err != nil {
			return nil, err
		}
		res, err := c.roundTrip(ctx, pc, req)
		if err == nil {
			return res, nil
		}
		pc.c.Close()
		var se staleError
		if errors.As(err, &se) {
			if attempt == 0 && (se.unsent || canReplay(req)) {
				continue
			}
			err = se.err
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
}

// canReplay follows http.Transport: no body to resend, and a method that
// is idempotent or marked so with an Idempotency-Key header.
func canReplay(req *http.Request) bool {
	if req.Body != nil && req.Body != http.NoBody {
		return false
	}
	switch req.Method {
	case "GET", "HEAD", "OPTIONS", "TRACE":
		return true
	}
	_, keyed := req.Header["Idempotency-Key"]
	return keyed
}
