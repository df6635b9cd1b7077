//go:build e2e

package e2e

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hopscope/hopscope/collector"
	"github.com/hopscope/hopscope/sidecar"
)

// loopbackCollectorConfig is the collector with OTLP/HTTP and its API on
// free loopback ports and every other input off; tests turn on what they
// need.
func loopbackCollectorConfig() collector.Config {
	cfg := collector.DefaultConfig()
	cfg.OTLPGRPCListen, cfg.ForwardListen, cfg.RUMListen = "", "", ""
	cfg.OTLPHTTPListen, cfg.HTTPListen = "127.0.0.1:0", "127.0.0.1:0"
	return cfg
}

// runCollector starts a collector, stopped when the test ends.
func runCollector(t *testing.T, cfg collector.Config, opts collector.Options) *collector.Collector {
	t.Helper()
	col, err := collector.New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := col.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { col.Shutdown(context.Background()) })
	return col
}

// runSidecar starts a sidecar on its own registry, stopped when the test
// ends.
func runSidecar(t *testing.T, cfg sidecar.Config) (*sidecar.Sidecar, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	sc, err := sidecar.New(cfg, sidecar.Options{Registerer: reg, Gatherer: reg})
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sc.Shutdown(context.Background()) })
	return sc, reg
}
