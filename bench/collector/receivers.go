package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hopscope/hopscope/bench/internal/harness"
	"github.com/hopscope/hopscope/internal/gatewaycfg"
)

// counters are what a receiver says it did, read from its /metrics.
type counters struct {
	// Accepted spans: hopscope_collector_received_total{source="otlp"},
	// otelcol_receiver_accepted_spans{receiver="otlp"}.
	Accepted float64 `json:"accepted_spans"`
	// Refused: Jaeger's refused plus failed spans; hopscope's
	// hopscope_collector_rejected_total{source="otlp"}, which counts refused
	// requests and spans with bad ids.
	Refused float64 `json:"refused"`
	// Stored: spans Jaeger's storage exporter wrote to memory
	// (otelcol_exporter_sent_spans); -1 for hopscope.
	Stored float64 `json:"stored_spans"`
	// ExportFailed: otelcol_exporter_send_failed_spans; -1 for hopscope.
	ExportFailed float64 `json:"export_failed_spans"`
	// TracesActive: hopscope_collector_traces_active, the traces in
	// hopscope's correlate store; -1 for Jaeger.
	TracesActive float64 `json:"traces_active"`
	// AllocBytes: heap bytes allocated since the start, cumulative
	// (hopscope's go_memstats_alloc_bytes_total, Jaeger's
	// otelcol_process_runtime_total_alloc_bytes); -1 when not exposed.
	AllocBytes float64 `json:"alloc_bytes_total"`
	// Mallocs: heap objects allocated since the start, cumulative
	// (go_memstats_mallocs_total); -1 when not exposed (Jaeger).
	Mallocs float64 `json:"mallocs_total"`
}

// receiver is one started contender.
type receiver struct {
	name       string
	p          *harness.Proc
	grpcAddr   string
	httpAddr   string
	metricsURL string
	readyURL   string
	pprofURL   string // http://ADDR of the profiled build's net/http/pprof, or "".
	read       func(samples []sample, afterLoad bool) (counters, error)
	// behind are processes the receiver sends to (the gateway's hopscope
	// collectors): stopped with it, their CPU not counted as its.
	behind []*harness.Proc
}

func (r *receiver) endpoint(protocol string) string {
	if protocol == "http" {
		return r.httpAddr
	}
	return r.grpcAddr
}

func (r *receiver) counters(ctx context.Context, afterLoad bool) (counters, error) {
	s, err := scrape(ctx, r.metricsURL)
	if err != nil {
		return counters{}, err
	}
	return r.read(s, afterLoad)
}

