package otlp

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// TestOtherSignalsNamedAsRefused: an OpenTelemetry SDK or Collector set
// up to send every signal to the collector's OTLP ports sends logs and
// metrics too. Neither is taken; the answer says what is (traces, at
// /v1/traces or TraceService/Export) so that the sender's log tells the
// operator what to change: 404 with a JSON message over HTTP (any method,
// protobuf or JSON), Unimplemented over gRPC.
func TestOtherSignalsNamedAsRefused(t *testing.T) {
	c := &captured{}
	r := start(t, c, nil)
	t.Run("http", func(t *testing.T) {
		for _, tc := range []struct {
			method, path, contentType string
		}{
			{"POST", "/v1/logs", "application/x-protobuf"},
			{"POST", "/v1/metrics", "application/x-protobuf"},
			{"POST", "/v1/logs", "application/json"},
			{"POST", "/v1/metrics", "application/json"},
			{"GET", "/v1/metrics", ""},
		} {
			req, _ := http.NewRequest(tc.method, "http://"+r.HTTPAddr().String()+tc.path, bytes.NewReader([]byte("{}")))
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			var msg struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			}
			if err := json.Unmarshal(body, &msg); err != nil {
				t.Errorf("%s %s: body %q is not the JSON error: %v", tc.method, tc.path, body, err)
			}
			if res.StatusCode != http.StatusNotFound || msg.Code != http.StatusNotFound {
				t.Errorf("%s %s: %d %q, want 404", tc.method, tc.path, res.StatusCode, body)
			}
			for _, want := range []string{tc.path, "/v1/traces", "TraceService"} {
				if !strings.Contains(msg.Message, want) {
					t.Errorf("%s %s: message %q does not name %s", tc.method, tc.path, msg.Message, want)
				}
			}
		}
	})
	t.Run("grpc", func(t *testing.T) {
		cc, err := grpc.NewClient(r.GRPCAddr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer cc.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, tc := range []struct {
			service string
			call    func() error
		}{
			{"opentelemetry.proto.collector.logs.v1.LogsService", func() error {
				_, err := collogspb.NewLogsServiceClient(cc).Export(ctx, &collogspb.ExportLogsServiceRequest{})
				return err
			}},
			{"opentelemetry.proto.collector.metrics.v1.MetricsService", func() error {
				_, err := colmetricspb.NewMetricsServiceClient(cc).Export(ctx, &colmetricspb.ExportMetricsServiceRequest{})
				return err
			}},
		} {
			st := status.Convert(tc.call())
			if st.Code() != codes.Unimplemented {
				t.Errorf("%s: %v, want Unimplemented", tc.service, st)
			}
			for _, want := range []string{tc.service, "opentelemetry.proto.collector.trace.v1.TraceService"} {
				if !strings.Contains(st.Message(), want) {
					t.Errorf("%s: message %q does not name %s", tc.service, st.Message(), want)
				}
			}
		}
	})
	if n := len(c.get()); n != 0 {
		t.Errorf("%d spans consumed", n)
	}
}
