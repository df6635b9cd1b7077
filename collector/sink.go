package collector

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/hopscope/hopscope/collector/otlp"
	"github.com/hopscope/hopscope/internal/endpoint"
)

// spanSink sends one export request to the trace backend.
type spanSink interface {
	// Export sends an ExportTraceServiceRequest's protobuf bytes.
	Export(ctx context.Context, body []byte) error
	Close() error
}

func newSpanSink(raw string) (spanSink, error) {
	ep, err := endpoint.Parse(raw)
	if err != nil {
		return nil, err
	}
	if ep.GRPC {
		creds := insecure.NewCredentials()
		if ep.TLS {
			creds = credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS12})
		}
		conn, err := grpc.NewClient(ep.Target, grpc.WithTransportCredentials(creds))
		if err != nil {
			return nil, err
		}
		return &grpcSink{conn: conn}, nil
	}
	return &httpSink{url: ep.Target, client: &http.Client{Timeout: 10 * time.Second}}, nil
}

type httpSink struct {
	url    string
	client *http.Client
}

func (s *httpSink) Export(ctx context.Context, body []byte) error {
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	hreq.Header.Set("Content-Type", "application/x-protobuf")
	res, err := s.client.Do(hreq)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(res.Body, 200))
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("OTLP export to %s: %s: %s", s.url, res.Status, msg)
	}
	return nil
}

func (s *httpSink) Close() error { s.client.CloseIdleConnections(); return nil }

type grpcSink struct {
	conn *grpc.ClientConn
}

func (s *grpcSink) Export(ctx context.Context, body []byte) error {
	return s.conn.Invoke(ctx, "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
		&otlp.RawMessage{B: body}, &otlp.RawMessage{}, grpc.ForceCodecV2(otlp.RawCodec{}))
}

func (s *grpcSink) Close() error { return s.conn.Close() }
