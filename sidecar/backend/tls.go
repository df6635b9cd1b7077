package backend

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"
)

// TLS modes (the `tls.mode` key, or `tls:` alone as a word).
const (
	// TLSPassthrough relays a PostgreSQL session that asks for TLS opaque:
	// it is counted, its queries are not seen.
	TLSPassthrough = "passthrough"
	// TLSOriginate lets the app speak plain text to the sidecar, which
	// speaks TLS to the target: HTTP to an https:// target; PostgreSQL
	// with an SSLRequest after the app's plain-text startup; Redis with
	// TLS from the first byte.
	TLSOriginate = "originate"
	// TLSTerminate (postgres) answers the app's own SSLRequest S with
	// tls.listenCertFile, so the app's TLS ends at the sidecar, which
	// decodes the session and originates TLS to the target.
	TLSTerminate = "terminate"
)

// TLSConfig is a backend's `tls:` key: a mapping, or a mode alone
// (`tls: originate`).
type TLSConfig struct {
	// Mode is "" (none: an SSLRequest is answered N), passthrough
	// (postgres), originate (postgres, redis, http) or terminate
	// (postgres).
	Mode string `yaml:"mode"`
	// CAFile is a PEM file of the certificate authorities the target's
	// certificate must chain to; empty: the system's (originate and
	// terminate, postgres and redis).
	CAFile string `yaml:"caFile"`
	// CertFile is a PEM client certificate the sidecar presents to the
	// target (mutual TLS); with KeyFile.
	CertFile string `yaml:"certFile"`
	// KeyFile is CertFile's PEM private key.
	KeyFile string `yaml:"keyFile"`
	// ServerName is the name the target's certificate must carry (and the
	// SNI sent); empty: the target's host.
	ServerName string `yaml:"serverName"`
	// InsecureSkipVerify accepts any certificate from the target: the
	// session is encrypted but not authenticated, open to an attacker in
	// the middle. For trials only; the sidecar logs a warning at start.
	InsecureSkipVerify bool `yaml:"insecureSkipVerify"`
	// ListenCertFile is the PEM certificate the sidecar presents to the
	// app in mode terminate; with ListenKeyFile.
	ListenCertFile string `yaml:"listenCertFile"`
	// ListenKeyFile is ListenCertFile's PEM private key.
	ListenKeyFile string `yaml:"listenKeyFile"`
}

// tlsKeys are TLSConfig's YAML keys, for strict decoding.
var tlsKeys = map[string]bool{"mode": true, "caFile": true, "certFile": true, "keyFile": true, "serverName": true,
	"insecureSkipVerify": true, "listenCertFile": true, "listenKeyFile": true}

// UnmarshalYAML takes `tls: MODE` or a mapping of TLSConfig's keys;
// an unknown key is an error, as everywhere in the configuration.
func (t *TLSConfig) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		*t = TLSConfig{}
		return n.Decode(&t.Mode)
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := n.Content[i].Value; !tlsKeys[k] {
				return fmt.Errorf("line %d: tls.%s: unknown key (mode, caFile, certFile, keyFile, serverName, insecureSkipVerify, listenCertFile, listenKeyFile)", n.Content[i].Line, k)
			}
		}
		type plain TLSConfig
		var p plain
		if err := n.Decode(&p); err != nil {
			return err
		}
		*t = TLSConfig(p)
		return nil
	}
	return fmt.Errorf("line %d: tls: must be a mode (passthrough, originate, terminate) or a mapping with mode:", n.Line)
}

// Originates says whether the sidecar speaks TLS to the target.
func (t TLSConfig) Originates() bool { return t.Mode == TLSOriginate || t.Mode == TLSTerminate }

