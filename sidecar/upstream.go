package sidecar

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// h1Client is a lean HTTP/1.1 client for the one thing the sidecar does
// most: a request to the app on localhost over a kept-alive connection.
// Unlike http.Transport it writes the request and reads the response on the
// caller's goroutine (no per-connection read and write loops, no channel
// hand-offs), which is most of the stock ReverseProxy's cost per request.
// Upgrades, h2c and anything unusual still go through http.Transport.
type h1Client struct {
	addr          string // host:port of the app
	dialer        net.Dialer
	headerTimeout time.Duration
	maxIdle       int

	mu   sync.Mutex
	idle []*h1Conn // LIFO: the warmest connection first
}

type h1Conn struct {
	c  net.Conn
	br *bufio.Reader
	bw *bufio.Writer
	// reused is true once the connection served a request; a reused
	// connection may have been closed by the app while idle.
	reused bool
}

func newH1Client(addr string, headerTimeout time.Duration, maxIdle int) *h1Client {
	return &h1Client{
		addr:          addr,
		dialer:        net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second},
		headerTimeout: headerTimeout,
		maxIdle:       maxIdle,
	}
}

// handles reports whether the fast path can carry req.
func (c *h1Client) handles(req *http.Request) bool {
	return req.URL.Scheme == "http" && req.Header.Get("Upgrade") == "" && req.Method != http.MethodConnect
}

func (c *h1Client) get(ctx context.Context) (*h1Conn, error) {
	c.mu.Lock()
	if n := len(c.idle); n > 0 {
		pc := c.idle[n-1]
		c.idle[n-1] = nil
		c.idle = c.idle[:n-1]
		c.mu.Unlock()
		return pc, nil
	}
	c.mu.Unlock()
	conn, err := c.dialer.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return nil, err
	}
	return &h1Conn{c: conn, br: bufio.NewReaderSize(conn, 16<<10), bw: bufio.NewWriterSize(conn, 16<<10)}, nil
}

