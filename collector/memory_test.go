package collector

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fluent/fluent-logger-golang/fluent"
	"github.com/hopscope/hopscope/internal/testkit"
	"github.com/prometheus/client_golang/prometheus"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// TestMemoryLimiterFlags: --memory-limit-mib and --memory-spike-mib
// against GOMEMLIMIT — the limit 80 % of GOMEMLIMIT when not given, no
// limiter without either, the spike 20 % of the limit when not given —
// and every misfit named by its flag.
func TestMemoryLimiterFlags(t *testing.T) {
	const mib = 1 << 20
	const none = math.MaxInt64
	for _, tc := range []struct {
		name         string
		limit, spike uint64
		gml          int64
		wantLimit    uint64 // 0: no limiter
		wantSpike    uint64
		err          string
	}{
		{"nothing set: no limiter", 0, 0, none, 0, 0, ""},
		{"the flag", 256, 0, none, 256 * mib, 256 * mib / 100 * 20, ""},
		{"the flag and a spike", 256, 32, none, 256 * mib, 32 * mib, ""},
		{"the flag wins over GOMEMLIMIT", 256, 0, 1 << 30, 256 * mib, 256 * mib / 100 * 20, ""},
		{"GOMEMLIMIT 1 GiB (the chart: the container limit)", 0, 0, 1 << 30, (1 << 30) / 100 * 80, (1 << 30) / 100 * 80 / 100 * 20, ""},
		{"GOMEMLIMIT and a spike", 0, 100, 1000 * mib, 1000 * mib / 100 * 80, 100 * mib, ""},
		{"a spike without a limit", 0, 64, none, 0, 0, "--memory-spike-mib: needs a limit"},
		{"a spike as large as the limit", 100, 100, none, 0, 0, "--memory-spike-mib: 100 MiB must be less than the limit, 100 MiB"},
		{"a limit beyond any machine", 1 << 41, 0, none, 0, 0, "--memory-limit-mib: 2199023255552 is too large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.MemoryLimitMiB, cfg.MemorySpikeMiB = tc.limit, tc.spike
			got, err := cfg.memoryLimiter(tc.gml)
			switch {
			case tc.err != "":
				if err == nil || !strings.HasPrefix(err.Error(), tc.err[:strings.Index(tc.err, ":")+1]) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("%v, want %s", err, tc.err)
				}
			case err != nil:
				t.Fatal(err)
			case tc.wantLimit == 0:
				if got != nil {
					t.Fatalf("a limiter %+v", *got)
				}
			case got == nil:
				t.Fatal("no limiter")
			case got.LimitBytes != tc.wantLimit || got.SpikeBytes != tc.wantSpike:
				t.Fatalf("limit %d, spike %d; want %d, %d", got.LimitBytes, got.SpikeBytes, tc.wantLimit, tc.wantSpike)
			}
		})
	}
}