// validate adds the errors of a backend's tls key.
func (t TLSConfig) validate(kind string, bad func(key, format string, a ...any)) {
	switch {
	case t.Mode == "":
	case t.Mode == TLSPassthrough && kind == KindPostgres:
	case t.Mode == TLSOriginate && (kind == KindHTTP || kind == KindPostgres || kind == KindRedis):
	case t.Mode == TLSTerminate && kind == KindPostgres:
	default:
		bad("tls.mode", "%q is not a TLS mode of kind %s (postgres: passthrough, originate, terminate; redis: originate; http: originate)", t.Mode, kind)
		return
	}
	files := t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" || t.ServerName != "" || t.InsecureSkipVerify
	switch {
	case files && kind == KindHTTP:
		bad("tls", "caFile, certFile, keyFile, serverName and insecureSkipVerify apply to kinds postgres and redis (kind http verifies https:// targets with the system's authorities)")
	case files && !t.Originates():
		bad("tls", "caFile, certFile, keyFile, serverName and insecureSkipVerify need mode originate or terminate")
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		bad("tls.certFile", "certFile and keyFile go together (a client certificate and its key)")
	}
	if t.InsecureSkipVerify && (t.CAFile != "" || t.ServerName != "") {
		bad("tls.insecureSkipVerify", "verifies nothing: caFile and serverName would be ignored; drop one or the other")
	}
	if t.Mode == TLSTerminate {
		if t.ListenCertFile == "" || t.ListenKeyFile == "" {
			bad("tls.listenCertFile", "mode terminate needs listenCertFile and listenKeyFile: the certificate the app's TLS ends at")
		}
	} else if t.ListenCertFile != "" || t.ListenKeyFile != "" {
		bad("tls.listenCertFile", "listenCertFile and listenKeyFile apply to mode terminate only")
	}
}

// ClientTLS is the TLS configuration the sidecar dials cfg's target with,
// read from the files cfg.TLS names; nil when the mode does not originate
// TLS. Errors name the YAML key.
func ClientTLS(cfg Config) (*tls.Config, error) {
	t := cfg.TLS
	if !t.Originates() {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify}
	if c.ServerName == "" {
		host, _, err := net.SplitHostPort(cfg.Target)
		if err != nil {
			return nil, fmt.Errorf("target: %w", err)
		}
		c.ServerName = host
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls.caFile: %w", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls.caFile: %s holds no PEM certificate", t.CAFile)
		}
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls.certFile, tls.keyFile: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// ListenTLS is the TLS configuration the sidecar answers the app's TLS
// with in mode terminate (nil in the other modes); nextProtos are the
// ALPN protocols offered (PostgreSQL 17's direct TLS asks "postgresql").
func ListenTLS(cfg Config, nextProtos ...string) (*tls.Config, error) {
	t := cfg.TLS
	if t.Mode != TLSTerminate {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(t.ListenCertFile, t.ListenKeyFile)
	if err != nil {
		return nil, fmt.Errorf("tls.listenCertFile, tls.listenKeyFile: %w", err)
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}, NextProtos: nextProtos}, nil
}

// TLSVersion is a connection state's protocol version as the
// OpenTelemetry attribute tls.protocol.version writes it: "1.2", "1.3".
func TLSVersion(cs tls.ConnectionState) string {
	switch cs.Version {
	case tls.VersionTLS12:
		return "1.2"
	case tls.VersionTLS13:
		return "1.3"
	}
	return strings.TrimPrefix(tls.VersionName(cs.Version), "TLS ")
}

// ErrTLSRefused is the error of a target that answered an SSLRequest N
// while the backend's tls mode requires TLS.
var ErrTLSRefused = errors.New("the server refused TLS (answered N to the SSLRequest)")

// Error types of a connect call that failed at TLS.
const (
	// ErrorTLSRefused: the target does not speak TLS.
	ErrorTLSRefused = "tls_refused"
	// ErrorTLSHandshake: the handshake failed (a certificate not
	// trusted, a name that does not match, no common version).
	ErrorTLSHandshake = "tls_handshake"
)
