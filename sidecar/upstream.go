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
	"strings"
	"sync"
	"syscall"
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
	// idleSince is when the connection went back to the pool.
	idleSince time.Time

	// rc, peek (pc.peekFD, bound once) and the fields after them check an
	// idle connection before reuse without allocating (alive).
	rc      syscall.RawConn
	peek    func(fd uintptr) bool
	peekOK  bool
	peekBuf [1]byte

	// wdone receives the outcome of a request body written concurrently
	// with reading the response (writeBody); made on the first body.
	wdone chan error
	// dl orders the header deadline the body writer arms once the body is
	// sent with the reader clearing it once the response head arrived.
	dl      sync.Mutex
	gotHead bool
}

func newH1Conn(conn net.Conn) *h1Conn {
	pc := &h1Conn{c: conn, br: bufio.NewReaderSize(conn, 16<<10), bw: bufio.NewWriterSize(conn, 16<<10)}
	if sc, ok := conn.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			pc.rc, pc.peek = rc, pc.peekFD
		}
	}
	return pc
}

// alive reports whether an idle connection can carry a request: nothing
// arrived while it was idle, neither the app's FIN (it closed the
// connection, as apps do after their idle timeout), nor a reset, nor stray
// bytes. It costs one non-blocking MSG_PEEK recvfrom (peekFD; where there is
// none, only bytes already buffered are seen) and allocates nothing.
func (pc *h1Conn) alive() bool {
	if pc.br.Buffered() > 0 {
		return false
	}
	if pc.rc == nil {
		return true
	}
	pc.peekOK = false
	if err := pc.rc.Read(pc.peek); err != nil {
		return false
	}
	return pc.peekOK
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

// aliveCheckAfter is how long a connection must have been idle before get
// checks it is alive. Apps close idle connections after seconds (Node 5 s,
// gunicorn 2 s); one that closes sooner says so with Connection: close.
// Under load connections come back within microseconds, and the check (a
// syscall, ~1-2 µs) is skipped there, where it would cost the most.
const aliveCheckAfter = time.Millisecond

// get returns a pooled connection that is still alive, else a new one.
func (c *h1Client) get(ctx context.Context) (*h1Conn, error) {
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
	conn, err := c.dialer.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return nil, err
	}
	return newH1Conn(conn), nil
}

