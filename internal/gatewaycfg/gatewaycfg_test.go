package gatewaycfg

import (
	"slices"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/hopscope/hopscope/internal/testkit"
)

func TestMain(m *testing.M) { testkit.VerifyNoLeaks(m) }

// TestYAML: the file parses, routes by trace id over the replicas with
// the queue and retries at the load_balancing level and none below it,
// and adds the mirror and the health check only when asked.
func TestYAML(t *testing.T) {
	type cfg struct {
		Extensions map[string]any `yaml:"extensions"`
		Receivers  struct {
			OTLP struct {
				Protocols map[string]struct{ Endpoint string } `yaml:"protocols"`
			} `yaml:"otlp"`
		} `yaml:"receivers"`
		Exporters map[string]struct {
			RoutingKey string `yaml:"routing_key"`
			Timeout    string `yaml:"timeout"`
			Retry      struct {
				MaxElapsed string `yaml:"max_elapsed_time"`
			} `yaml:"retry_on_failure"`
			Protocol struct {
				OTLP struct {
					Queue struct{ Enabled bool } `yaml:"sending_queue"`
					Retry struct{ Enabled bool } `yaml:"retry_on_failure"`
				} `yaml:"otlp"`
			} `yaml:"protocol"`
			Resolver struct {
				Static struct{ Hostnames []string } `yaml:"static"`
			} `yaml:"resolver"`
		} `yaml:"exporters"`
		Service struct {
			Pipelines map[string]struct{ Exporters []string } `yaml:"pipelines"`
		} `yaml:"service"`
	}
	for _, tc := range []struct {
		name string
		c    Config
		want []string // exporters of the traces pipeline
	}{
		{"bench", Config{GRPC: "127.0.0.1:1", HTTP: "127.0.0.1:2", HealthPort: 3, MetricsPort: 4, Replicas: []string{"127.0.0.1:5", "127.0.0.1:6"},
			MemoryLimitMiB: 1024, Timeout: 5 * time.Second, RetryFor: 15 * time.Second, QueueSize: 5000}, []string{"load_balancing"}},
		{"e2e", Config{HTTP: "127.0.0.1:2", MetricsPort: 4, Replicas: []string{"127.0.0.1:5"}, Mirror: "127.0.0.1:7",
			MemoryLimitMiB: 512, Timeout: 2 * time.Second, RetryFor: time.Second, QueueSize: 20000, LogLevel: "warn"}, []string{"load_balancing", "otlp/single"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got cfg
			if err := yaml.Unmarshal([]byte(YAML(tc.c)), &got); err != nil {
				t.Fatalf("%v\n%s", err, YAML(tc.c))
			}
			lb := got.Exporters["load_balancing"]
			if lb.RoutingKey != "traceID" || !slices.Equal(lb.Resolver.Static.Hostnames, tc.c.Replicas) ||
				lb.Retry.MaxElapsed != tc.c.RetryFor.String() || lb.Protocol.OTLP.Queue.Enabled || lb.Protocol.OTLP.Retry.Enabled {
				t.Errorf("load_balancing = %+v", lb)
			}
			if p := got.Service.Pipelines["traces"]; !slices.Equal(p.Exporters, tc.want) {
				t.Errorf("traces exporters = %v, want %v", p.Exporters, tc.want)
			}
			if (got.Extensions != nil) != (tc.c.HealthPort != 0) {
				t.Errorf("extensions = %v with HealthPort %d", got.Extensions, tc.c.HealthPort)
			}
			if _, ok := got.Receivers.OTLP.Protocols["grpc"]; ok != (tc.c.GRPC != "") {
				t.Errorf("grpc receiver present = %v, want %v", ok, tc.c.GRPC != "")
			}
		})
	}
}
