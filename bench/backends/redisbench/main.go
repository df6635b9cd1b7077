// Command redisbench measures the sidecar's Redis proxy against Redis
// reached directly: one redis-server, the proxy (sidecar/backend/redisproxy
// served in this process, with the Recorder's metrics and, by default,
// spans to a discarding exporter), a plain TCP relay (backend.TCPRelay,
// the cost of the extra hop alone), HAProxy in TCP mode (one thread: the
// reference, what the hop costs when the relay is as cheap as relays get),
// and redis-benchmark run at the same concurrency against each,
// interleaved, without and with pipelining.
//
//	go run ./bench/backends/redisbench                 # -c 50 -n 100000, -P 1 and 16
//	go run ./bench/backends/redisbench --rounds 3 --pipelines 1,16,64
//	go run ./bench/backends/redisbench --spans=false   # metrics only
//
// By default (--pin) redis-server and redis-benchmark share --load-cpu and
// the proxies run alone on --proxy-cpu (GOMAXPROCS=1), as a sidecar
// with a one-CPU limit would; the direct runs are the machine's ceiling.
// It prints requests per second and the p50 and p99 latencies
// (redis-benchmark --csv) of each, and their ratios to direct.
package main

import (
	"context"
	"encoding/csv"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hopscope/hopscope/bench/internal/harness"
	"github.com/hopscope/hopscope/internal/realcomp"
	"github.com/hopscope/hopscope/sidecar/backend"
	"github.com/hopscope/hopscope/sidecar/backend/redisproxy"
	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

func main() { harness.Main("bench/backends/redisbench", run) }

type options struct {
	requests  int
	clients   int
	pipelines []int
	rounds    int
	spans     bool
	pin       bool
	loadCPU   int
	proxyCPU  int
	waitQuiet time.Duration
	json      string
	keep      bool
	profile   string
	targets   []string
}

// result is one redis-benchmark test (SET or GET) of one run.
type result struct {
	Target   string  `json:"target"` // direct, relay, haproxy or proxy
	Pipeline int     `json:"pipeline"`
	Round    int     `json:"round"`
	Test     string  `json:"test"`
	RPS      float64 `json:"rps"`
	AvgMs    float64 `json:"avg_ms"`
	P50Ms    float64 `json:"p50_ms"`
	P95Ms    float64 `json:"p95_ms"`
	P99Ms    float64 `json:"p99_ms"`
	MaxMs    float64 `json:"max_ms"`
}

type report struct {
	harness.Header
	Results []result          `json:"results"`
	Timed   map[string]uint64 `json:"calls_timed"`
	Notes   []string          `json:"notes,omitempty"`
}

func appendOnce(xs []string, x string) []string {
	for _, have := range xs {
		if have == x {
			return xs
		}
	}
	return append(xs, x)
}

func run(args []string) error {
	var o options
	fs := flag.NewFlagSet("backends/redisbench", flag.ContinueOnError)
	fs.IntVar(&o.requests, "requests", 100000, "redis-benchmark -n")
	fs.IntVar(&o.clients, "clients", 50, "redis-benchmark -c (the same for direct and proxy)")
	pipelines := fs.String("pipelines", "1,16", "redis-benchmark -P values, comma-separated")
	only := fs.String("only", "direct,relay,haproxy,proxy", "targets to run (direct is the reference of the ratios)")
	fs.IntVar(&o.rounds, "rounds", 1, "measured runs per target and pipeline")
	fs.BoolVar(&o.spans, "spans", true, "make a span per command (OTel SDK, batch processor, discarding exporter)")
	fs.BoolVar(&o.pin, "pin", true, "pin redis-server and redis-benchmark to --load-cpu, the proxy to --proxy-cpu (GOMAXPROCS=1)")
	fs.IntVar(&o.loadCPU, "load-cpu", 0, "CPU of redis-server and redis-benchmark")
	fs.IntVar(&o.proxyCPU, "proxy-cpu", 1, "CPU of the proxy")
	fs.DurationVar(&o.waitQuiet, "wait-quiet", 20*time.Second, "before each run wait up to this long for idle CPUs; 0 disables")
	fs.StringVar(&o.json, "json", "", "also write every figure as JSON to this file")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory (redis-server's log)")
	fs.StringVar(&o.profile, "cpuprofile", "", "write the proxy's CPU profile over the measured runs to this file")
	if err := harness.ParseFlags(fs, args, "Redis through the sidecar's redisproxy against Redis direct, with redis-benchmark."); err != nil {
		return err
	}
	for _, p := range strings.Split(*pipelines, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n < 1 {
			return fmt.Errorf("--pipelines: %q is not a positive number", p)
		}
		o.pipelines = append(o.pipelines, n)
	}

	var targets []string
	for _, t := range strings.Split(*only, ",") {
		switch t = strings.TrimSpace(t); t {
		case "direct", "relay", "haproxy", "proxy":
			targets = append(targets, t)
		default:
			return fmt.Errorf("--only: %q is not direct, relay, haproxy or proxy", t)
		}
	}
	o.targets = targets

	ctx, cancel := harness.SignalContext()
	defer cancel()
	serverBin, err := realcomp.Lookup("redis-server")
	if err != nil {
		return err
	}
	benchBin, err := realcomp.Lookup("redis-benchmark")
	if err != nil {
		return err
	}
	taskset := ""
	if o.pin {
		if taskset, err = harness.PinTool(o.loadCPU, o.proxyCPU); err != nil {
			return err
		}
	}
	sess, err := harness.NewSession("redisbench-", o.keep)
	if err != nil {
		return err
	}
	defer sess.Close()

	// redis-server.
	port, err := harness.FreePort()
	if err != nil {
		return err
	}
	direct := fmt.Sprintf("127.0.0.1:%d", port)
	argv := []string{serverBin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"}
	if o.pin {
		argv = harness.Pinned(taskset, o.loadCPU, argv...)
	}
	logPath := filepath.Join(sess.Dir, "redis.log")
	if _, err := sess.Start(ctx, "redis-server", harness.CleanEnv(), logPath, logPath, argv...); err != nil {
		return err
	}
	if err := realcomp.WaitTCP("redis-server", direct, 10*time.Second); err != nil {
		return fmt.Errorf("%w%s", err, harness.FileTail(logPath, 20))
	}

	// The proxy, in this process.
	if o.pin {
		runtime.GOMAXPROCS(1)
		if err := harness.PinSelf(o.proxyCPU); err != nil {
			return fmt.Errorf("pinning the proxy to CPU %d: %w", o.proxyCPU, err)
		}
	}
	reg := prometheus.NewRegistry()
	opts := backend.Options{Tracker: backend.NewTracker(), Registerer: reg}
	if o.spans {
		tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(discard{}))
		defer tp.Shutdown(context.Background())
		opts.Tracer = tp.Tracer("redisbench")
	}
	rec, err := backend.NewRecorder(opts)
	if err != nil {
		return err
	}
	cfg := backend.Config{Name: "redis", Kind: backend.KindRedis, Listen: "127.0.0.1:0", Target: direct}
	h, err := redisproxy.New(rec.Backend(cfg))
	if err != nil {
		return err
	}
	srv := backend.NewServer(cfg, h, nil)
	if err := srv.Start(); err != nil {
		return err
	}
	defer srv.Shutdown(context.Background())
	relayCfg := backend.Config{Name: "relay", Kind: backend.KindTCP, Listen: "127.0.0.1:0", Target: direct}
	relaySrv := backend.NewServer(relayCfg, backend.TCPRelay{B: rec.Backend(relayCfg)}, nil)
	if err := relaySrv.Start(); err != nil {
		return err
	}
	defer relaySrv.Shutdown(context.Background())
	addrs := map[string]string{"direct": direct, "relay": relaySrv.Addr().String(), "proxy": srv.Addr().String()}
	if slices.Contains(targets, "haproxy") {
		haproxyBin, err := realcomp.Lookup("haproxy")
		if err != nil {
			return fmt.Errorf("%w (or leave haproxy out of --only)", err)
		}
		ref, err := harness.StartTCPReference(ctx, sess, haproxyBin, direct, taskset, o.proxyCPU)
		if err != nil {
			return err
		}
		addrs["haproxy"] = ref.Addr
	}

	bench := func(addr string, requests, pipeline int) ([]result, error) {
		host, port, _ := strings.Cut(addr, ":")
		argv := []string{benchBin, "-h", host, "-p", port, "-t", "get,set", "-c", strconv.Itoa(o.clients),
			"-n", strconv.Itoa(requests), "-P", strconv.Itoa(pipeline), "--csv"}
		if o.pin {
			argv = harness.Pinned(taskset, o.loadCPU, argv...)
		}
		out, err := harness.Command(ctx, argv...).Output()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", strings.Join(argv, " "), err)
		}
		return parseCSV(out)
	}
	rep := report{Header: harness.NewHeader(map[string]any{
		"requests": o.requests, "clients": o.clients, "pipelines": o.pipelines, "rounds": o.rounds,
		"spans": o.spans, "pin": o.pin, "load_cpu": o.loadCPU, "proxy_cpu": o.proxyCPU,
	})}
	quiet := func() error {
		if o.waitQuiet <= 0 {
			return nil
		}
		cpus := []int{0, 1}
		if o.pin {
			cpus = []int{o.loadCPU, o.proxyCPU}
		}
		if err := harness.WaitQuiet(ctx, cpus, o.waitQuiet); err != nil {
			if ctx.Err() != nil {
				return err
			}
			rep.Notes = appendOnce(rep.Notes, "some runs started on busy CPUs: "+err.Error())
		}
		return nil
	}

	rep.Versions["redis-server"] = harness.ToolVersion(ctx, serverBin, "--version")
	// Warm both paths (connections, the proxy's pools) unmeasured.
	for _, target := range targets {
		if _, err := bench(addrs[target], o.requests/10, 1); err != nil {
			return err
		}
	}
	warm := timedCalls(reg)
	stopProfile, err := harness.StartCPUProfile(o.profile)
	if err != nil {
		return err
	}
	defer stopProfile()
	for _, p := range o.pipelines {
		for round := 1; round <= o.rounds; round++ {
			for _, target := range targets {
				if err := quiet(); err != nil {
					return err
				}
				addr := addrs[target]
				fmt.Fprintf(os.Stderr, "%s -P %d round %d ...\n", target, p, round)
				rs, err := bench(addr, o.requests, p)
				if err != nil {
					return err
				}
				for i := range rs {
					rs[i].Target, rs[i].Pipeline, rs[i].Round = target, p, round
				}
				rep.Results = append(rep.Results, rs...)
			}
		}
	}
	rep.Timed = timedCalls(reg)
	for k, v := range warm {
		rep.Timed[k] -= v
	}
	printReport(os.Stdout, o, rep)
	if o.json != "" {
		return harness.WriteJSON(o.json, rep)
	}
	return nil
}

// parseCSV reads redis-benchmark --csv: a header, then one row per test.
func parseCSV(out []byte) ([]result, error) {
	rows, err := csv.NewReader(strings.NewReader(string(out))).ReadAll()
	if err != nil || len(rows) < 2 || len(rows[0]) < 8 || rows[0][0] != "test" {
		return nil, fmt.Errorf("unexpected redis-benchmark output %q: %v", out, err)
	}
	var rs []result
	for _, row := range rows[1:] {
		var f [7]float64
		for i := range f {
			if f[i], err = strconv.ParseFloat(row[i+1], 64); err != nil {
				return nil, fmt.Errorf("redis-benchmark row %q: %w", row, err)
			}
		}
		rs = append(rs, result{Test: row[0], RPS: f[0], AvgMs: f[1], P50Ms: f[3], P95Ms: f[4], P99Ms: f[5], MaxMs: f[6]})
	}
	return rs, nil
}

// timedCalls reads the proxy's hopscope_backend_duration_seconds sample
// counts per operation/outcome.
func timedCalls(reg *prometheus.Registry) map[string]uint64 {
	out := map[string]uint64{}
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		switch mf.GetName() {
		case "hopscope_backend_duration_seconds":
			for _, m := range mf.GetMetric() {
				var op, outcome string
				for _, l := range m.GetLabel() {
					switch l.GetName() {
					case "operation":
						op = l.GetValue()
					case "outcome":
						outcome = l.GetValue()
					}
				}
				out[op+"/"+outcome] += m.GetHistogram().GetSampleCount()
			}
		case "hopscope_backend_decode_errors_total":
			for _, m := range mf.GetMetric() {
				out["decode_errors"] += uint64(m.GetCounter().GetValue())
			}
		}
	}
	return out
}

