package otlp

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hopscope/hopscope/internal/bearer"
	"github.com/hopscope/hopscope/internal/testkit"
)

// TestBearerTokens: with Tokens set, the OpenTelemetry SDK's own exporters
// deliver only with "authorization: Bearer <token>" in their headers (as
// OTEL_EXPORTER_OTLP_HEADERS gives them); without it OTLP/HTTP answers 401
// and OTLP/gRPC Unauthenticated, no span reaches the consumer and each
// refusal is counted as unauthenticated.
func TestBearerTokens(t *testing.T) {
	const token = "shop-0123456789abcdef"
	tokens, err := bearer.Load(testkit.TokenFile(t, token))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	rejects := map[string]int{}
	var c captured
	r := start(t, &c, func(cfg *Config) {
		cfg.Tokens = tokens
		cfg.OnReject = func(reason string) { mu.Lock(); rejects[reason]++; mu.Unlock() }
	})
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		headers map[string]string
		ok      bool
	}{
		{"no header", nil, false},
		{"wrong token", map[string]string{"authorization": "Bearer shop-wrong-token-000000"}, false},
		{"basic scheme", map[string]string{"authorization": "Basic " + token}, false},
		{"the token", map[string]string{"authorization": "Bearer " + token}, true},
	} {
		for _, proto := range []string{"http", "grpc"} {
			t.Run(tc.name+"/"+proto, func(t *testing.T) {
				var exp sdktrace.SpanExporter
				var err error
				if proto == "http" {
					exp, err = otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL("http://"+r.HTTPAddr().String()+"/v1/traces"),
						otlptracehttp.WithHeaders(tc.headers), otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: false}))
				} else {
					exp, err = otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(r.GRPCAddr().String()), otlptracegrpc.WithInsecure(),
						otlptracegrpc.WithHeaders(tc.headers), otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig{Enabled: false}))
				}
				if err != nil {
					t.Fatal(err)
				}
				before := len(c.get())
				spans := tracetest.SpanStubs{{Name: tc.name, SpanContext: trace.NewSpanContext(trace.SpanContextConfig{
					TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5}, TraceFlags: trace.FlagsSampled})}}.Snapshots()
				err = exp.ExportSpans(ctx, spans)
				_ = exp.Shutdown(ctx)
				delivered := len(c.get()) - before
				if tc.ok {
					if err != nil || delivered != 1 {
						t.Fatalf("with the token: %v, %d spans delivered", err, delivered)
					}
					return
				}
				if err == nil || delivered != 0 {
					t.Fatalf("without an accepted token: err %v, %d spans delivered", err, delivered)
				}
				if proto == "grpc" {
					var se interface{ GRPCStatus() *status.Status }
					if !errors.As(err, &se) || se.GRPCStatus().Code() != codes.Unauthenticated {
						t.Errorf("gRPC error %v, want Unauthenticated", err)
					}
				} else if !strings.Contains(err.Error(), "401") {
					t.Errorf("HTTP error %v, want 401", err)
				}
			})
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if rejects["unauthenticated"] != 6 || len(rejects) != 1 {
		t.Errorf("refusals counted %v, want unauthenticated: 6", rejects)
	}
}
