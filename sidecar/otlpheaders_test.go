package sidecar

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.opentelemetry.io/otel/sdk/resource"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/hopscope/hopscope/collector/consumer"
	"github.com/hopscope/hopscope/collector/otlp"
	"github.com/hopscope/hopscope/internal/bearer"
	"github.com/hopscope/hopscope/internal/otlpwire"
	"github.com/hopscope/hopscope/internal/testkit"
)

// TestOTLPHeadersFromEnv: OTEL_EXPORTER_OTLP_HEADERS (and _TRACES_HEADERS
// over it) reach the collector on both protocols, so a collector with
// --auth-token-file takes the sidecar's spans; without the header its
// refusals are counted as drops.
func TestOTLPHeadersFromEnv(t *testing.T) {
	const token = "sidecar-0123456789abcdef"
	tokens, err := bearer.Load(testkit.TokenFile(t, token))
	if err != nil {
		t.Fatal(err)
	}
	var received atomic.Int64
	cfg := otlp.DefaultConfig()
	cfg.GRPCListen, cfg.HTTPListen = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Tokens = tokens
	recv, err := otlp.New(cfg, consumer.Func(func(_ context.Context, in consumer.Input) error {
		body := in.OTLP
		return otlpwire.Walk(body, func(*otlpwire.Resource, *otlpwire.Scope, *otlpwire.Span) error { received.Add(1); return nil })
	}))
	if err != nil {
		t.Fatal(err)
	}
	if err := recv.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = recv.Shutdown(context.Background()) })

	for _, tc := range []struct {
		name, general, traces string
		delivered             bool
	}{
		{"no header", "", "", false},
		{"general", "authorization=Bearer%20" + token, "", true},
		{"traces over general", "authorization=Bearer%20wrong-000000000000", "authorization=Bearer%20" + token, true},
		{"wrong token", "authorization=Bearer%20wrong-000000000000", "", false},
	} {
		for _, ep := range []string{"http://" + recv.HTTPAddr().String(), "grpc://" + recv.GRPCAddr().String()} {
			t.Run(tc.name+"/"+ep[:strings.Index(ep, ":")], func(t *testing.T) {
				for k, v := range map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": tc.general, "OTEL_EXPORTER_OTLP_TRACES_HEADERS": tc.traces} {
					if v == "" {
						os.Unsetenv(k)
						t.Cleanup(func() { os.Unsetenv(k) })
					} else {
						t.Setenv(k, v)
					}
				}
				dropped := prometheus.NewCounter(prometheus.CounterOpts{Name: "dropped"})
				truncated := prometheus.NewCounter(prometheus.CounterOpts{Name: "truncated"})
				c := DefaultConfig()
				c.OTLPEndpoint = ep
				tp, err := newTracerProvider(&c, resource.Empty(), dropped, truncated, nil)
				if err != nil {
					t.Fatal(err)
				}
				before := received.Load()
				_, span := tp.Tracer("t").Start(context.Background(), "GET /")
				span.End()
				_ = tp.Shutdown(t.Context())
				got := received.Load() - before
				if tc.delivered && (got != 1 || testutil.ToFloat64(dropped) != 0) {
					t.Errorf("%d spans received, %v dropped; want 1 and 0", got, testutil.ToFloat64(dropped))
				}
				if !tc.delivered && (got != 0 || testutil.ToFloat64(dropped) != 1) {
					t.Errorf("%d spans received, %v dropped; want 0 and 1 (refused, counted)", got, testutil.ToFloat64(dropped))
				}
			})
		}
	}

	// A malformed list: the sidecar starts (the app's traffic does not
	// depend on telemetry), says why in its log, and exports without it.
	t.Setenv("OTEL_EXPORTER_OTLP_HEADERS", "authorization")
	core, logs := observer.New(zap.ErrorLevel)
	c := DefaultConfig()
	c.OTLPEndpoint = "http://" + recv.HTTPAddr().String()
	tp, err := newTracerProvider(&c, resource.Empty(), prometheus.NewCounter(prometheus.CounterOpts{Name: "d"}), prometheus.NewCounter(prometheus.CounterOpts{Name: "t"}), zap.New(core))
	if err != nil {
		t.Fatalf("a malformed header list stopped the sidecar: %v", err)
	}
	_ = tp.Shutdown(t.Context())
	if l := logs.All(); len(l) != 1 || !strings.Contains(fmt.Sprint(l[0].ContextMap()["error"]), "OTEL_EXPORTER_OTLP_HEADERS: entry 1") {
		t.Errorf("log = %+v, want one error naming the variable", l)
	}
}
