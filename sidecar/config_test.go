package sidecar

import (
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string // substring naming the flag; "" = valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"listen", func(c *Config) { c.Listen = "nope" }, "--listen"},
		{"admin", func(c *Config) { c.AdminListen = "" }, "--admin-listen"},
		{"upstream scheme", func(c *Config) { c.Upstream = "ftp://x" }, "--upstream"},
		{"upstream host", func(c *Config) { c.Upstream = "http://" }, "--upstream"},
		{"timeout", func(c *Config) { c.UpstreamTimeout = -time.Second }, "--upstream-timeout"},
		{"protocol", func(c *Config) { c.UpstreamProtocol = "h3" }, "--upstream-protocol"},
		{"otlp scheme", func(c *Config) { c.OTLPEndpoint = "tcp://c:4317" }, "--otlp-endpoint"},
		{"otlp ok grpc", func(c *Config) { c.OTLPEndpoint = "grpc://c:4317" }, ""},
		{"otlp ok http", func(c *Config) { c.OTLPEndpoint = "http://c:4318" }, ""},
		{"fluent", func(c *Config) { c.FluentAddress = "fluent-bit" }, "--fluent-address"},
		{"fluent no host", func(c *Config) { c.FluentAddress = ":24224" }, `--fluent-address: ":24224" must be host:port: missing host`},
		{"fluent port range", func(c *Config) { c.FluentAddress = "fluent-bit:99999" }, `--fluent-address: "fluent-bit:99999" must be host:port: port "99999" is not a number from 1 to 65535`},
		{"fluent port text", func(c *Config) { c.FluentAddress = "fluent-bit:abc" }, "--fluent-address"},
		{"fluent ok", func(c *Config) { c.FluentAddress = "fluent-bit.logging:24224" }, ""},
		{"fluent tag", func(c *Config) { c.FluentTag = "a..b" }, `--fluent-tag: "a..b" must be dot-separated words`},
		{"fluent tag blank", func(c *Config) { c.FluentTag = "a b" }, "--fluent-tag"},
		{"fluent tag empty", func(c *Config) { c.FluentTag = "" }, "--fluent-tag: must not be empty"},
		{"upstream port range", func(c *Config) { c.Upstream = "http://127.0.0.1:99999" }, `--upstream: port "99999" is not a number from 1 to 65535`},
		{"upstream port zero", func(c *Config) { c.Upstream = "http://127.0.0.1:0" }, "--upstream"},
		{"upstream port text", func(c *Config) { c.Upstream = "http://127.0.0.1:abc" }, "--upstream"},
		{"upstream no host", func(c *Config) { c.Upstream = "http://:8080" }, "--upstream"},
		{"upstream default port", func(c *Config) { c.Upstream = "https://app.local" }, ""},
		{"propagators", func(c *Config) { c.Propagators = []string{"w3c"} }, "--propagators"},
		{"no tracecontext", func(c *Config) { c.Propagators = []string{"b3"} }, "must include tracecontext"},
		{"access log", func(c *Config) { c.AccessLog = "file" }, "--access-log"},
		{"routes", func(c *Config) { c.Routes = []string{"orders/{id}"} }, "--routes"},
		{"max routes", func(c *Config) { c.MaxRoutes = 0 }, "--max-routes"},
		{"service", func(c *Config) { c.Service = " " }, "--service"},
		{"header bytes", func(c *Config) { c.MaxHeaderBytes = 10 }, "--max-header-bytes"},
		{"gc percent", func(c *Config) { c.GCPercent = 5 }, "--gc-percent"},
		{"read header timeout", func(c *Config) { c.ReadHeaderTimeout = 0 }, "--read-header-timeout"},
		{"request body timeout", func(c *Config) { c.RequestBodyTimeout = -time.Second }, "--request-body-timeout: must not be negative"},
		{"request body timeout off", func(c *Config) { c.RequestBodyTimeout = 0 }, ""},
		{"span queue bytes", func(c *Config) { c.SpanQueueBytes = 1000 }, "--span-queue-bytes: must be at least 65536, got 1000"},
		{"fluent buffer bytes", func(c *Config) { c.FluentBufferBytes = 0 }, "--fluent-buffer-bytes: must be at least 16384, got 0"},
		{"memory limit too small", func(c *Config) { c.MemoryLimit = 32 << 20 }, "--memory-limit: must be 0 (none) or at least 67108864 bytes (64 MiB)"},
		{"memory limit negative", func(c *Config) { c.MemoryLimit = -1 }, "--memory-limit"},
		{"memory limit chart default", func(c *Config) { c.MemoryLimit = 128 << 20 }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.mutate(&c)
			err := c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v does not name %s", err, tt.want)
			}
		})
	}
}

func TestDefaultService(t *testing.T) {
	env := func(m map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	if got := defaultService(env(nil)); got != "unknown" {
		t.Errorf("no env: %q", got)
	}
	if got := defaultService(env(map[string]string{"HOPSCOPE_POD_APP_LABEL": "shop"})); got != "shop" {
		t.Errorf("app label: %q", got)
	}
	if got := defaultService(env(map[string]string{"HOPSCOPE_POD_APP_LABEL": "shop", "OTEL_SERVICE_NAME": "checkout"})); got != "checkout" {
		t.Errorf("OTEL_SERVICE_NAME: %q", got)
	}
}
