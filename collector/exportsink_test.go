package collector

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hopscope/hopscope/internal/otlpwire"
)

// exportBody is one real export request's bytes.
func exportBody() []byte {
	_, h, _ := heldSpan(1, 1, 100)
	return otlpwire.AppendRequest(nil, []otlpwire.Held{h})
}

// mapEnv is an environment of its own for exportSettings.
func mapEnv(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// seen is what an OTLP/HTTP test backend received.
type seen struct {
	header http.Header
	body   []byte // as it arrived
}

// otlpHTTPServer answers each request with the next of codes (the last
// one repeated), recording what it got; retryAfter is sent with non-2xx.
type otlpHTTPServer struct {
	mu         sync.Mutex
	codes      []int
	retryAfter string
	got        []seen
}

func (s *otlpHTTPServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	n := len(s.got)
	s.got = append(s.got, seen{header: r.Header.Clone(), body: body})
	code := http.StatusOK
	if len(s.codes) > 0 {
		code = s.codes[min(n, len(s.codes)-1)]
	}
	s.mu.Unlock()
	if code/100 != 2 && s.retryAfter != "" {
		w.Header().Set("Retry-After", s.retryAfter)
	}
	w.WriteHeader(code)
}

func (s *otlpHTTPServer) requests() []seen {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]seen(nil), s.got...)
}

// sinkFor builds the sink cfg and env say, closed by the test's end.
func sinkFor(t *testing.T, cfg Config, env map[string]string) spanSink {
	t.Helper()
	es, err := cfg.exportSettings(mapEnv(env))
	if err != nil {
		t.Fatal(err)
	}
	s, err := newSpanSink(es)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TestExportHTTPHeadersAndGzip: --export-headers and the OTEL_EXPORTER_OTLP_
// variables' headers arrive (the flag over _TRACES_HEADERS over
// _HEADERS, key by key), and with gzip the body is gzip of the request.
func TestExportHTTPHeadersAndGzip(t *testing.T) {
	for _, tc := range []struct {
		name        string
		headers     string
		compression string
		env         map[string]string
		wantHeader  map[string]string
		wantGzip    bool
	}{
		{name: "flag headers", headers: "authorization=Bearer%20abc,x-tenant=shop",
			wantHeader: map[string]string{"Authorization": "Bearer abc", "X-Tenant": "shop"}},
		{name: "variables and flag, key by key",
			headers: "x-tenant=flag",
			env: map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "x-tenant=general,x-a=general,x-b=general",
				"OTEL_EXPORTER_OTLP_TRACES_HEADERS": "x-a=traces"},
			wantHeader: map[string]string{"X-Tenant": "flag", "X-A": "traces", "X-B": "general"}},
		{name: "gzip flag", compression: "gzip", wantGzip: true},
		{name: "gzip variable", env: map[string]string{"OTEL_EXPORTER_OTLP_COMPRESSION": "gzip"}, wantGzip: true},
		{name: "traces variable over general", env: map[string]string{"OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
			"OTEL_EXPORTER_OTLP_TRACES_COMPRESSION": "none"}},
		{name: "flag none over variable", compression: "none", env: map[string]string{"OTEL_EXPORTER_OTLP_COMPRESSION": "gzip"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			backend := &otlpHTTPServer{}
			srv := httptest.NewServer(backend)
			defer srv.Close()
			cfg := DefaultConfig()
			cfg.ExportOTLPEndpoint = srv.URL + "/v1/traces"
			cfg.ExportHeaders, cfg.ExportCompression = tc.headers, tc.compression
			s := sinkFor(t, cfg, tc.env)
			body := exportBody()
			if err := s.Export(context.Background(), body); err != nil {
				t.Fatal(err)
			}
			got := backend.requests()
			if len(got) != 1 {
				t.Fatalf("%d requests, want 1", len(got))
			}
			for k, v := range tc.wantHeader {
				if g := got[0].header.Get(k); g != v {
					t.Errorf("header %s = %q, want %q", k, g, v)
				}
			}
			raw := got[0].body
			if enc := got[0].header.Get("Content-Encoding"); (enc == "gzip") != tc.wantGzip {
				t.Fatalf("Content-Encoding %q, want gzip: %v", enc, tc.wantGzip)
			}
			if tc.wantGzip {
				zr, err := gzip.NewReader(bytes.NewReader(raw))
				if err != nil {
					t.Fatalf("body is not gzip: %v", err)
				}
				if raw, err = io.ReadAll(zr); err != nil {
					t.Fatalf("body is not gzip: %v", err)
				}
			}
			if !bytes.Equal(raw, body) {
				t.Errorf("backend got %d bytes, want the %d of the request", len(raw), len(body))
			}
		})
	}
}