func (c *h1Client) put(pc *h1Conn) {
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
// byte arrived: the app had closed it while idle (after alive looked, or
// where alive cannot look), so a request that can be replayed is retried
// once on a fresh connection.
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

// staleError is errStale with the underlying error. unsent: not even the
// request head could be written and no body byte was read, so any request
// may be retried (http.Transport's nothingWrittenError).
type staleError struct {
	err    error
	unsent bool
}

func (e staleError) Error() string        { return e.err.Error() }
func (e staleError) Unwrap() error        { return e.err }
func (e staleError) Is(target error) bool { return target == errStale }

// expectContinueTimeout is how long a request with Expect: 100-continue
// waits for the app's 100 Continue before its body is sent anyway, as
// http.Transport's ExpectContinueTimeout (transport.go) does.
const expectContinueTimeout = time.Second

// bodyWriteGrace is how long, after the app's response ended, a request
// body still being written may take to finish before the connection is
// closed instead of reused (http.Transport waits as long).
const bodyWriteGrace = 50 * time.Millisecond

func (c *h1Client) roundTrip(ctx context.Context, pc *h1Conn, req *http.Request) (*http.Response, error) {
	// Cancellation (the client went away) unblocks I/O through deadlines.
	stop := context.AfterFunc(ctx, func() { pc.c.SetDeadline(aLongTimeAgo) })
	if hasBody(req) {
		return c.roundTripBody(ctx, pc, req, stop)
	}
	writeHead(pc.bw, req)
	if err := pc.bw.Flush(); err != nil {
		stop()
		if pc.reused {
			return nil, staleError{err: err, unsent: true}
		}
		return nil, err
	}
	if c.headerTimeout > 0 {
		setReadDeadline(ctx, pc.c, time.Now().Add(c.headerTimeout))
	}
	res, err := c.readResponse(ctx, pc, req)
	if err != nil {
		stop()
		return nil, err
	}
	return c.respond(ctx, pc, req, res, stop, true, false), nil
}

// roundTripBody sends a request with a body the way http.Transport does:
// a body larger than smallBody or of unknown length is written on its own
// goroutine while the response is read, so an app that answers before
// reading the whole body (413, 401) has that answer relayed, whether it
// then closes the connection or only stops reading. With Expect:
// 100-continue the body waits for the app's 100 Continue (the client is
// asked for it only then, end to end) or for expectContinueTimeout; a final
// answer instead means the body is not sent.
func (c *h1Client) roundTripBody(ctx context.Context, pc *h1Conn, req *http.Request, stop func() bool) (*http.Response, error) {
	writeHead(pc.bw, req)
	if hasToken(req.Header.Get("Expect"), "100-continue") {
		if err := pc.bw.Flush(); err != nil {
			stop()
			if pc.reused {
				return nil, staleError{err: err, unsent: true}
			}
			return nil, err
		}
		res, err := c.awaitContinue(ctx, pc, req)
		if err != nil {
			stop()
			return nil, err
		}
		if res != nil {
			// The app declined the body: the connection's framing is
			// unknown to it now, so it is not reused.
			return c.respond(ctx, pc, req, res, stop, false, false), nil
		}
	}
	if req.ContentLength > 0 && req.ContentLength <= smallBody {
		return c.roundTripSmallBody(ctx, pc, req, stop)
	}
	if pc.wdone == nil {
		pc.wdone = make(chan error, 1)
	}
	pc.gotHead = false
	go c.writeBody(ctx, pc, req)
	res, err := c.readResponse(ctx, pc, req)
	if err != nil {
		// Nothing (more) to relay: stop the writer, and wait for it so
		// that no one reads the client's body after RoundTrip returned.
		pc.c.Close()
		werr := <-pc.wdone
		stop()
		var bre bodyReadError
		if errors.As(werr, &bre) {
			return nil, werr // the client's body failed: why no answer came
		}
		return nil, err
	}
	select {
	case werr := <-pc.wdone:
		return c.respond(ctx, pc, req, res, stop, werr == nil, false), nil
	default:
		// The app answered while its body was still being sent.
		return c.respond(ctx, pc, req, res, stop, true, true), nil
	}
}

// smallBody is the largest body sent in line, before the response is read:
// it fits the write buffer and the socket's, so writing it cannot block on
// an app that stopped reading, and it saves a goroutine per request (whose
// start and wake-up made a 1 KiB POST ~50% slower in BenchmarkProxyPost).
const smallBody = 16 << 10

// roundTripSmallBody writes a small body in line. If the write fails (the
// app answered and closed), the answer it left is still read and relayed.
func (c *h1Client) roundTripSmallBody(ctx context.Context, pc *h1Conn, req *http.Request, stop func() bool) (*http.Response, error) {
	werr := writeLengthBody(pc.bw, req.Body, req.ContentLength)
	if werr == nil {
		werr = pc.bw.Flush()
	}
	if _, ok := werr.(bodyReadError); ok {
		stop()
		return nil, fmt.Errorf("sending request body: %w", werr)
	}
	if c.headerTimeout > 0 {
		setReadDeadline(ctx, pc.c, time.Now().Add(c.headerTimeout))
	}
	res, err := c.readResponse(ctx, pc, req)
	if err != nil {
		// No answer: the read says why (the app closed the connection,
		// reset it, took too long), which the write error would only echo.
		stop()
		return nil, err
	}
	return c.respond(ctx, pc, req, res, stop, werr == nil, false), nil
}

// writeBody writes req's body after its head and reports on pc.wdone. A
// failure to read the client's body closes the connection unless the
// response head arrived: the app would wait for the rest of the body and
// the reader for an answer that cannot come.
func (c *h1Client) writeBody(ctx context.Context, pc *h1Conn, req *http.Request) {
	var err error
	if req.ContentLength > 0 {
		err = writeLengthBody(pc.bw, req.Body, req.ContentLength)
	} else {
		err = writeChunked(pc.bw, req.Body)
	}
	if err == nil {
		err = pc.bw.Flush()
	}
	readFailed := false
	if err != nil {
		_, readFailed = err.(bodyReadError)
		err = fmt.Errorf("sending request body: %w", err)
	}
	// --upstream-timeout counts from the end of the body, as before.
	if c.headerTimeout > 0 || readFailed {
		pc.dl.Lock()
		if !pc.gotHead {
			if readFailed {
				pc.c.Close()
			} else if err == nil {
				setReadDeadline(ctx, pc.c, time.Now().Add(c.headerTimeout))
			}
		}
		pc.dl.Unlock()
	}
	pc.wdone <- err
}

// awaitContinue waits after a head with Expect: 100-continue. It returns
// (nil, nil) for a 100 Continue or when expectContinueTimeout passed (the
// body is to be sent), or the app's final answer.
func (c *h1Client) awaitContinue(ctx context.Context, pc *h1Conn, req *http.Request) (*http.Response, error) {
	wait := expectContinueTimeout
	if c.headerTimeout > 0 && c.headerTimeout < wait {
		wait = c.headerTimeout
	}
	for {
		setReadDeadline(ctx, pc.c, time.Now().Add(wait))
		if _, err := pc.br.Peek(1); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && ctx.Err() == nil {
				setReadDeadline(ctx, pc.c, time.Time{})
				return nil, nil // no word from the app: send the body
			}
			if pc.reused && (errors.Is(err, io.EOF) || isConnReset(err)) {
				return nil, staleError{err: err}
			}
			return nil, err
		}
		// Bytes came: parse them without the short wait's deadline.
		if c.headerTimeout > 0 {
			setReadDeadline(ctx, pc.c, time.Now().Add(c.headerTimeout))
		} else {
			setReadDeadline(ctx, pc.c, time.Time{})
		}
		res, err := http.ReadResponse(pc.br, req)
		if err != nil {
			return nil, headerError(ctx, err)
		}
		switch {
		case res.StatusCode == http.StatusContinue:
			setReadDeadline(ctx, pc.c, time.Time{})
			return nil, nil
		case res.StatusCode > 100 && res.StatusCode < 200 && res.StatusCode != http.StatusSwitchingProtocols:
			continue // 103 Early Hints: still waiting for the 100
		}
		return res, nil
	}
}