// TestMemoryFlagsParsed: the flags exist and Validate names them.
func TestMemoryFlagsParsed(t *testing.T) {
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("collector", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	if err := fs.Parse([]string{"--memory-limit-mib=300", "--memory-spike-mib=60"}); err != nil {
		t.Fatal(err)
	}
	if cfg.MemoryLimitMiB != 300 || cfg.MemorySpikeMiB != 60 {
		t.Fatalf("parsed %d, %d", cfg.MemoryLimitMiB, cfg.MemorySpikeMiB)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	cfg.MemorySpikeMiB = 300
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "--memory-spike-mib: ") {
		t.Fatalf("Validate: %v", err)
	}
}

// TestMemoryLimitRefusesAndRecovers: with the heap (an injected reading)
// over the soft limit every receiver refuses with its protocol's
// back-pressure — OTLP/HTTP 429, OTLP/gRPC RESOURCE_EXHAUSTED, RUM 429,
// the Fluent forward connection and the tailed file paused — each refusal
// in hopscope_collector_rejected_total{reason="memory_limit"}; back under
// it, without a restart, everything is taken again and what was paused
// arrives, nothing lost.
func TestMemoryLimitRefusesAndRecovers(t *testing.T) {
	var heap atomic.Uint64
	heap.Store(10 << 20)
	logPath := filepath.Join(t.TempDir(), "access.log")
	if err := os.WriteFile(logPath, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.OTLPGRPCListen, cfg.OTLPHTTPListen, cfg.ForwardListen = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.HTTPListen, cfg.RUMListen, cfg.RUMAllowedOrigins = "127.0.0.1:0", "127.0.0.1:0", []string{"*"}
	cfg.Tail = []string{FormatIngressNginxJSON + ":" + logPath}
	cfg.MemoryLimitMiB = 100 // soft limit 80 MiB
	reg := prometheus.NewRegistry()
	c, err := New(cfg, Options{Registerer: reg, Gatherer: reg, FlushTick: 20 * time.Millisecond, TailPollInterval: 10 * time.Millisecond,
		MemoryReader: heap.Load, MemoryCheckInterval: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c.Shutdown(ctx)
	})
	body, err := proto.Marshal(exportRequest(1, 1, 7, true))
	if err != nil {
		t.Fatal(err)
	}
	otlpHTTP := func() *http.Response {
		t.Helper()
		res, err := http.Post("http://"+c.OTLPHTTPAddr().String()+"/v1/traces", "application/x-protobuf", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	cc, err := grpc.NewClient(c.OTLPGRPCAddr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	otlpGRPC := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := coltracepb.NewTraceServiceClient(cc).Export(ctx, exportRequest(1, 1, 8, true))
		return err
	}
	rejected := func(source string) float64 {
		return testutilCounter(c.m.rejected.WithLabelValues(source, "memory_limit"))
	}
	received := func(source string) float64 { return testutilCounter(c.m.received.WithLabelValues(source)) }

	heap.Store(90 << 20)
	testkit.Eventually(t, "refusing", waitLimit, c.lim.Refusing)
	if res := otlpHTTP(); res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") != "1" {
		t.Errorf("OTLP/HTTP while refusing: %d, Retry-After %q", res.StatusCode, res.Header.Get("Retry-After"))
	}
	if err := otlpGRPC(); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("OTLP/gRPC while refusing: %v", err)
	}
	res, err := http.Post("http://"+c.RUMAddr().String()+"/v1/rum", "text/plain", strings.NewReader(`{"v":1}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusTooManyRequests {
		t.Errorf("RUM while refusing: %d", res.StatusCode)
	}
	host, port := splitAddr(t, c.ForwardAddr().String())
	f, err := fluent.New(fluent.Config{FluentHost: host, FluentPort: port, RequestAck: true, Timeout: 5 * time.Second,
		ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	line := `{"msec":"1764151200.100","request_time":"0.015","status":"200","request_method":"GET","request_uri":"/orders/1","upstream_addr":"10.0.0.7:15080","upstream_status":"200","upstream_response_time":"0.013","req_id":"req-mem"}` + "\n"
	posted := make(chan error, 1)
	go func() { posted <- f.Post("kube.ingress-nginx", map[string]string{"log": line, "stream": "stdout"}) }()
	lf, err := os.OpenFile(logPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	if _, err := lf.WriteString(line); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "the forward connection and the tailed file paused", waitLimit, func() bool {
		return rejected(SrcForward) == 1 && rejected(SrcIngress) == 1
	})
	if rejected(SrcOTLP) != 2 || rejected(SrcRUM) != 1 {
		t.Errorf("refusals counted: otlp %v (want 2), rum %v (want 1)", rejected(SrcOTLP), rejected(SrcRUM))
	}
	select {
	case err := <-posted:
		t.Fatalf("the forward record was acknowledged while paused (%v)", err)
	default:
	}
	if received(SrcOTLP) != 0 || received(SrcForward) != 0 || received(SrcIngress) != 0 || received(SrcRUM) != 0 {
		t.Fatalf("input taken while refusing: otlp %v, forward %v, ingress %v, rum %v",
			received(SrcOTLP), received(SrcForward), received(SrcIngress), received(SrcRUM))
	}
	if v := metricValue(t, reg, "hopscope_collector_memory_refusing"); v != 1 {
		t.Errorf("hopscope_collector_memory_refusing %v while refusing", v)
	}

	heap.Store(50 << 20)
	testkit.Eventually(t, "accepting again", waitLimit, func() bool { return !c.lim.Refusing() })
	if err := <-posted; err != nil {
		t.Fatalf("the paused forward record: %v", err)
	}
	if res := otlpHTTP(); res.StatusCode != http.StatusOK {
		t.Errorf("OTLP/HTTP after: %d", res.StatusCode)
	}
	if err := otlpGRPC(); err != nil {
		t.Errorf("OTLP/gRPC after: %v", err)
	}
	testkit.Eventually(t, "every source received after the refusal", 5*time.Second, func() bool {
		return received(SrcForward) == 1 && received(SrcIngress) == 1 && received(SrcOTLP) == 4
	}, func() string {
		return fmt.Sprintf("after: received forward %v (want 1), ingress %v (want 1), otlp %v (want 4)", received(SrcForward), received(SrcIngress), received(SrcOTLP))
	})
	if rejected(SrcOTLP) != 2 || rejected(SrcForward) != 1 || rejected(SrcIngress) != 1 || rejected(SrcRUM) != 1 {
		t.Errorf("refusals after: otlp %v, forward %v, ingress %v, rum %v", rejected(SrcOTLP), rejected(SrcForward), rejected(SrcIngress), rejected(SrcRUM))
	}
	if v := metricValue(t, reg, "hopscope_collector_memory_refusal_periods_total"); v != 1 {
		t.Errorf("refusal periods %v, want 1", v)
	}
}

// metricValue is the value of the one series of a gauge or counter
// registered on reg.
func metricValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			m := mf.GetMetric()[0]
			if m.GetGauge() != nil {
				return m.GetGauge().GetValue()
			}
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("%s not registered (or not one series)", name)
	return 0
}

// TestMemoryLimitSetsRuntimeLimit: with --memory-limit-mib and no
// GOMEMLIMIT, the collector gives the Go runtime the memory limit the chart
// would have set (the flag's 80 % rule backwards), so that garbage is
// collected before the heap reaches the limit; an injected heap reading
// (the tests') leaves the runtime alone.
func TestMemoryLimitSetsRuntimeLimit(t *testing.T) {
	old := debug.SetMemoryLimit(math.MaxInt64) // as without GOMEMLIMIT
	t.Cleanup(func() { debug.SetMemoryLimit(old) })
	for _, tc := range []struct {
		name   string
		reader func() uint64
		want   int64
	}{
		{"the process's heap", nil, 5 << 30},
		{"an injected reading", func() uint64 { return 0 }, math.MaxInt64},
	} {
		t.Run(tc.name, func(t *testing.T) {
			debug.SetMemoryLimit(math.MaxInt64)
			cfg := DefaultConfig()
			cfg.MemoryLimitMiB = 4096
			reg := prometheus.NewRegistry()
			if _, err := New(cfg, Options{Registerer: reg, Gatherer: reg, MemoryReader: tc.reader}); err != nil {
				t.Fatal(err)
			}
			if got := debug.SetMemoryLimit(-1); got != tc.want {
				t.Errorf("runtime memory limit %d MiB, want %d MiB", got>>20, tc.want>>20)
			}
		})
	}
	// GOMEMLIMIT set: left as it is.
	debug.SetMemoryLimit(6 << 30)
	cfg := DefaultConfig()
	cfg.MemoryLimitMiB = 4096
	reg := prometheus.NewRegistry()
	if _, err := New(cfg, Options{Registerer: reg, Gatherer: reg}); err != nil {
		t.Fatal(err)
	}
	if got := debug.SetMemoryLimit(-1); got != 6<<30 {
		t.Errorf("GOMEMLIMIT 6 GiB became %d MiB", got>>20)
	}
}
