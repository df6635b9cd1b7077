package redisproxy

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"

	"github.com/hopscope/hopscope/sidecar/backend"
)

// clientTLS is the TLS the proxy speaks to the target in mode originate
// (ElastiCache's in-transit encryption, a redis-server with tls-port):
// nil without.
func clientTLS(cfg backend.Config) (*tls.Config, error) {
	switch cfg.TLS.Mode {
	case "", backend.TLSOriginate:
	default:
		return nil, fmt.Errorf("redisproxy: backend %s: tls.mode must be empty or %s, got %q", cfg.Name, backend.TLSOriginate, cfg.TLS.Mode)
	}
	c, err := backend.ClientTLS(cfg)
	if err != nil {
		return nil, fmt.Errorf("redisproxy: backend %s: %w", cfg.Name, err)
	}
	return c, nil
}

// dial connects to target (the backend's, or a cluster node's), in TLS
// when configured (the handshake bounded by backend.DialTimeout); on
// failure it returns the connect call's error type: connect or
// tls_handshake.
func (p *Proxy) dial(ctx context.Context, target string) (net.Conn, string) {
	up, err := backend.Dial(ctx, target)
	if err != nil {
		return nil, "connect"
	}
	if p.tls == nil {
		return up, ""
	}
	tc := tls.Client(up, p.tls)
	hctx, cancel := context.WithTimeout(ctx, backend.DialTimeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		up.Close()
		return nil, backend.ErrorTLSHandshake
	}
	return tc, ""
}
