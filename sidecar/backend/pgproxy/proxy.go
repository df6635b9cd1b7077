package pgproxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/hopscope/hopscope/sidecar/backend"
	"go.opentelemetry.io/otel/trace"
)

// Codes of the untyped first messages (protocol 3.0).
const (
	sslRequest    = 80877103
	gssencRequest = 80877104
	cancelRequest = 80877102
	// tlsHandshake is the first byte of a TLS record: a client using
	// PostgreSQL 17's direct TLS (sslnegotiation=direct).
	tlsHandshake = 0x16
)

const (
	// bufSize is each direction's read buffer, allocated once per
	// connection (pooled).
	bufSize = 32 << 10
	// negotiateTimeout bounds the wait for a client's first message and
	// for the server's answer to a forwarded SSLRequest, as PostgreSQL's
	// authentication_timeout does.
	negotiateTimeout = 60 * time.Second
)

// Proxy is the Handler of a postgres backend: each app connection is
// relayed to the target byte for byte while its queries are timed.
type Proxy struct {
	b   *backend.Backend
	rec recorder
	// clientTLS dials the server (tls originate and terminate);
	// listenTLS answers the app's TLS (terminate).
	clientTLS, listenTLS *tls.Config
}

// New returns the PostgreSQL proxy of b.
func New(b *backend.Backend) (backend.Handler, error) {
	if b == nil {
		return nil, errors.New("pgproxy: no backend")
	}
	cfg := b.Config
	if cfg.Kind != backend.KindPostgres {
		return nil, fmt.Errorf("pgproxy: backend %s is of kind %q, not %s", cfg.Name, cfg.Kind, backend.KindPostgres)
	}
	if _, port, err := net.SplitHostPort(cfg.Target); err != nil || port == "" {
		return nil, fmt.Errorf("pgproxy: backend %s: target must be host:port, got %q", cfg.Name, cfg.Target)
	}
	switch cfg.TLS.Mode {
	case "", backend.TLSPassthrough, backend.TLSOriginate, backend.TLSTerminate:
	default:
		return nil, fmt.Errorf("pgproxy: backend %s: tls.mode must be empty, %s, %s or %s, got %q", cfg.Name,
			backend.TLSPassthrough, backend.TLSOriginate, backend.TLSTerminate, cfg.TLS.Mode)
	}
	clientTLS, listenTLS, err := tlsConfigs(cfg)
	if err != nil {
		return nil, fmt.Errorf("pgproxy: backend %s: %w", cfg.Name, err)
	}
	return &Proxy{b: b, clientTLS: clientTLS, listenTLS: listenTLS}, nil
}

// buffers are one connection's: the client's reader and a buffer per
// direction.
type buffers struct {
	client   *bufio.Reader
	up, down []byte
}

var bufferPool = sync.Pool{New: func() any {
	return &buffers{client: bufio.NewReaderSize(nil, bufSize), up: make([]byte, bufSize), down: make([]byte, bufSize)}
}}

// mode is what the first messages of a connection decided.
type mode int

const (
	modeDone   mode = iota // nothing to relay (the client left, the target is down)
	modeDecode             // a protocol 3 session: relayed and decoded
	modeOpaque             // TLS, a CancelRequest, an unknown protocol: relayed only
)

// conn is one app connection and its connection to the target.
type conn struct {
	b      *backend.Backend
	client net.Conn
	cr     *bufio.Reader

	clientTLS, listenTLS *tls.Config
	// terminated: the app's TLS ends here (mode terminate).
	terminated bool
	// connectStart and tlsVersion are the TLS the proxy negotiated with
	// the server: when it began (the connect call's start) and its
	// version (the connect span's tls.protocol.version).
	connectStart time.Time
	tlsVersion   string

	mu     sync.Mutex
	server net.Conn
	closed bool
}

// ServeConn relays one app connection: its SSL and GSS encryption
// requests are answered N (unless tls is passthrough: then the server
// answers, and an encrypted session is relayed opaque), a CancelRequest
// is relayed as it is, and a session is relayed byte for byte while its
// queries are timed.
func (p *Proxy) ServeConn(ctx context.Context, client net.Conn) {
	bufs := bufferPool.Get().(*buffers)
	bufs.client.Reset(client)
	defer func() {
		bufs.client.Reset(nil)
		bufferPool.Put(bufs)
	}()
	c := &conn{b: p.b, client: client, cr: bufs.client, clientTLS: p.clientTLS, listenTLS: p.listenTLS}
	stop := context.AfterFunc(ctx, c.close)
	defer stop()
	defer c.close()

	switch c.negotiate(ctx) {
	case modeDecode:
		s := newSession(p.b)
		s.rec = &p.rec
		s.connectStart, s.tlsVersion = c.connectStart, c.tlsVersion
		s.count()
		defer s.release()
		c.relay(s, bufs)
		s.abandon(time.Now())
	case modeOpaque:
		closed := p.b.Connected(backend.StateRelayed)
		defer closed()
		c.relay(nil, bufs)
	}
}

