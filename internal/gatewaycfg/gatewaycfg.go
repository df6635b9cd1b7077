// Package gatewaycfg writes the configuration of hopscope's scale-out
// gateway (tools/gateway) for runs on loopback: the chart's
// (charts/hopscope/templates/gateway.yaml) with a static resolver over the
// given replicas, for the e2e suite's TestScaleOut and bench/collector's
// gateway contender. The queue and the retries sit at the load_balancing
// level as in the chart: a failed export is counted there
// (otelcol_exporter_send_failed_spans) and a retry is routed again; the
// per-replica exporters have none (they report no metrics).
package gatewaycfg

import (
	"strings"
	"text/template"
	"time"
)

// Config is what differs between the runs.
type Config struct {
	// GRPC and HTTP are the OTLP receiver's endpoints (HOST:PORT; "" = off).
	GRPC, HTTP string
	// HealthPort serves the health_check extension on 127.0.0.1 (0 = off).
	HealthPort int
	// MetricsPort serves the gateway's own metrics on 127.0.0.1.
	MetricsPort int
	// Replicas are the hopscope collectors' OTLP/gRPC HOST:PORT.
	Replicas []string
	// Mirror, when set, is the OTLP/gRPC HOST:PORT of one more collector
	// that gets every span too (exporter otlp/single).
	Mirror string
	// MemoryLimitMiB is the memory_limiter's limit (spike: a quarter).
	MemoryLimitMiB int
	// Timeout bounds one export; RetryFor is how long a failed one is
	// retried (from 100 ms, backing off to 500 ms); QueueSize is the
	// load_balancing queue in requests.
	Timeout, RetryFor time.Duration
	QueueSize         int
	// LogLevel is the gateway's own log level ("" = the Collector's).
	LogLevel string
}

var tmpl = template.Must(template.New("gateway").Funcs(template.FuncMap{
	"join":    strings.Join,
	"quarter": func(n int) int { return n / 4 },
}).Parse(`# written by internal/gatewaycfg
{{- if .HealthPort }}
extensions:
  health_check:
    endpoint: 127.0.0.1:{{ .HealthPort }}
{{- end }}
receivers:
  otlp:
    protocols:
{{- if .GRPC }}
      grpc:
        endpoint: {{ .GRPC }}
{{- end }}
{{- if .HTTP }}
      http:
        endpoint: {{ .HTTP }}
{{- end }}
processors:
  memory_limiter:
    check_interval: 1s
    limit_mib: {{ .MemoryLimitMiB }}
    spike_limit_mib: {{ quarter .MemoryLimitMiB }}
exporters:
  load_balancing:
    routing_key: traceID
    timeout: {{ .Timeout }}
    sending_queue:
      enabled: true
      num_consumers: 20
      queue_size: {{ .QueueSize }}
    retry_on_failure:
      enabled: true
      initial_interval: 100ms
      max_interval: 500ms
      max_elapsed_time: {{ .RetryFor }}
    protocol:
      otlp:
        tls:
          insecure: true
        timeout: {{ .Timeout }}
        sending_queue:
          enabled: false
        retry_on_failure:
          enabled: false
    resolver:
      static:
        hostnames: [{{ join .Replicas ", " }}]
{{- if .Mirror }}
  otlp/single:
    endpoint: {{ .Mirror }}
    tls:
      insecure: true
{{- end }}
service:
{{- if .HealthPort }}
  extensions: [health_check]
{{- end }}
  telemetry:
{{- if .LogLevel }}
    logs:
      level: {{ .LogLevel }}
{{- end }}
    metrics:
      level: detailed
      readers:
        - pull:
            exporter:
              prometheus:
                host: 127.0.0.1
                port: {{ .MetricsPort }}
  pipelines:
    traces:
      receivers: [otlp]
      processors: [memory_limiter]
      exporters: [load_balancing{{ if .Mirror }}, otlp/single{{ end }}]
`))

// YAML returns the gateway's configuration file.
func YAML(c Config) string {
	var b strings.Builder
	if err := tmpl.Execute(&b, c); err != nil {
		panic(err) // the template and Config are fixed: a bug here
	}
	return b.String()
}