// TestExportRetries: a retryable answer (429, 502, 503, 504) is sent again
// until it succeeds, honouring Retry-After; a 400 or 500 is not; a
// Retry-After beyond the export timeout ends the request at once.
func TestExportRetries(t *testing.T) {
	for _, tc := range []struct {
		name         string
		codes        []int
		retryAfter   string
		wantErr      bool
		wantRequests int
	}{
		{name: "503 then 200", codes: []int{503, 200}, wantRequests: 2},
		{name: "429 502 504 then 200", codes: []int{429, 502, 504, 200}, wantRequests: 4},
		{name: "503 with Retry-After 1 s", codes: []int{503, 200}, retryAfter: "1", wantRequests: 2},
		{name: "400 not retried", codes: []int{400, 200}, wantErr: true, wantRequests: 1},
		{name: "500 not retried", codes: []int{500, 200}, wantErr: true, wantRequests: 1},
		{name: "Retry-After past the timeout", codes: []int{503, 200}, retryAfter: "3600", wantErr: true, wantRequests: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			backend := &otlpHTTPServer{codes: tc.codes, retryAfter: tc.retryAfter}
			srv := httptest.NewServer(backend)
			defer srv.Close()
			cfg := DefaultConfig()
			cfg.ExportOTLPEndpoint = srv.URL + "/v1/traces"
			e := testEmitter(t, 10, time.Second, sinkFor(t, cfg, nil))
			start := time.Now()
			err := e.send(context.Background(), exportBody())
			if (err != nil) != tc.wantErr {
				t.Fatalf("send: %v, want an error: %v", err, tc.wantErr)
			}
			if n := len(backend.requests()); n != tc.wantRequests {
				t.Errorf("%d requests, want %d", n, tc.wantRequests)
			}
			if tc.retryAfter == "1" && time.Since(start) < time.Second {
				t.Errorf("retried after %v, before the Retry-After of 1 s", time.Since(start))
			}
		})
	}
}

// TestExportCAFile: an https endpoint whose certificate a private CA
// signed is refused with the system's CAs and accepted with that CA
// given by --export-ca-file or OTEL_EXPORTER_OTLP_CERTIFICATE.
func TestExportCAFile(t *testing.T) {
	backend := &otlpHTTPServer{}
	srv := httptest.NewTLSServer(backend)
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		caFile  string
		env     map[string]string
		wantErr bool
	}{
		{name: "system CAs", wantErr: true},
		{name: "flag", caFile: ca},
		{name: "variable", env: map[string]string{"OTEL_EXPORTER_OTLP_CERTIFICATE": ca}},
		{name: "traces variable", env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE": ca}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.ExportOTLPEndpoint = srv.URL + "/v1/traces"
			cfg.ExportCAFile = tc.caFile
			err := sinkFor(t, cfg, tc.env).Export(context.Background(), exportBody())
			if (err != nil) != tc.wantErr {
				t.Fatalf("export: %v, want an error: %v", err, tc.wantErr)
			}
			if tc.wantErr && !strings.Contains(err.Error(), "certificate") {
				t.Errorf("error %v does not say the certificate was refused", err)
			}
		})
	}
}

// TestExportConfigValidate: a bad export setting is refused naming its
// flag or variable.
func TestExportConfigValidate(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "none.pem")
	notPEM := filepath.Join(t.TempDir(), "bad.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		set  func(*Config)
		env  map[string]string
		want string
	}{
		{name: "compression", set: func(c *Config) { c.ExportCompression = "zstd" }, want: "--export-compression"},
		{name: "headers", set: func(c *Config) { c.ExportHeaders = "novalue" }, want: "--export-headers"},
		{name: "ca file missing", set: func(c *Config) { c.ExportCAFile = missing }, want: "--export-ca-file"},
		{name: "ca file not PEM", set: func(c *Config) { c.ExportCAFile = notPEM }, want: "--export-ca-file: no PEM"},
		{name: "certificate variable", env: map[string]string{"OTEL_EXPORTER_OTLP_CERTIFICATE": missing},
			want: "OTEL_EXPORTER_OTLP_CERTIFICATE"},
		{name: "headers variable", env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_HEADERS": "a b=c"},
			want: "OTEL_EXPORTER_OTLP_TRACES_HEADERS"},
		{name: "compression variable", env: map[string]string{"OTEL_EXPORTER_OTLP_COMPRESSION": "br"},
			want: "OTEL_EXPORTER_OTLP_COMPRESSION"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			cfg := DefaultConfig()
			cfg.ExportOTLPEndpoint = "https://127.0.0.1:4318/v1/traces"
			if tc.set != nil {
				tc.set(&cfg)
			}
			err := cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate: %v, want an error naming %s", err, tc.want)
			}
			if strings.Count(err.Error(), tc.want) != 1 {
				t.Errorf("Validate: %v names %s more than once", err, tc.want)
			}
		})
	}
	cfg := DefaultConfig()
	cfg.ExportOTLPEndpoint = "http://127.0.0.1:4318/v1/traces"
	cfg.ExportHeaders, cfg.ExportCompression = "authorization=Bearer%20abc", "gzip"
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate of good export settings: %v", err)
	}
}