// close closes both sides.
func (c *conn) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	c.client.Close()
	if c.server != nil {
		c.server.Close()
	}
}

// dial connects to the target, in TLS when the mode originates it and
// secure is set; a failure is recorded as a failed call, and told the
// app (an ErrorResponse) when tell is set.
func (c *conn) dial(ctx context.Context, secure, tell bool) bool {
	if c.server != nil {
		return true
	}
	start := time.Now()
	s, err := backend.Dial(ctx, c.b.Config.Target)
	if err != nil {
		c.b.Begin(start, trace.SpanContext{}).Finish(time.Now(), backend.Op{Name: KindConnect, Error: "connect"})
		return false
	}
	if secure && c.clientTLS != nil {
		raw := s
		if s, err = c.secure(ctx, raw); err != nil {
			raw.Close()
			if tell {
				c.refuse(err)
			}
			return false
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		s.Close()
		return false
	}
	c.server = s
	return true
}

// negotiate reads the client's first messages up to its startup packet,
// which stays buffered to be relayed.
func (c *conn) negotiate(ctx context.Context) mode {
	c.client.SetReadDeadline(time.Now().Add(negotiateTimeout))
	defer c.client.SetReadDeadline(time.Time{})
	for {
		first, err := c.cr.Peek(1)
		if err != nil {
			return modeDone
		}
		if first[0] == tlsHandshake {
			if c.listenTLS != nil && !c.terminated {
				if !c.acceptTLS(ctx, false) {
					return modeDone
				}
				continue
			}
			return c.opaque(ctx, false) // the app's own TLS, end to end
		}
		hdr, err := c.cr.Peek(8)
		if err != nil {
			return modeDone
		}
		length := binary.BigEndian.Uint32(hdr[0:4])
		code := binary.BigEndian.Uint32(hdr[4:8])
		switch {
		case length == 8 && (code == sslRequest || code == gssencRequest):
			if c.listenTLS != nil && code == sslRequest && !c.terminated {
				if !c.acceptTLS(ctx, true) {
					return modeDone
				}
				continue
			}
			if c.b.Config.TLS.Mode != backend.TLSPassthrough {
				c.cr.Discard(8)
				if _, err := c.client.Write([]byte{'N'}); err != nil {
					return modeDone
				}
				continue
			}
			answer, ok := c.forwardRequest(ctx, hdr)
			if !ok {
				return modeDone
			}
			if answer != 'N' {
				return modeOpaque // S or G: an encrypted session
			}
		case code == cancelRequest && length >= 12 && length <= 256:
			return c.opaque(ctx, true)
		case code>>16 == 3 && length >= 8 && length <= maxStartup:
			if !c.dial(ctx, true, true) {
				return modeDone
			}
			return modeDecode
		default:
			c.b.DecodeFailed()
			return c.opaque(ctx, true)
		}
	}
}

func (c *conn) opaque(ctx context.Context, secure bool) mode {
	if !c.dial(ctx, secure, false) {
		return modeDone
	}
	return modeOpaque
}

// forwardRequest sends an SSLRequest or GSSENCRequest to the server and
// relays its one-byte answer.
func (c *conn) forwardRequest(ctx context.Context, hdr []byte) (byte, bool) {
	if !c.dial(ctx, false, false) {
		return 0, false
	}
	if _, err := c.server.Write(hdr); err != nil {
		return 0, false
	}
	c.cr.Discard(8)
	var answer [1]byte
	c.server.SetReadDeadline(time.Now().Add(negotiateTimeout))
	_, err := io.ReadFull(c.server, answer[:])
	c.server.SetReadDeadline(time.Time{})
	if err != nil {
		return 0, false
	}
	if _, err := c.client.Write(answer[:]); err != nil {
		return 0, false
	}
	return answer[0], true
}

// relay copies both ways until both directions end, decoding with s
// unless it is nil; each side's write half is closed when the other side
// ends.
func (c *conn) relay(s *session, bufs *buffers) {
	var decodeUp, decodeDown, recorded func([]byte)
	if s != nil {
		decodeUp, decodeDown, recorded = s.clientBytes, s.serverBytes, s.finish
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		pump(c.client, c.server, bufs.down, decodeDown, recorded)
		closeWrite(c.client)
	}()
	pump(c.server, c.cr, bufs.up, decodeUp, nil)
	closeWrite(c.server)
	<-done
}

// pump relays src to dst as the bytes arrive: each read is decoded before
// it is written (a call is queued before its reply can come back), then
// after runs (the calls a reply ended are recorded once it is on its
// way). The bytes written are the bytes read, whatever the decoder does.
func pump(dst io.Writer, src io.Reader, buf []byte, decode, after func([]byte)) {
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if decode != nil {
				decode(buf[:n])
			}
			_, werr := dst.Write(buf[:n])
			if after != nil {
				after(buf[:n])
			}
			if werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
		return
	}
	c.Close()
}
