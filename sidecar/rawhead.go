package sidecar

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"sync"
)

// net/http does not keep a request's head as it came: it drops a
// Content-Length sent with Transfer-Encoding: chunked and joins a header
// folded over two lines (obs-fold). RFC 9112 asks a server that processes a
// request with both to close the connection after the response (§6.3),
// since the two lengths are how requests are smuggled past a proxy that
// reads the other one, and the sidecar refuses a folded Transfer-Encoding,
// which another parser may read differently (§5.2 allows a 400). So the
// inbound connections record the raw head of each HTTP/1.x request, and a
// chunked request's head is checked against them.

// rawHead is what the sidecar makes of a chunked HTTP/1.x request's raw head.
type rawHead int

const (
	headPlain     rawHead = iota // Transfer-Encoding alone, on one line
	headBothSizes                // Content-Length too: close after the response
	headFoldedTE                 // Transfer-Encoding folded: 400, close
	headUnknown                  // not recorded (pipelined): close, to be safe
)

// headListener wraps the inbound listener's connections in headConns.
type headListener struct {
	net.Listener
	max int // the longest head recorded (--max-header-bytes and net/http's slack)
}

func (l headListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &headConn{Conn: c, max: l.max, recording: true}, nil
}

// headConn records the bytes of a request's head as net/http reads them:
// from the start of the connection and again after each response (the
// http.Server's ConnState hook calls next at StateIdle), up to the blank
// line that ends the head. Bodies are not recorded; an HTTP/2 connection
// is not recorded past its preface.
type headConn struct {
	net.Conn
	max int

	mu        sync.Mutex
	rec       []byte
	recording bool
	done      bool // the head is complete
	h2        bool
}

var h2Preface = []byte("PRI * HTTP/2.0\r\n")

func (c *headConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		if c.recording {
			c.record(p[:n])
		}
		c.mu.Unlock()
	}
	return n, err
}

// CloseWrite half-closes a TCP connection: net/http does so before it
// closes one that may hold unread request bytes, so that the response is
// not lost to a reset.
func (c *headConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// record appends b up to the end of the head; c.mu is held.
func (c *headConn) record(b []byte) {
	from := max(len(c.rec)-3, 0)
	c.rec = append(c.rec, b[:min(len(b), c.max-len(c.rec))]...)
	if len(c.rec) >= len(h2Preface) && bytes.HasPrefix(c.rec, h2Preface) {
		c.h2, c.recording, c.rec = true, false, nil
		return
	}
	if i := bytes.Index(c.rec[from:], []byte("\r\n\r\n")); i >= 0 {
		c.rec = c.rec[:from+i+4]
		c.recording, c.done = false, true
	} else if len(c.rec) >= c.max {
		c.recording = false // net/http answers 431
	}
}

// next starts recording the next request's head.
func (c *headConn) next() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.h2 {
		return
	}
	if cap(c.rec) > 4096 {
		c.rec = nil // an unusually big head: not kept for every request
	}
	c.rec, c.recording, c.done = c.rec[:0], true, false
}

// check judges the recorded head of chunked request r.
func (c *headConn) check(r *http.Request) rawHead {
	c.mu.Lock()
	defer c.mu.Unlock()
	// The head must be this request's: complete, starting with its
	// method (with pipelined requests, net/http may have read the next
	// head before the connection went idle).
	if !c.done || len(c.rec) <= len(r.Method) || string(c.rec[:len(r.Method)]) != r.Method || c.rec[len(r.Method)] != ' ' {
		return headUnknown
	}
	return inspectHead(c.rec)
}

// inspectHead reads a raw request head: whether it has a Content-Length
// besides its Transfer-Encoding, and whether its Transfer-Encoding is
// folded (a line after it starts with a space or a tab).
func inspectHead(head []byte) rawHead {
	verdict := headPlain
	_, rest, _ := bytes.Cut(head, []byte("\n")) // the request line
	prevTE := false
	for len(rest) > 0 {
		var line []byte
		line, rest, _ = bytes.Cut(rest, []byte("\n"))
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			if prevTE {
				return headFoldedTE
			}
			continue
		}
		name, _, _ := bytes.Cut(line, []byte(":"))
		name = bytes.TrimRight(name, " \t")
		prevTE = bytes.EqualFold(name, []byte("Transfer-Encoding"))
		if bytes.EqualFold(name, []byte("Content-Length")) {
			verdict = headBothSizes
		}
	}
	return verdict
}

type headConnKey struct{}

// headConnContext puts an inbound connection's headConn in its requests'
// contexts (http.Server.ConnContext).
func headConnContext(ctx context.Context, c net.Conn) context.Context {
	if hc, ok := c.(*headConn); ok {
		return context.WithValue(ctx, headConnKey{}, hc)
	}
	return ctx
}

// headConnState starts recording the next head when a connection goes
// idle (http.Server.ConnState).
func headConnState(c net.Conn, s http.ConnState) {
	if hc, ok := c.(*headConn); ok && s == http.StateIdle {
		hc.next()
	}
}

// checkHead judges a chunked HTTP/1.x request that came through a
// headListener; any other request is headPlain.
func checkHead(r *http.Request) rawHead {
	if r.ProtoMajor != 1 || len(r.TransferEncoding) == 0 {
		return headPlain
	}
	hc, ok := r.Context().Value(headConnKey{}).(*headConn)
	if !ok {
		return headPlain // not served by the sidecar's own listener (tests, embedding)
	}
	return hc.check(r)
}