func loopback(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

// startReceiver starts argv (taskset … receiver) with GOMAXPROCS=1 and
// nothing else configuring it from the environment, its command line in
// dir/command.txt and its output in dir/stdout.log and dir/stderr.log.
func startReceiver(ctx context.Context, sess *harness.Session, name, dir string, argv []string) (*harness.Proc, error) {
	if err := os.WriteFile(filepath.Join(dir, "command.txt"), []byte(strings.Join(argv, " ")+"\n"), 0o644); err != nil {
		return nil, err
	}
	return sess.Start(ctx, name, harness.CleanEnv("GOMAXPROCS=1"),
		filepath.Join(dir, "stdout.log"), filepath.Join(dir, "stderr.log"), argv...)
}

// startHopscope starts `hopscope collector` pinned to cpu with GOMAXPROCS=1:
// both OTLP receivers on, Fluent forward and RUM off, no export. With
// pprof, bin is the profiled build and serves net/http/pprof on a fourth
// loopback port.
func startHopscope(ctx context.Context, sess *harness.Session, bin, dir string, cpu int, taskset string, pprof bool, extra []string) (*receiver, error) {
	ports, err := harness.FreePorts(4)
	if err != nil {
		return nil, err
	}
	r := &receiver{name: "hopscope", grpcAddr: loopback(ports[0]), httpAddr: loopback(ports[1])}
	api := loopback(ports[2])
	r.metricsURL, r.readyURL = "http://"+api+"/metrics", "http://"+api+"/healthz"
	args := []string{bin, "collector",
		"--otlp-grpc-listen", r.grpcAddr,
		"--otlp-http-listen", r.httpAddr,
		"--forward-listen", "",
		"--rum-listen", "",
		"--http-listen", api,
		"--max-traces", "1000000",
		"--window", "10m",
	}
	args = append(args, extra...)
	if pprof {
		r.pprofURL = "http://" + loopback(ports[3])
		args = append(args, "--pprof-listen", loopback(ports[3]))
	}
	if r.p, err = startReceiver(ctx, sess, "hopscope collector", dir, harness.Pinned(taskset, cpu, args...)); err != nil {
		return nil, err
	}
	r.read = func(s []sample, _ bool) (counters, error) { return hopscopeCounters(s) }
	return r, nil
}

// hopscopeCounters reads hopscope's /metrics.
func hopscopeCounters(s []sample) (counters, error) {
	var c counters
	var ok bool
	c.Accepted, ok = sum(s, "hopscope_collector_received_total", map[string]string{"source": "otlp"})
	if !ok {
		return c, fmt.Errorf("hopscope /metrics has no hopscope_collector_received_total{source=\"otlp\"} (seen: %s)",
			strings.Join(names(s, "hopscope_collector"), ", "))
	}
	c.Refused, _ = sum(s, "hopscope_collector_rejected_total", map[string]string{"source": "otlp"})
	if c.TracesActive, ok = sum(s, "hopscope_collector_traces_active", nil); !ok {
		return c, fmt.Errorf("hopscope /metrics has no hopscope_collector_traces_active")
	}
	c.Stored, c.ExportFailed = -1, -1
	c.AllocBytes, c.Mallocs = orUnknown(sum(s, "go_memstats_alloc_bytes_total", nil)), orUnknown(sum(s, "go_memstats_mallocs_total", nil))
	return c, nil
}

// orUnknown is sum's total, or -1 when the series is absent.
func orUnknown(v float64, found bool) float64 {
	if !found {
		return -1
	}
	return v
}

// jaegerConfig is the whole Jaeger v2 configuration: memory storage, the
// query extension (it needs one), the health check, the OTLP receiver
// straight into the storage exporter (no batch processor, no queue: the
// receiver's goroutine writes to memory), and the collector's own metrics
// on a loopback port. Every address is 127.0.0.1.
const jaegerConfig = `# written by bench/collector
service:
  extensions: [jaeger_storage, jaeger_query, healthcheckv2]
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [jaeger_storage_exporter]
  telemetry:
    resource:
      service.name: jaeger
    metrics:
      level: normal
      readers:
        - pull:
            exporter:
              prometheus:
                host: 127.0.0.1
                port: %[1]d
    logs:
      level: info

extensions:
  healthcheckv2:
    use_v2: true
    http:
      endpoint: 127.0.0.1:%[2]d
  jaeger_query:
    storage:
      traces: memstore
    http:
      endpoint: 127.0.0.1:%[3]d
    grpc:
      endpoint: 127.0.0.1:%[4]d
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: %[7]d

receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:%[5]d
      http:
        endpoint: 127.0.0.1:%[6]d

exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
`

// startJaeger starts Jaeger v2 pinned to cpu with GOMAXPROCS=1 and the
// configuration above.
func startJaeger(ctx context.Context, sess *harness.Session, bin, dir string, cpu int, taskset string, maxTraces int) (*receiver, error) {
	ports, err := harness.FreePorts(6)
	if err != nil {
		return nil, err
	}
	metrics, health, qHTTP, qGRPC, oGRPC, oHTTP := ports[0], ports[1], ports[2], ports[3], ports[4], ports[5]
	conf := filepath.Join(dir, "jaeger.yaml")
	if err := os.WriteFile(conf, fmt.Appendf(nil, jaegerConfig, metrics, health, qHTTP, qGRPC, oGRPC, oHTTP, maxTraces), 0o644); err != nil {
		return nil, err
	}
	r := &receiver{name: "jaeger", grpcAddr: loopback(oGRPC), httpAddr: loopback(oHTTP),
		metricsURL: "http://" + loopback(metrics) + "/metrics", readyURL: "http://" + loopback(health) + "/status"}
	argv := harness.Pinned(taskset, cpu, bin, "--config", conf)
	if r.p, err = startReceiver(ctx, sess, "jaeger", dir, argv); err != nil {
		return nil, err
	}
	r.read = jaegerCounters
	return r, nil
}

// jaegerCounters reads Jaeger's metrics.
func jaegerCounters(s []sample, afterLoad bool) (counters, error) {
	var c counters
	var ok bool
	// The series appear with the first span; before the load, absent means 0.
	c.Accepted, ok = sum(s, "otelcol_receiver_accepted_spans", map[string]string{"receiver": "otlp"})
	if !ok && afterLoad {
		return c, fmt.Errorf("jaeger's metrics have no otelcol_receiver_accepted_spans{receiver=\"otlp\"} (seen: %s)",
			strings.Join(names(s, "otelcol_receiver"), ", "))
	}
	refused, _ := sum(s, "otelcol_receiver_refused_spans", map[string]string{"receiver": "otlp"})
	failed, _ := sum(s, "otelcol_receiver_failed_spans", map[string]string{"receiver": "otlp"})
	c.Refused = refused + failed
	c.Stored, ok = sum(s, "otelcol_exporter_sent_spans", map[string]string{"exporter": "jaeger_storage_exporter"})
	if !ok && afterLoad {
		c.Stored = -1 // not exposed: reported as unknown
	}
	c.ExportFailed, _ = sum(s, "otelcol_exporter_send_failed_spans", map[string]string{"exporter": "jaeger_storage_exporter"})
	c.TracesActive = -1
	c.AllocBytes, c.Mallocs = orUnknown(sum(s, "otelcol_process_runtime_total_alloc_bytes", nil)), -1
	return c, nil
}

// gatewayReplicas is the number of hopscope collectors behind the gateway.
const gatewayReplicas = 3

// startGateway starts three hopscope collectors (not pinned, not
// measured) and the scale-out gateway in front of them, pinned to cpu with
// GOMAXPROCS=1: the measurement is the gateway's own cost of routing each
// span by trace id.
func startGateway(ctx context.Context, sess *harness.Session, bin, hsBin, dir string, cpu int, taskset string, ready time.Duration) (*receiver, error) {
	r := &receiver{name: "gateway"}
	var hosts []string
	for i := range gatewayReplicas {
		ports, err := harness.FreePorts(2)
		if err != nil {
			return nil, err
		}
		grpc, api := loopback(ports[0]), loopback(ports[1])
		p, err := sess.Start(ctx, fmt.Sprintf("hopscope collector %d", i), harness.CleanEnv("GOMAXPROCS=1"),
			filepath.Join(dir, fmt.Sprintf("replica%d.stdout.log", i)), filepath.Join(dir, fmt.Sprintf("replica%d.stderr.log", i)),
			hsBin, "collector", "--otlp-grpc-listen", grpc, "--otlp-http-listen", "", "--forward-listen", "", "--rum-listen", "",
			"--http-listen", api, "--max-traces", "1000000", "--window", "10m")
		if err != nil {
			return nil, err
		}
		r.behind = append(r.behind, p)
		if err := harness.WaitReady(ctx, p, harness.Ready{URL: "http://" + api + "/healthz", Timeout: ready, Every: 100 * time.Millisecond}); err != nil {
			return nil, err
		}
		hosts = append(hosts, grpc)
	}
	ports, err := harness.FreePorts(4)
	if err != nil {
		return nil, err
	}
	r.grpcAddr, r.httpAddr = loopback(ports[0]), loopback(ports[1])
	r.metricsURL, r.readyURL = "http://"+loopback(ports[2])+"/metrics", "http://"+loopback(ports[3])+"/"
	conf := filepath.Join(dir, "gateway.yaml")
	yaml := gatewaycfg.YAML(gatewaycfg.Config{GRPC: r.grpcAddr, HTTP: r.httpAddr, HealthPort: ports[3], MetricsPort: ports[2],
		Replicas: hosts, MemoryLimitMiB: 1024, Timeout: 5 * time.Second, RetryFor: 15 * time.Second, QueueSize: 5000})
	if err := os.WriteFile(conf, []byte(yaml), 0o644); err != nil {
		return nil, err
	}
	if r.p, err = startReceiver(ctx, sess, "gateway", dir, harness.Pinned(taskset, cpu, bin, "--config", conf)); err != nil {
		return nil, err
	}
	r.read = gatewayCounters
	return r, nil
}

// gatewayCounters reads the gateway's metrics: spans accepted by its OTLP
// receiver, routed (sent) and failed by its load_balancing exporter.
func gatewayCounters(s []sample, afterLoad bool) (counters, error) {
	var c counters
	var ok bool
	c.Accepted, ok = sum(s, "otelcol_receiver_accepted_spans", map[string]string{"receiver": "otlp"})
	if !ok && afterLoad {
		return c, fmt.Errorf("the gateway's metrics have no otelcol_receiver_accepted_spans{receiver=\"otlp\"} (seen: %s)",
			strings.Join(names(s, "otelcol_receiver"), ", "))
	}
	refused, _ := sum(s, "otelcol_receiver_refused_spans", map[string]string{"receiver": "otlp"})
	failed, _ := sum(s, "otelcol_receiver_failed_spans", map[string]string{"receiver": "otlp"})
	c.Refused = refused + failed
	c.Stored, _ = sum(s, "otelcol_exporter_sent_spans", map[string]string{"exporter": "load_balancing"})
	c.ExportFailed, _ = sum(s, "otelcol_exporter_send_failed_spans", map[string]string{"exporter": "load_balancing"})
	c.TracesActive = -1
	c.AllocBytes, c.Mallocs = orUnknown(sum(s, "otelcol_process_runtime_total_alloc_bytes", nil)), -1
	return c, nil
}