func (c *h1Client) put(pc *h1Conn) {
	pc.reused = true
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
func (c *h1Client) CloseIdleConnections() {
	c.mu.Lock()
	idle := c.idle
	c.idle = nil
	c.mu.Unlock()
	for _, pc := range idle {
		pc.c.Close()
	}
}

// errStale marks a failure on a reused connection before any response
// byte arrived: the app had closed it while idle, so a request that can be
// replayed is retried once on a fresh connection.
var errStale = errors.New("stale keep-alive connection")

// RoundTrip sends req and returns the response whose Body, once read to
// EOF and closed, returns the connection to the pool.
func (c *h1Client) RoundTrip(req *http.Request) (*http.Response, error) {
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
		if errors.Is(err, errStale) && attempt == 0 && canReplay(req) {
			continue
		}
		if errors.Is(err, errStale) {
			err = errors.Unwrap(err)
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

type staleError struct{ err error }

func (e staleError) Error() string        { return e.err.Error() }
func (e staleError) Unwrap() error        { return e.err }
func (e staleError) Is(target error) bool { return target == errStale }

func (c *h1Client) roundTrip(ctx context.Context, pc *h1Conn, req *http.Request) (*http.Response, error) {
	// Cancellation (the client went away) unblocks I/O through deadlines.
	stop := context.AfterFunc(ctx, func() { pc.c.SetDeadline(aLongTimeAgo) })
	if err := writeRequest(pc.bw, req); err != nil {
		stop()
		if pc.reused {
			return nil, staleError{err}
		}
		return nil, err
	}
	if c.headerTimeout > 0 {
		setReadDeadline(ctx, pc.c, time.Now().Add(c.headerTimeout))
	}
	var res *http.Response
	var err error
	for {
		// Wait for the first byte apart from parsing, so that a reused
		// connection the app had closed (EOF or reset before any byte)
		// is told from a response cut short.
		if _, err = pc.br.Peek(1); err == nil {
			res, err = http.ReadResponse(pc.br, req)
		} else if pc.reused && (errors.Is(err, io.EOF) || isConnReset(err)) {
			stop()
			return nil, staleError{err}
		}
		if err != nil {
			stop()
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && ctx.Err() == nil {
				return nil, errResponseHeaderTimeout
			}
			return nil, err
		}
		if res.StatusCode >= 100 && res.StatusCode < 200 && res.StatusCode != http.StatusSwitchingProtocols {
			continue // 100 Continue, 103 Early Hints: wait for the final response
		}
		break
	}
	if c.headerTimeout > 0 {
		setReadDeadline(ctx, pc.c, time.Time{})
	}
	res.Body = &h1Body{rc: res.Body, pc: pc, client: c, stop: stop, reusable: !res.Close && !req.Close,
		eof: res.Body == http.NoBody}
	return res, nil
}

var aLongTimeAgo = time.Unix(1, 0)

// setReadDeadline sets a read deadline without undoing a cancellation: the
// AfterFunc that unblocks I/O when the client goes away may already have
// set a past deadline, which a later deadline would silently replace (and
// the request would hang until the app answered). ctx is marked done
// before its AfterFuncs run, so checking after setting closes the race.
func setReadDeadline(ctx context.Context, c net.Conn, t time.Time) {
	c.SetReadDeadline(t)
	if ctx.Err() != nil {
		c.SetDeadline(aLongTimeAgo)
	}
}

// errResponseHeaderTimeout is a net.Error with Timeout() true, like
// http.Transport's, so the error handler answers 504.
var errResponseHeaderTimeout error = timeoutError{"timeout awaiting response headers from the app"}

type timeoutError struct{ msg string }

func (e timeoutError) Error() string   { return e.msg }
func (e timeoutError) Timeout() bool   { return true }
func (e timeoutError) Temporary() bool { return true }

func isConnReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "read"
}

// writeRequest writes req in HTTP/1.1 wire format. The headers are written
// as they are (ReverseProxy has already removed the hop-by-hop ones); a body
// of unknown length is sent chunked.
func writeRequest(w *bufio.Writer, req *http.Request) error {
	w.WriteString(req.Method)
	w.WriteByte(' ')
	w.WriteString(req.URL.RequestURI())
	w.WriteString(" HTTP/1.1\r\nHost: ")
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	w.WriteString(host)
	w.WriteString("\r\n")
	for k, vv := range req.Header {
		if k == "Host" || k == "Content-Length" || k == "Transfer-Encoding" || k == "Connection" {
			continue
		}
		for _, v := range vv {
			if v == "" && k == "User-Agent" {
				continue // ReverseProxy's marker for "send no User-Agent"
			}
			w.WriteString(k)
			w.WriteString(": ")
			w.WriteString(sanitizeHeaderValue(v))
			w.WriteString("\r\n")
		}
	}
	hasBody := req.Body != nil && req.Body != http.NoBody
	switch {
	case hasBody && req.ContentLength > 0:
		w.WriteString("Content-Length: ")
		var num [20]byte
		w.Write(strconv.AppendInt(num[:0], req.ContentLength, 10))
		w.WriteString("\r\n\r\n")
		n, err := io.Copy(w, io.LimitReader(req.Body, req.ContentLength))
		if err != nil {
			return fmt.Errorf("sending request body: %w", err)
		}
		if n != req.ContentLength {
			return fmt.Errorf("sending request body: %d of %d bytes: %w", n, req.ContentLength, io.ErrUnexpectedEOF)
		}
	case hasBody && req.ContentLength < 0:
		w.WriteString("Transfer-Encoding: chunked\r\n\r\n")
		if err := writeChunked(w, req.Body); err != nil {
			return fmt.Errorf("sending request body: %w", err)
		}
	default:
		if req.Method == "POST" || req.Method == "PUT" || req.Method == "PATCH" {
			w.WriteString("Content-Length: 0\r\n")
		}
		w.WriteString("\r\n")
	}
	return w.Flush()
}

func writeChunked(w *bufio.Writer, body io.Reader) error {
	buf := make([]byte, 16<<10)
	var hdr [20]byte
	for {
		n, err := body.Read(buf)
		if n > 0 {
			w.Write(strconv.AppendInt(hdr[:0], int64(n), 16))
			w.WriteString("\r\n")
			w.Write(buf[:n])
			w.WriteString("\r\n")
			if ferr := w.Flush(); ferr != nil {
				return ferr
			}
		}
		if err == io.EOF {
			_, werr := w.WriteString("0\r\n\r\n")
			return werr
		}
		if err != nil {
			return err
		}
	}
}

// sanitizeHeaderValue drops CR and LF so no value can split the request.
// net/http's server has already rejected such values inbound; this keeps
// header injection impossible even from values the sidecar itself sets.
func sanitizeHeaderValue(v string) string {
	for i := 0; i < len(v); i++ {
		if v[i] == '\r' || v[i] == '\n' {
			b := []byte(v)
			for j := range b {
				if b[j] == '\r' || b[j] == '\n' {
					b[j] = ' '
				}
			}
			return string(b)
		}
	}
	return v
}

// h1Body returns the connection to the pool when the response was read to
// the end, and closes it otherwise.
type h1Body struct {
	rc       io.ReadCloser
	pc       *h1Conn
	client   *h1Client
	stop     func() bool
	reusable bool
	eof      bool
	done     bool
}

func (b *h1Body) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.eof = true
	}
	return n, err
}

func (b *h1Body) Close() error {
	if b.done {
		return nil
	}
	b.done = true
	if !b.eof {
		// net/http's body reader drains to EOF on Close; an abandoned
		// (maybe endless) stream must not be drained: close the conn first.
		b.pc.c.Close()
		b.stop()
		b.rc.Close()
		return nil
	}
	err := b.rc.Close()
	if b.stop() && b.reusable && err == nil {
		b.client.put(b.pc)
		return nil
	}
	b.pc.c.Close()
	return err
}
