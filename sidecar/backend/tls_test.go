package backend

import (
	"crypto/tls"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestTLSConfigYAML: `tls:` takes a mode alone (as before the mapping
// existed) or a mapping; decoding stays strict about unknown keys.
func TestTLSConfigYAML(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       TLSConfig
		err        string
	}{
		{"mode alone", "tls: originate", TLSConfig{Mode: TLSOriginate}, ""},
		{"absent", "name: db", TLSConfig{}, ""},
		{"mapping", "tls: {mode: terminate, caFile: /c/ca.crt, certFile: /c/tls.crt, keyFile: /c/tls.key, serverName: db.example, listenCertFile: /l.crt, listenKeyFile: /l.key}",
			TLSConfig{Mode: TLSTerminate, CAFile: "/c/ca.crt", CertFile: "/c/tls.crt", KeyFile: "/c/tls.key", ServerName: "db.example", ListenCertFile: "/l.crt", ListenKeyFile: "/l.key"}, ""},
		{"insecure", "tls: {mode: originate, insecureSkipVerify: true}", TLSConfig{Mode: TLSOriginate, InsecureSkipVerify: true}, ""},
		{"unknown key", "tls: {mode: originate, caFlie: /x}", TLSConfig{}, "tls.caFlie: unknown key"},
		{"a list", "tls: [originate]", TLSConfig{}, "must be a mode"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dec := yaml.NewDecoder(strings.NewReader(tc.yaml))
			dec.KnownFields(true)
			var c Config
			err := dec.Decode(&c)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("decoding %q: %v, want an error with %q", tc.yaml, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.TLS != tc.want {
				t.Errorf("decoded %+v, want %+v", c.TLS, tc.want)
			}
		})
	}
}

// TestTLSConfigValidate: the modes each kind takes, and the keys that go
// together, named as backends[i].tls.KEY.
func TestTLSConfigValidate(t *testing.T) {
	pg := Config{Name: "db", Kind: KindPostgres, Listen: "127.0.0.1:15432", Target: "db.example:5432"}
	redis := Config{Name: "cache", Kind: KindRedis, Listen: "127.0.0.1:16379", Target: "cache.example:6379"}
	for _, tc := range []struct {
		name string
		cfg  Config
		tls  TLSConfig
		want string // "" valid
	}{
		{"postgres originate", pg, TLSConfig{Mode: TLSOriginate, CAFile: "/ca"}, ""},
		{"postgres terminate", pg, TLSConfig{Mode: TLSTerminate, ListenCertFile: "/c", ListenKeyFile: "/k"}, ""},
		{"postgres passthrough", pg, TLSConfig{Mode: TLSPassthrough}, ""},
		{"redis originate, mutual", redis, TLSConfig{Mode: TLSOriginate, CAFile: "/ca", CertFile: "/c", KeyFile: "/k", ServerName: "x"}, ""},
		{"redis terminate", redis, TLSConfig{Mode: TLSTerminate}, "backends[2].tls.mode"},
		{"redis passthrough", redis, TLSConfig{Mode: TLSPassthrough}, "backends[2].tls.mode"},
		{"unknown mode", pg, TLSConfig{Mode: "on"}, "backends[2].tls.mode"},
		{"terminate without a certificate", pg, TLSConfig{Mode: TLSTerminate}, "backends[2].tls.listenCertFile"},
		{"listen certificate outside terminate", pg, TLSConfig{Mode: TLSOriginate, ListenCertFile: "/c", ListenKeyFile: "/k"}, "backends[2].tls.listenCertFile"},
		{"certificate without key", pg, TLSConfig{Mode: TLSOriginate, CertFile: "/c"}, "backends[2].tls.certFile"},
		{"files without a mode", pg, TLSConfig{CAFile: "/ca"}, "backends[2].tls: caFile"},
		{"files with passthrough", pg, TLSConfig{Mode: TLSPassthrough, CAFile: "/ca"}, "backends[2].tls: caFile"},
		{"insecure and a CA", pg, TLSConfig{Mode: TLSOriginate, CAFile: "/ca", InsecureSkipVerify: true}, "backends[2].tls.insecureSkipVerify"},
		{"files on http", Config{Name: "api", Kind: KindHTTP, Listen: "127.0.0.1:1", Target: "https://api.example"}, TLSConfig{Mode: TLSOriginate, CAFile: "/ca"}, "backends[2].tls: caFile"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.cfg
			c.TLS = tc.tls
			err := c.Validate(2)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("valid config: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("error %v, want one naming %q", err, tc.want)
			}
		})
	}
}

// TestClientTLS: the target's host is the name verified unless
// serverName says another; TLS 1.2 at least; no TLS without a mode that
// originates it.
func TestClientTLS(t *testing.T) {
	for _, tc := range []struct {
		name     string
		cfg      Config
		wantNil  bool
		wantName string
	}{
		{"none", Config{Target: "db:5432"}, true, ""},
		{"passthrough", Config{Target: "db:5432", TLS: TLSConfig{Mode: TLSPassthrough}}, true, ""},
		{"originate", Config{Target: "db.example:5432", TLS: TLSConfig{Mode: TLSOriginate}}, false, "db.example"},
		{"server name", Config{Target: "10.0.0.5:5432", TLS: TLSConfig{Mode: TLSOriginate, ServerName: "db.example"}}, false, "db.example"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ClientTLS(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if (c == nil) != tc.wantNil {
				t.Fatalf("config %v, want nil %v", c, tc.wantNil)
			}
			if c != nil && (c.ServerName != tc.wantName || c.MinVersion != tls.VersionTLS12 || c.InsecureSkipVerify) {
				t.Errorf("server name %q min version %x insecure %v", c.ServerName, c.MinVersion, c.InsecureSkipVerify)
			}
		})
	}
}
