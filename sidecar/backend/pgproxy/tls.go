package pgproxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/hopscope/hopscope/sidecar/backend"
	"go.opentelemetry.io/otel/trace"
)

// alpnPostgreSQL is PostgreSQL's ALPN protocol name (required by
// PostgreSQL 17 for direct TLS, accepted after an SSLRequest).
const alpnPostgreSQL = "postgresql"

// tlsConfigs reads the TLS configuration of a backend's mode: the one
// the proxy dials the server with (originate, terminate) and the one it
// answers the app's TLS with (terminate).
func tlsConfigs(cfg backend.Config) (client, listen *tls.Config, err error) {
	if client, err = backend.ClientTLS(cfg); err != nil {
		return nil, nil, err
	}
	if client != nil {
		client.NextProtos = []string{alpnPostgreSQL}
	}
	if listen, err = backend.ListenTLS(cfg, alpnPostgreSQL); err != nil {
		return nil, nil, err
	}
	return client, listen, nil
}

// sslRequestMsg is the SSLRequest the proxy sends a server in the modes
// that originate TLS.
var sslRequestMsg = []byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f}

// secure turns a new connection to the server into TLS: SSLRequest, the
// server's S, the handshake, all bounded by negotiateTimeout. The connect
// call starts here, so that it includes the TLS negotiation; a server
// that answers N, or a handshake that fails, is a connect call in error.
func (c *conn) secure(ctx context.Context, raw net.Conn) (net.Conn, error) {
	start := time.Now()
	fail := func(kind string, err error) (net.Conn, error) {
		c.b.Begin(start, trace.SpanContext{}).Finish(time.Now(), backend.Op{Name: KindConnect, Error: kind})
		return nil, err
	}
	raw.SetDeadline(start.Add(negotiateTimeout))
	if _, err := raw.Write(sslRequestMsg); err != nil {
		return fail("connect", err)
	}
	var answer [1]byte
	if _, err := io.ReadFull(raw, answer[:]); err != nil {
		return fail("connect", err)
	}
	if answer[0] != 'S' {
		return fail(backend.ErrorTLSRefused, backend.ErrTLSRefused)
	}
	tc := tls.Client(raw, c.clientTLS)
	hctx, cancel := context.WithTimeout(ctx, negotiateTimeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		return fail(backend.ErrorTLSHandshake, fmt.Errorf("TLS handshake with the server: %w", err))
	}
	raw.SetDeadline(time.Time{})
	c.connectStart, c.tlsVersion = start, backend.TLSVersion(tc.ConnectionState())
	return tc, nil
}

// acceptTLS answers the app's TLS in mode terminate: after its
// SSLRequest (answered S here) or, direct, from its first byte. The
// bytes that follow are read through TLS.
func (c *conn) acceptTLS(ctx context.Context, afterSSLRequest bool) bool {
	if afterSSLRequest {
		c.cr.Discard(8)
		// Bytes sent behind the SSLRequest, before the answer, would be
		// read as if they had come through TLS (CVE-2021-23222's kind):
		// refuse them.
		if c.cr.Buffered() > 0 {
			return false
		}
		if _, err := c.client.Write([]byte{'S'}); err != nil {
			return false
		}
	}
	// A direct TLS client's first bytes are in c.cr already: the
	// handshake reads them first, then the connection (c.cr is then
	// reset to read through TLS).
	var under net.Conn = c.client
	if n := c.cr.Buffered(); n > 0 {
		head, _ := c.cr.Peek(n)
		under = bufferedConn{Conn: c.client, r: io.MultiReader(bytes.NewReader(bytes.Clone(head)), c.client)}
	}
	tc := tls.Server(under, c.listenTLS)
	hctx, cancel := context.WithTimeout(ctx, negotiateTimeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		return false
	}
	c.mu.Lock()
	c.client = tc
	c.mu.Unlock()
	c.cr.Reset(tc)
	c.terminated = true
	return true
}

// bufferedConn reads through r, which has bytes of Conn buffered.
type bufferedConn struct {
	net.Conn
	r io.Reader
}

func (b bufferedConn) Read(p []byte) (int, error) { return b.r.Read(p) }

// refuse tells the app, in the protocol, why its session cannot start:
// an ErrorResponse FATAL 08001 (sqlclient_unable_to_establish_sqlconnection),
// as libpq would report a server that refuses TLS.
func (c *conn) refuse(err error) {
	msg := "hopscope sidecar: backend " + c.b.Config.Name + ": " + err.Error()
	var body []byte
	for _, f := range [][2]string{{"S", "FATAL"}, {"V", "FATAL"}, {"C", "08001"}, {"M", msg}} {
		body = append(body, f[0][0])
		body = append(body, f[1]...)
		body = append(body, 0)
	}
	body = append(body, 0)
	out := make([]byte, 5, 5+len(body))
	out[0] = 'E'
	binary.BigEndian.PutUint32(out[1:], uint32(4+len(body)))
	c.client.SetWriteDeadline(time.Now().Add(negotiateTimeout))
	c.client.Write(append(out, body...))
}