func printReport(w *os.File, o options, rep report) {
	fmt.Fprintf(w, "\nredis-benchmark -t get,set -c %d -n %d, %d round(s); proxy: spans=%v pin=%v\n\n", o.clients, o.requests, o.rounds, o.spans, o.pin)
	tw := harness.NewTable(w)
	fmt.Fprintln(tw, "pipeline\ttest\ttarget\trequests/s\tp50\tp99\trps ratio\tp50 ratio\tp99 ratio\t")
	median := func(target string, p int, test string, f func(result) float64) float64 {
		var xs []float64
		for _, r := range rep.Results {
			if r.Target == target && r.Pipeline == p && r.Test == test {
				xs = append(xs, f(r))
			}
		}
		return harness.Median(xs)
	}
	rps := func(r result) float64 { return r.RPS }
	p50 := func(r result) float64 { return r.P50Ms }
	p99 := func(r result) float64 { return r.P99Ms }
	ratio := func(x, ref float64) string {
		if ref == 0 {
			return "-"
		}
		return harness.FmtRatio(x / ref)
	}
	for _, p := range o.pipelines {
		for _, test := range []string{"SET", "GET"} {
			dr, d50, d99 := median("direct", p, test, rps), median("direct", p, test, p50), median("direct", p, test, p99)
			for _, target := range o.targets {
				r, l50, l99 := median(target, p, test, rps), median(target, p, test, p50), median(target, p, test, p99)
				fmt.Fprintf(tw, "-P %d\t%s\t%s\t%.0f\t%.3f ms\t%.3f ms\t%s\t%s\t%s\t\n",
					p, test, target, r, l50, l99, ratio(r, dr), ratio(l50, d50), ratio(l99, d99))
			}
		}
	}
	tw.Flush()
	want := uint64(0)
	if slices.Contains(o.targets, "proxy") {
		want = uint64(o.requests * o.rounds * len(o.pipelines))
	}
	fmt.Fprintf(w, "\ncalls timed by the proxy in the measured runs: SET %d, GET %d (want %d each), decode errors %d\n",
		rep.Timed["SET/ok"], rep.Timed["GET/ok"], want, rep.Timed["decode_errors"])
	if rep.Timed["SET/ok"] != want || rep.Timed["GET/ok"] != want {
		rep.Notes = append(rep.Notes, "the proxy did not time every command")
	}
	harness.PrintNotes(w, rep.Notes)
}

// discard is a span exporter that drops everything.
type discard struct{}

func (discard) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discard) Shutdown(context.Context) error                             { return nil }