// readResponse reads the response head, skipping interim (1xx) ones.
func (c *h1Client) readResponse(ctx context.Context, pc *h1Conn, req *http.Request) (*http.Response, error) {
	for {
		// Wait for the first byte apart from parsing, so that a reused
		// connection the app had closed (EOF or reset before any byte)
		// is told from a response cut short.
		_, err := pc.br.Peek(1)
		if err != nil && pc.reused && (errors.Is(err, io.EOF) || isConnReset(err)) {
			return nil, staleError{err: err}
		}
		var res *http.Response
		if err == nil {
			res, err = http.ReadResponse(pc.br, req)
		}
		if err != nil {
			return nil, headerError(ctx, err)
		}
		if res.StatusCode >= 100 && res.StatusCode < 200 && res.StatusCode != http.StatusSwitchingProtocols {
			continue // 100 Continue, 103 Early Hints: wait for the final response
		}
		return res, nil
	}
}

// headerError maps a read deadline hit while waiting for the response head
// to errResponseHeaderTimeout; a cancellation stays what it is.
func headerError(ctx context.Context, err error) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() && ctx.Err() == nil {
		return errResponseHeaderTimeout
	}
	return err
}

// respond clears the header deadline and wraps res's body. reusable: the
// request went out whole; writing: its body is still being written.
func (c *h1Client) respond(ctx context.Context, pc *h1Conn, req *http.Request, res *http.Response, stop func() bool, reusable, writing bool) *http.Response {
	pc.dl.Lock()
	pc.gotHead = true
	if c.headerTimeout > 0 {
		setReadDeadline(ctx, pc.c, time.Time{})
	}
	pc.dl.Unlock()
	res.Body = &h1Body{rc: res.Body, pc: pc, client: c, stop: stop,
		reusable: reusable && !res.Close && !req.Close, writing: writing, eof: res.Body == http.NoBody}
	return res
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

// isConnReset reports a read failing as on a connection the peer reset,
// not a deadline (--upstream-timeout, cancellation) and not a local close.
func isConnReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "read" && !op.Timeout() && !errors.Is(err, net.ErrClosed)
}

// bodyReadError is a failure to read the request body from the client, as
// opposed to a failure to write it to the app.
type bodyReadError struct{ err error }

func (e bodyReadError) Error() string { return "reading it from the client: " + e.err.Error() }
func (e bodyReadError) Unwrap() error { return e.err }

