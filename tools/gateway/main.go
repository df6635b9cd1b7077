// Command gateway is hopscope's scale-out gateway: an OpenTelemetry
// Collector (github.com/open-telemetry/opentelemetry-collector-contrib,
// v0.161.0) built with only the components the gateway needs, in the
// manner of the Collector's own builder (ocb):
//
//   - receivers: otlp (gRPC and HTTP), what the sidecars, applications and
//     hopscope's edge parse stage send;
//   - processors: memory_limiter, so a burst is refused with back-pressure
//     rather than ending the process;
//   - exporters: loadbalancing (routing_key traceID: every span and log
//     record of one trace reaches the same hopscope collector replica,
//     found through a static list, DNS of a headless Service or the
//     Kubernetes API), otlp and debug;
//   - extensions: health_check (the chart's probes) and bearertokenauth
//     (with the chart's auth.enabled, the gateway takes only senders with a
//     token of the collector's list, as the collector does).
//
// The chart renders its configuration (charts/hopscope, collector.replicas
// > 1; docs/scaling.md). Run it as any Collector:
//
//	gateway --config /etc/hopscope-gateway/config.yaml
package main

import (
	"fmt"
	"os"

	"github.com/open-telemetry/opentelemetry-collector-contrib/exporter/loadbalancingexporter"
	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/bearertokenauthextension"
	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/healthcheckextension"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/envprovider"
	"go.opentelemetry.io/collector/confmap/provider/fileprovider"
	"go.opentelemetry.io/collector/confmap/provider/yamlprovider"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/debugexporter"
	"go.opentelemetry.io/collector/exporter/otlpexporter"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/otelcol"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/memorylimiterprocessor"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/service/telemetry/otelconftelemetry"
)

// version is the OpenTelemetry Collector release the gateway is built
// from (every collector module in go.mod is at this one release).
const version = "0.161.0"

func components() (otelcol.Factories, error) {
	var f otelcol.Factories
	var err error
	if f.Receivers, err = otelcol.MakeFactoryMap[receiver.Factory](otlpreceiver.NewFactory()); err != nil {
		return f, err
	}
	if f.Processors, err = otelcol.MakeFactoryMap[processor.Factory](memorylimiterprocessor.NewFactory()); err != nil {
		return f, err
	}
	if f.Exporters, err = otelcol.MakeFactoryMap[exporter.Factory](loadbalancingexporter.NewFactory(),
		otlpexporter.NewFactory(), debugexporter.NewFactory()); err != nil {
		return f, err
	}
	if f.Extensions, err = otelcol.MakeFactoryMap[extension.Factory](healthcheckextension.NewFactory(),
		bearertokenauthextension.NewFactory()); err != nil {
		return f, err
	}
	f.Telemetry = otelconftelemetry.NewFactory()
	return f, nil
}

func main() {
	set := otelcol.CollectorSettings{
		BuildInfo: component.BuildInfo{
			Command:     "gateway",
			Description: "hopscope's scale-out gateway: an OpenTelemetry Collector routing by trace id",
			Version:     version,
		},
		Factories: components,
		ConfigProviderSettings: otelcol.ConfigProviderSettings{
			ResolverSettings: confmap.ResolverSettings{
				ProviderFactories: []confmap.ProviderFactory{
					fileprovider.NewFactory(), envprovider.NewFactory(), yamlprovider.NewFactory(),
				},
				DefaultScheme: "env",
			},
		},
	}
	if err := otelcol.NewCommand(set).Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
}
