package collector

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	grpcgzip "google.golang.org/grpc/encoding/gzip"
	"google.golang.org/grpc/metadata"

	"github.com/hopscope/hopscope/collector/otlp"
	"github.com/hopscope/hopscope/internal/bearer"
	"github.com/hopscope/hopscope/internal/endpoint"
)

// spanSink sends one export request to the trace backend.
type spanSink interface {
	// Export sends an ExportTraceServiceRequest's protobuf bytes.
	Export(ctx context.Context, body []byte) error
	Close() error
}

// exportSettings are what the export connects with: --export-otlp-endpoint,
// and --export-headers, --export-compression and --export-ca-file over the
// OpenTelemetry exporter variables (OTEL_EXPORTER_OTLP_[TRACES_]HEADERS,
// _COMPRESSION, _CERTIFICATE) that stand in for them.
type exportSettings struct {
	endpoint endpoint.OTLP
	// header is sent with every request (HTTP headers, gRPC metadata).
	header http.Header
	gzip   bool
	// rootCAs verify the endpoint's certificate instead of the system's;
	// nil: the system's.
	rootCAs *x509.CertPool
}

// otelExportVar returns OTEL_EXPORTER_OTLP_TRACES_<name>, else
// OTEL_EXPORTER_OTLP_<name>, with the name of the one set ("" when
// neither is), as the OTLP exporter specification orders them.
func otelExportVar(env func(string) (string, bool), name string) (value, from string) {
	for _, k := range []string{"OTEL_EXPORTER_OTLP_TRACES_" + name, "OTEL_EXPORTER_OTLP_" + name} {
		if v, ok := env(k); ok && strings.TrimSpace(v) != "" {
			return strings.TrimSpace(v), k
		}
	}
	return "", ""
}

// exportSettings resolves the export's settings with env (os.LookupEnv
// outside tests). Errors name the flag or the variable the bad value
// came from.
func (c *Config) exportSettings(env func(string) (string, bool)) (exportSettings, error) {
	var s exportSettings
	var err error
	if s.endpoint, err = endpoint.Parse(c.ExportOTLPEndpoint); err != nil {
		return s, fmt.Errorf("--export-otlp-endpoint: %w", err)
	}
	// Headers: OTEL_EXPORTER_OTLP_HEADERS, overridden key by key by
	// _TRACES_HEADERS, then by --export-headers.
	s.header = http.Header{}
	for _, src := range []struct{ name, value string }{
		{"OTEL_EXPORTER_OTLP_HEADERS", lookup(env, "OTEL_EXPORTER_OTLP_HEADERS")},
		{"OTEL_EXPORTER_OTLP_TRACES_HEADERS", lookup(env, "OTEL_EXPORTER_OTLP_TRACES_HEADERS")},
		{"--export-headers", c.ExportHeaders},
	} {
		h, err := bearer.ParseOTelHeaders(src.value)
		if err != nil {
			return s, fmt.Errorf("%s: %w", src.name, err)
		}
		for k, vs := range h {
			s.header[k] = vs
		}
	}
	compression, from := c.ExportCompression, "--export-compression"
	if compression == "" {
		compression, from = otelExportVar(env, "COMPRESSION")
	}
	switch compression {
	case "", "none":
	case "gzip":
		s.gzip = true
	default:
		return s, fmt.Errorf("%s: must be gzip or none, got %q", from, compression)
	}
	ca, from := c.ExportCAFile, "--export-ca-file"
	if ca == "" {
		ca, from = otelExportVar(env, "CERTIFICATE")
	}
	if ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return s, fmt.Errorf("%s: %w", from, err)
		}
		s.rootCAs = x509.NewCertPool()
		if !s.rootCAs.AppendCertsFromPEM(pem) {
			return s, fmt.Errorf("%s: no PEM certificate in %s", from, ca)
		}
	}
	return s, nil
}

func lookup(env func(string) (string, bool), k string) string {
	v, _ := env(k)
	return v
}

func newSpanSink(s exportSettings) (spanSink, error) {
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: s.rootCAs}
	if s.endpoint.GRPC {
		creds := insecure.NewCredentials()
		if s.endpoint.TLS {
			creds = credentials.NewTLS(tlsConf)
		}
		conn, err := grpc.NewClient(s.endpoint.Target, grpc.WithTransportCredentials(creds))
		if err != nil {
			return nil, err
		}
		g := &grpcSink{conn: conn, md: metadata.MD{}}
		for k, vs := range s.header {
			g.md[strings.ToLower(k)] = vs
		}
		if s.gzip {
			g.opts = append(g.opts, grpc.UseCompressor(grpcgzip.Name))
		}
		return g, nil
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsConf
	return &httpSink{url: s.endpoint.Target, header: s.header, gzip: s.gzip,
		client: &http.Client{Timeout: 10 * time.Second, Transport: tr}}, nil
}

type httpSink struct {
	url    string
	header http.Header
	gzip   bool
	client *http.Client
}

// exportStatusError is an OTLP/HTTP answer outside 2xx.
type exportStatusError struct {
	url        string
	status     string
	code       int
	body       []byte
	retryAfter time.Duration
}

func (e *exportStatusError) Error() string {
	return fmt.Sprintf("OTLP export to %s: %s: %s", e.url, e.status, e.body)
}

func (s *httpSink) Export(ctx context.Context, body []byte) error {
	if s.gzip {
		var buf bytes.Buffer
		buf.Grow(len(body) / 4)
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
		if _, err := zw.Write(body); err != nil {
			return fmt.Errorf("gzip: %w", err)
		}
		if err := zw.Close(); err != nil {
			return fmt.Errorf("gzip: %w", err)
		}
		body = buf.Bytes()
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	for k, vs := range s.header {
		hreq.Header[k] = vs
	}
	hreq.Header.Set("Content-Type", "application/x-protobuf")
	if s.gzip {
		hreq.Header.Set("Content-Encoding", "gzip")
	}
	res, err := s.client.Do(hreq)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(res.Body, 200))
	if res.StatusCode/100 != 2 {
		return &exportStatusError{url: s.url, status: res.Status, code: res.StatusCode, body: msg,
			retryAfter: parseRetryAfter(res.Header.Get("Retry-After"), time.Now())}
	}
	return nil
}

func (s *httpSink) Close() error { s.client.CloseIdleConnections(); return nil }

type grpcSink struct {
	conn *grpc.ClientConn
	// md is sent as the outgoing metadata of every call (the headers).
	md   metadata.MD
	opts []grpc.CallOption
}

func (s *grpcSink) Export(ctx context.Context, body []byte) error {
	if len(s.md) > 0 {
		ctx = metadata.NewOutgoingContext(ctx, s.md)
	}
	opts := append([]grpc.CallOption{grpc.ForceCodecV2(otlp.RawCodec{})}, s.opts...)
	return s.conn.Invoke(ctx, "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
		&otlp.RawMessage{B: body}, &otlp.RawMessage{}, opts...)
}

func (s *grpcSink) Close() error { return s.conn.Close() }