// hasBody reports whether req has a body to send (ReverseProxy sets an
// empty body to nil).
func hasBody(req *http.Request) bool {
	return req.Body != nil && req.Body != http.NoBody && req.ContentLength != 0
}

// hasToken reports whether the comma-separated header value v lists token
// (ASCII case-insensitive).
func hasToken(v, token string) bool {
	for v != "" {
		var t string
		t, v, _ = strings.Cut(v, ",")
		if strings.EqualFold(strings.TrimSpace(t), token) {
			return true
		}
	}
	return false
}

// writeHead writes req's request line and headers in HTTP/1.1 wire format.
// The headers are written as they are (ReverseProxy has already removed the
// hop-by-hop ones); a body of unknown length is announced chunked.
func writeHead(w *bufio.Writer, req *http.Request) {
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
	switch {
	case hasBody(req) && req.ContentLength > 0:
		w.WriteString("Content-Length: ")
		var num [20]byte
		w.Write(strconv.AppendInt(num[:0], req.ContentLength, 10))
		w.WriteString("\r\n\r\n")
	case hasBody(req):
		w.WriteString("Transfer-Encoding: chunked\r\n\r\n")
	default:
		if req.Method == "POST" || req.Method == "PUT" || req.Method == "PATCH" {
			w.WriteString("Content-Length: 0\r\n")
		}
		w.WriteString("\r\n")
	}
}

// writeLengthBody copies n bytes of body into w's own buffer (no copy
// buffer of its own), flushing as it fills.
func writeLengthBody(w *bufio.Writer, body io.Reader, n int64) error {
	for sent := int64(0); sent < n; {
		if w.Available() == 0 {
			if err := w.Flush(); err != nil {
				return err
			}
		}
		buf := w.AvailableBuffer()[:min(int64(w.Available()), n-sent)]
		m, err := body.Read(buf)
		w.Write(buf[:m])
		sent += int64(m)
		if err == io.EOF && sent < n {
			return bodyReadError{fmt.Errorf("%d of %d bytes: %w", sent, n, io.ErrUnexpectedEOF)}
		}
		if err != nil && err != io.EOF {
			return bodyReadError{err}
		}
	}
	return nil
}

// writeChunked sends body chunked, a chunk per read, each flushed at once
// (a streamed upload reaches the app as it comes). The chunk is read into
// w's buffer past room for its size line and moved into place after it.
func writeChunked(w *bufio.Writer, body io.Reader) error {
	const room = 8 // "3ff6\r\n" for the largest chunk of a 16 KiB buffer, and spare
	var hdr [20]byte
	for {
		if w.Available() < room+2+64 {
			if err := w.Flush(); err != nil {
				return err
			}
		}
		buf := w.AvailableBuffer()[:w.Available()]
		n, err := body.Read(buf[room : len(buf)-2])
		if n > 0 {
			w.Write(strconv.AppendUint(hdr[:0], uint64(n), 16))
			w.WriteString("\r\n")
			w.Write(buf[room : room+n]) // overlapping move down: copy is memmove
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
			return bodyReadError{err}
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
// the end (and the request body, if still going, ends soon after), and
// closes it otherwise. Close waits for a request body writer, so that
// nothing reads the client's body once the response is done.
type h1Body struct {
	rc       io.ReadCloser
	pc       *h1Conn
	client   *h1Client
	stop     func() bool
	reusable bool
	writing  bool // the request body is still being written (writeBody)
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
		if b.writing {
			<-b.pc.wdone
		}
		b.stop()
		b.rc.Close()
		return nil
	}
	err := b.rc.Close()
	reusable := b.reusable && err == nil
	if b.writing {
		// The app answered before the whole body was sent. It may still be
		// reading it: give the writer a moment, as http.Transport does,
		// then the connection goes (a deadline, so no timer).
		if reusable {
			b.pc.c.SetWriteDeadline(time.Now().Add(bodyWriteGrace))
		} else {
			b.pc.c.Close()
		}
		if werr := <-b.pc.wdone; werr != nil {
			reusable = false
		} else if reusable {
			b.pc.c.SetWriteDeadline(time.Time{})
		}
	}
	if b.stop() && reusable {
		b.client.put(b.pc)
		return nil
	}
	b.pc.c.Close()
	return err
}
