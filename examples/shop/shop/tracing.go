package shop

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
)

// SetupTracing installs the W3C TraceContext propagator and, unless
// endpoint is empty, a global tracer provider exporting to endpoint over
// OTLP/HTTP (see NewTracerProvider). Call shutdown before exiting to flush
// the spans still queued.
func SetupTracing(ctx context.Context, endpoint, service string) (shutdown func(context.Context) error, err error) {
	otel.SetTextMapPropagator(propagation.TraceContext{})
	if endpoint == "" {
		return func(context.Context) error { return nil }, nil
	}
	tp, err := NewTracerProvider(ctx, endpoint, service)
	if err != nil {
		return nil, err
	}
	otel.SetTracerProvider(tp)
	return tp.Shutdown, nil
}

// NewTracerProvider is a tracer provider that samples what its parent
// sampled (everything, for a new trace), batches spans (the SDK's
// defaults, changed by batch) and exports them over OTLP/HTTP to endpoint, http(s)://host:4318 (/v1/traces is added to a
// bare host). Its resource has service.name=service ("shop" if empty) and
// what OTEL_RESOURCE_ATTRIBUTES says.
func NewTracerProvider(ctx context.Context, endpoint, service string, batch ...sdktrace.BatchSpanProcessorOption) (*sdktrace.TracerProvider, error) {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("shop: OTLP endpoint: want http(s)://host:4318, got %q", endpoint)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/v1/traces"
	}
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(u.String()))
	if err != nil {
		return nil, fmt.Errorf("shop: OTLP exporter: %w", err)
	}
	if strings.TrimSpace(service) == "" {
		service = "shop"
	}
	res, err := resource.New(ctx,
		resource.WithFromEnv(), resource.WithTelemetrySDK(),
		resource.WithAttributes(semconv.ServiceName(service)))
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("shop: resource: %w", err)
	}
	return sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp, batch...),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.AlwaysSample())),
	), nil
}
