package otlp

import (
	"bytes"
	"context"
	"encoding/hex"
	"io"
	"log"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/hopscope/hopscope/internal/otlpwire"
)

type captured struct {
	mu    sync.Mutex
	spans []*tracepb.Span
}

// consume validates like the collector does (otlpwire.Walk) and keeps the
// decoded spans.
func (c *captured) consume(_ context.Context, body []byte) error {
	if err := otlpwire.Walk(body, func(*otlpwire.Resource, *otlpwire.Scope, *otlpwire.Span) error { return nil }); err != nil {
		return err
	}
	var req coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(body, &req); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			c.spans = append(c.spans, ss.Spans...)
		}
	}
	return nil
}

func (c *captured) get() []*tracepb.Span {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*tracepb.Span(nil), c.spans...)
}

func start(t *testing.T, c *captured, mutate func(*Config)) *Receiver {
	t.Helper()
	cfg := DefaultConfig()
	cfg.GRPCListen, cfg.HTTPListen = "127.0.0.1:0", "127.0.0.1:0"
	if mutate != nil {
		mutate(&cfg)
	}
	r, err := newReceiver(cfg, c.consume)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		r.Shutdown(ctx)
	})
	return r
}

// TestRoundTripWithSDKExporters uses the OpenTelemetry SDK's own OTLP
// exporters as the clients.
func TestRoundTripWithSDKExporters(t *testing.T) {
	var c captured
	r := start(t, &c, nil)
	ctx := context.Background()
	httpExp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL("http://"+r.HTTPAddr().String()+"/v1/traces"), otlptracehttp.WithCompression(otlptracehttp.GzipCompression))
	if err != nil {
		t.Fatal(err)
	}
	grpcExp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(r.GRPCAddr().String()), otlptracegrpc.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	for name, exp := range map[string]sdktrace.SpanExporter{"http": httpExp, "grpc": grpcExp} {
		tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
		_, span := tp.Tracer("test").Start(ctx, "via-"+name)
		span.SetAttributes(attribute.String("hopscope.request_id", "req-"+name))
		span.End()
		if err := tp.Shutdown(ctx); err != nil {
			t.Fatalf("%s exporter: %v", name, err)
		}
	}
	got := map[string]string{}
	for _, s := range c.get() {
		got[s.Name] = s.Attributes[0].Value.GetStringValue()
	}
	if got["via-http"] != "req-http" || got["via-grpc"] != "req-grpc" {
		t.Fatalf("spans received: %v", got)
	}
}

func TestHTTPJSONAndRefusals(t *testing.T) {
	var c captured
	r := start(t, &c, func(cfg *Config) { cfg.MaxRequestBytes = 2048 })
	url := "http://" + r.HTTPAddr().String() + "/v1/traces"
	body := `{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"shop"}}]},
	  "scopeSpans":[{"spans":[{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b7","name":"GET /x",
	  "kind":2,"startTimeUnixNano":"1764151200000000000","endTimeUnixNano":"1764151200005000000"}]}]}]}`
	res, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("JSON export: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	s := c.get()
	if len(s) != 1 || hex.EncodeToString(s[0].TraceId) != "4bf92f3577b34da6a3ce929d0e0e4736" || s[0].EndTimeUnixNano-s[0].StartTimeUnixNano != 5e6 {
		t.Fatalf("decoded %v", s)
	}
	for _, tt := range []struct {
		ct, body string
		status   int
	}{
		{"text/plain", "x", 415},
		{"application/json", "{not json", 400},
		{"application/json", `{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz"}]}]}]}`, 400},
		{"application/x-protobuf", "\xff\xff\xff", 400},
		{"application/x-protobuf", strings.Repeat("a", 4096), 413},
	} {
		res, err := http.Post(url, tt.ct, bytes.NewReader([]byte(tt.body)))
		if err != nil {
			t.Fatal(err)
		}
		msg, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != tt.status {
			t.Errorf("%s %q: %d %s, want %d", tt.ct, tt.body[:min(len(tt.body), 20)], res.StatusCode, msg, tt.status)
		}
	}
}

// TestHTTPErrorLog: the OTLP/HTTP server writes net/http's own errors to
// Config.ErrorLog (the collector's JSON log), not to stderr.
func TestHTTPErrorLog(t *testing.T) {
	var buf strings.Builder
	el := log.New(&buf, "", 0)
	var c captured
	r := start(t, &c, func(cfg *Config) { cfg.ErrorLog = el })
	if r.http.ErrorLog != el {
		t.Fatal("the OTLP/HTTP server does not use Config.ErrorLog")
	}
}
