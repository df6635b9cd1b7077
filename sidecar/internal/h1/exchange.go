package h1

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// expectContinueTimeout is how long a request with Expect: 100-continue
// waits for the app's 100 Continue before its body is sent anyway: the
// ExpectContinueTimeout the sidecar's transport.go gives http.Transport.
const expectContinueTimeout = time.Second

// bodyWriteGrace is how long, after the app's response ended, a request
// body still being written may take to finish before the connection is
// closed instead of reused (http.Transport waits as long).
const bodyWriteGrace = 50 * time.Millisecond

func (c *Client) roundTrip(ctx context.Context, pc *conn, req *http.Request) (*http.Response, error) {
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
func (c *Client) roundTripBody(ctx context.Context, pc *conn, req *http.Request, stop func() bool) (*http.Response, error) {
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
	// The head goes now, before the body is read: the app sees the
	// request at once (and may answer early), and a client that stalls
	// before its body fills the buffer, or mid-chunk, cannot hold the head
	// back. Else whether the app saw the request at all depended on which
	// came first: the body read's timeout, which flushes what it read, or
	// the request's cancellation, which closes the connection.
	if err := pc.bw.Flush(); err != nil {
		stop()
		if pc.reused {
			return nil, staleError{err: err, unsent: true}
		}
		return nil, err
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
		var bre BodyReadError
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
func (c *Client) roundTripSmallBody(ctx context.Context, pc *conn, req *http.Request, stop func() bool) (*http.Response, error) {
	werr := writeLengthBody(pc.bw, req.Body, req.ContentLength)
	if werr == nil {
		werr = pc.bw.Flush()
	}
	if _, ok := werr.(BodyReadError); ok {
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
func (c *Client) writeBody(ctx context.Context, pc *conn, req *http.Request) {
	var err error
	if req.ContentLength > 0 {
		err = writeLengthBody(pc.bw, req.Body, req.ContentLength)
	} else {
		err = writeChunked(pc.bw, req.Body, req.Trailer)
	}
	if err == nil {
		err = pc.bw.Flush()
	}
	readFailed := false
	if err != nil {
		_, readFailed = err.(BodyReadError)
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
func (c *Client) awaitContinue(ctx context.Context, pc *conn, req *http.Request) (*http.Response, error) {
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
func (c *Client) readResponse(ctx context.Context, pc *conn, req *http.Request) (*http.Response, error) {
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
func (c *Client) respond(ctx context.Context, pc *conn, req *http.Request, res *http.Response, stop func() bool, reusable, writing bool) *http.Response {
	pc.dl.Lock()
	pc.gotHead = true
	if c.headerTimeout > 0 {
		setReadDeadline(ctx, pc.c, time.Time{})
	}
	pc.dl.Unlock()
	res.Body = &respBody{rc: res.Body, pc: pc, client: c, stop: stop,
		reusable: reusable && !res.Close && !req.Close, writing: writing, eof: res.Body == http.NoBody}
	return res
}
