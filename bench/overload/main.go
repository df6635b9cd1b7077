// Command overload offers a real `hopscope collector` ten times the OTLP
// spans it can process and records its memory over time: RSS (VmRSS from
// /proc/PID/status) every 500 ms, the heap the memory limiter sees, the
// refusals it makes (429) and the spans it takes in, through a normal
// phase, the overload, and a recovery at the normal rate again — showing
// that RSS stays under the limit, and that the collector takes its load
// again, without a restart, once the overload ends.
//
//	go run ./bench/overload                    # --memory-limit-mib 256, ~1 min
//	go run ./bench/overload --baseline         # and the same without a limit (GOMEMLIMIT alone), for comparison (~2 min)
//
// See bench/README.md for the method and the figures.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/hopscope/hopscope/bench/internal/harness"
)

type options struct {
	limitMiB, spikeMiB, goMemLimitMiB int
	factor, normalFactor              float64
	calibrate, normal, overload, rec  time.Duration
	calibrateWorkers                  int
	traces, children                  int
	maxInFlight                       int
	maxTraces                         int
	every                             time.Duration
	baseline                          bool
	rssCapMiB                         int
	receiverCPU, loadCPU              int
	hopscopeBin, jsonPath             string
	keep                              bool
}

func main() { harness.Main("bench/overload", run) }

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("overload", flag.ContinueOnError)
	fs.IntVar(&o.limitMiB, "limit-mib", 256, "the collector's --memory-limit-mib (0: not given, the collector's default of 80% of GOMEMLIMIT)")
	fs.IntVar(&o.spikeMiB, "spike-mib", 0, "the collector's --memory-spike-mib (0: its default, 20% of the limit)")
	fs.IntVar(&o.goMemLimitMiB, "gomemlimit-mib", 320, "GOMEMLIMIT of the limited collector, as the chart sets it from the container's memory limit (0: unset)")
	fs.Float64Var(&o.factor, "factor", 10, "overload: this many times the spans per second the collector took during calibration")
	fs.Float64Var(&o.normalFactor, "normal-factor", 0.5, "before and after the overload: this many times it")
	fs.DurationVar(&o.calibrate, "calibrate", 5*time.Second, "closed-loop phase measuring what the collector takes")
	fs.DurationVar(&o.normal, "normal", 5*time.Second, "phase at --normal-factor before the overload")
	fs.DurationVar(&o.overload, "overload", 30*time.Second, "phase at --factor")
	fs.DurationVar(&o.rec, "recover", 15*time.Second, "phase at --normal-factor after the overload")
	fs.IntVar(&o.calibrateWorkers, "calibrate-workers", 8, "requests under way during calibration")
	fs.IntVar(&o.traces, "traces", 200, "traces per request")
	fs.IntVar(&o.children, "children", 4, "PostgreSQL client spans per trace (a request has traces × (1 + children) spans)")
	fs.IntVar(&o.maxTraces, "max-traces", 20000, "the collectors' --max-traces: what they hold at rest must fit under the limit (see bench/README.md)")
	fs.IntVar(&o.maxInFlight, "max-in-flight", 512, "requests under way at most (the collector's OTLP/HTTP connection limit); one due beyond it is skipped")
	fs.DurationVar(&o.every, "every", 500*time.Millisecond, "sampling period")
	fs.BoolVar(&o.baseline, "baseline", false, "then run the same load against the same collector with a limit it never reaches (--memory-limit-mib 1048576, 1 TiB), GOMEMLIMIT kept")
	fs.IntVar(&o.rssCapMiB, "rss-cap-mib", 4096, "stop a collector whose RSS passes this (the baseline's unbounded growth)")
	fs.IntVar(&o.receiverCPU, "receiver-cpu", 1, "CPU the collector is pinned to (GOMAXPROCS=1)")
	fs.IntVar(&o.loadCPU, "load-cpu", 0, "CPU the load generator, the export sink and this program are pinned to")
	fs.StringVar(&o.hopscopeBin, "hopscope-bin", "", "use this hopscope binary instead of building ./cmd/hopscope")
	fs.StringVar(&o.jsonPath, "json", "", "also write every sample as JSON to this file")
	fs.BoolVar(&o.keep, "keep", false, "keep the temp dir (the collectors' logs) and print its path")
	if err := harness.ParseFlags(fs, args, "Overloads hopscope collector with OTLP/HTTP spans and records its RSS over time."); err != nil {
		return o, err
	}
	switch {
	case o.limitMiB < 0 || o.spikeMiB < 0 || (o.limitMiB > 0 && o.spikeMiB >= o.limitMiB) || o.goMemLimitMiB < 0:
		return o, errors.New("--limit-mib, --spike-mib (below the limit) and --gomemlimit-mib must not be negative")
	case o.limitMiB == 0 && o.goMemLimitMiB == 0:
		return o, errors.New("--limit-mib 0 takes the limit from GOMEMLIMIT: set --gomemlimit-mib")
	case o.factor <= 0 || o.normalFactor <= 0:
		return o, errors.New("--factor and --normal-factor must be positive")
	case o.calibrate < time.Second || o.normal < 0 || o.overload < time.Second || o.rec < time.Second:
		return o, errors.New("--calibrate, --overload and --recover must be at least 1s, --normal ≥ 0")
	case o.traces < 1 || o.children < 0 || o.maxInFlight < 1 || o.maxTraces < 1 || o.calibrateWorkers < 1 || o.every < 100*time.Millisecond:
		return o, errors.New("--traces, --max-in-flight, --calibrate-workers ≥ 1, --children ≥ 0, --every ≥ 100ms")
	case o.receiverCPU == o.loadCPU || o.receiverCPU < 0 || o.loadCPU < 0:
		return o, errors.New("--receiver-cpu and --load-cpu must be two different CPUs")
	}
	return o, nil
}

// result is one collector's run.
type result struct {
	Name     string   `json:"name"`
	Args     []string `json:"collector_args"`
	Env      []string `json:"collector_env"`
	Capacity float64  `json:"capacity_spans_per_second"`
	// Rates offered in the normal and overload phases, spans per second.
	NormalRate   float64   `json:"normal_spans_per_second"`
	OverloadRate float64   `json:"overload_spans_per_second"`
	Samples      []sample  `json:"samples"`
	Phases       []phase   `json:"phases"`
	PeakRSSKiB   int64     `json:"peak_rss_kib"`
	Killed       string    `json:"killed,omitempty"`
	Recovered    float64   `json:"recovered_after_seconds"`
	Loads        []loadRow `json:"load_by_phase"`
}

type report struct {
	harness.Header
	Runs []*result `json:"runs"`
}

func run(args []string) error {
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	ctx, stop := harness.SignalContext()
	defer stop()
	if err := harness.CheckCPUs(o.loadCPU, o.receiverCPU); err != nil {
		return err
	}
	root, err := harness.ModuleRoot(ctx)
	if err != nil {
		return err
	}
	taskset, err := lookPath("taskset", "install util-linux")
	if err != nil {
		return err
	}
	sess, err := harness.NewSession("hopscope-bench-overload-", o.keep)
	if err != nil {
		return err
	}
	defer sess.Close()
	bin := o.hopscopeBin
	if bin == "" {
		bin = filepath.Join(sess.Dir, "hopscope")
		if err := harness.BuildHopscope(ctx, root, bin, "fix the build first"); err != nil {
			return err
		}
	} else if bin, err = filepath.Abs(bin); err != nil {
		return err
	}
	if err := harness.PinSelf(o.loadCPU); err != nil {
		fmt.Fprintf(os.Stderr, "warning: could not pin this program to CPU %d: %v\n", o.loadCPU, err)
	}
	tmpl, err := newTemplate(o.traces, o.children)
	if err != nil {
		return err
	}
	rep := &report{Header: harness.NewHeader(map[string]any{
		"limit_mib": o.limitMiB, "spike_mib": o.spikeMiB, "gomemlimit_mib": o.goMemLimitMiB, "factor": o.factor,
		"normal_factor": o.normalFactor, "calibrate": o.calibrate.String(), "normal": o.normal.String(),
		"overload": o.overload.String(), "recover": o.rec.String(), "traces_per_request": o.traces,
		"spans_per_request": tmpl.spans, "request_bytes": len(tmpl.body), "max_in_flight": o.maxInFlight, "max_traces": o.maxTraces,
		"receiver_cpu": o.receiverCPU, "load_cpu": o.loadCPU, "collector_gomaxprocs": 1,
	})}
	rep.Versions["hopscope"] = harness.ToolVersion(ctx, bin, "version")

	var limited []string
	if o.limitMiB > 0 {
		limited = append(limited, "--memory-limit-mib", strconv.Itoa(o.limitMiB))
	}
	if o.spikeMiB > 0 {
		limited = append(limited, "--memory-spike-mib", strconv.Itoa(o.spikeMiB))
	}
	var env []string
	if o.goMemLimitMiB > 0 {
		env = append(env, fmt.Sprintf("GOMEMLIMIT=%dMiB", o.goMemLimitMiB))
	}
	r, err := runOne(ctx, o, sess, bin, taskset, tmpl, "limited", limited, env, 0)
	if err != nil {
		return err
	}
	rep.Runs = append(rep.Runs, r)
	if o.baseline {
		// The same collector, GOMEMLIMIT too, with a limit it never
		// reaches (1 TiB): what the chart ran before the limiter.
		b, err := runOne(ctx, o, sess, bin, taskset, tmpl, "no limit", []string{"--memory-limit-mib", strconv.Itoa(1 << 20)}, env, r.Capacity)
		if err != nil {
			return err
		}
		rep.Runs = append(rep.Runs, b)
	}
	printReport(os.Stdout, rep, o)
	if o.jsonPath != "" {
		return harness.WriteJSON(o.jsonPath, rep)
	}
	return nil
}

// runOne starts a collector with extra flags and env, runs the phases
// against it and stops it. capacity 0 calibrates; else that capacity is
// used, so that two collectors get the same load.
func runOne(ctx context.Context, o options, sess *harness.Session, bin, taskset string, tmpl *template,
	name string, extra, env []string, capacity float64) (*result, error) {
	ports, err := harness.FreePorts(3)
	if err != nil {
		return nil, err
	}
	otlpAddr, apiAddr, sinkAddr := loopback(ports[0]), loopback(ports[1]), loopback(ports[2])
	ln, err := net.Listen("tcp", sinkAddr)
	if err != nil {
		return nil, fmt.Errorf("export sink: %w", err)
	}
	sink := startSink(ln)
	defer sink.srv.Close()

	args := append([]string{"collector", "--otlp-http-listen", otlpAddr, "--otlp-grpc-listen", "", "--forward-listen", "",
		"--rum-listen", "", "--http-listen", apiAddr, "--export-otlp-endpoint", "http://" + sinkAddr,
		"--max-traces", strconv.Itoa(o.maxTraces)}, extra...)
	dir := filepath.Join(sess.Dir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	fullEnv := harness.CleanEnv(append([]string{"GOMAXPROCS=1"}, env...)...)
	p, err := sess.Start(ctx, "hopscope collector ("+name+")", fullEnv, filepath.Join(dir, "stdout.log"), filepath.Join(dir, "stderr.log"),
		harness.Pinned(taskset, o.receiverCPU, append([]string{bin}, args...)...)...)
	if err != nil {
		return nil, err
	}
	defer p.Stop(10 * time.Second)
	if err := harness.WaitReady(ctx, p, harness.Ready{URL: "http://" + apiAddr + "/healthz", Timeout: 30 * time.Second, Every: 100 * time.Millisecond}); err != nil {
		return nil, err
	}
	res := &result{Name: name, Args: args, Env: env}

	gen := newGenerator("http://"+otlpAddr+"/v1/traces", tmpl, o.maxInFlight)
	var phaseName atomic.Value
	phaseName.Store("start")
	runCtx, cancelRun := context.WithCancel(ctx)
	defer cancelRun()
	smp := &sampler{pid: p.PID(), start: time.Now(), every: o.every, gen: gen, phase: func() string { return phaseName.Load().(string) },
		metrics: &metricsReader{url: "http://" + apiAddr + "/metrics", client: &http.Client{}}}
	var killed atomic.Value
	smp.onSample = func(s sample) {
		fmt.Fprintf(os.Stderr, "%-8s %6.1fs  RSS %7.1f MiB  heap %9s MiB  refusing %s  ok %6d  refused %6d  skipped %6d\n",
			name, s.At, float64(s.RSSKiB)/1024, fmtMetric(s.HeapBytes, 1<<20, "%.1f"), fmtMetric(s.Refusing, 1, "%.0f"),
			s.Load.OK, s.Load.Refused, s.Load.Skipped)
		if s.RSSKiB > int64(o.rssCapMiB)<<10 && killed.Load() == nil {
			killed.Store(fmt.Sprintf("RSS %.0f MiB passed --rss-cap-mib %d at %.1fs: stopped", float64(s.RSSKiB)/1024, o.rssCapMiB, s.At))
			p.Stop(time.Second)
			cancelRun()
		}
	}
	sampled := make(chan struct{})
	go func() { defer close(sampled); smp.run(runCtx) }()

	phases := []phase{}
	doPhase := func(label string, d time.Duration, f func(phaseCtx context.Context)) {
		if runCtx.Err() != nil || d <= 0 {
			return
		}
		phaseName.Store(label)
		before, t0 := gen.out.snap(), time.Since(smp.start).Seconds()
		pctx, cancel := context.WithTimeout(runCtx, d)
		f(pctx)
		<-pctx.Done()
		cancel()
		phases = append(phases, phase{Name: label, From: t0, To: time.Since(smp.start).Seconds(), Before: before, After: gen.out.snap()})
	}
	if capacity == 0 {
		doPhase("calibrate", o.calibrate, func(pctx context.Context) { gen.closedLoop(runCtx, pctx, o.calibrateWorkers) })
		if len(phases) == 1 {
			c := phases[0]
			capacity = float64(c.After.SpansOK-c.Before.SpansOK) / (c.To - c.From)
		}
		if capacity <= 0 && runCtx.Err() == nil {
			return nil, fmt.Errorf("%s: the collector took no spans during calibration%s", name, p.LogTail(20))
		}
	}
	res.Capacity = capacity
	perReq := float64(tmpl.spans)
	res.NormalRate, res.OverloadRate = o.normalFactor*capacity, o.factor*capacity
	doPhase("normal", o.normal, func(pctx context.Context) { gen.openLoop(runCtx, pctx, res.NormalRate/perReq) })
	doPhase("overload", o.overload, func(pctx context.Context) { gen.openLoop(runCtx, pctx, res.OverloadRate/perReq) })
	doPhase("recover", o.rec, func(pctx context.Context) { gen.openLoop(runCtx, pctx, res.NormalRate/perReq) })
	cancelRun()
	<-sampled
	gen.wg.Wait()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if k, ok := killed.Load().(string); ok {
		res.Killed = k
	} else if p.Exited() {
		res.Killed = fmt.Sprintf("exited (%v)%s", p.Err(), p.LogTail(10))
	}
	res.Samples, res.Phases = smp.out, phases
	_, res.PeakRSSKiB = harness.TreeMem(p.PID())
	for _, s := range res.Samples {
		res.PeakRSSKiB = max(res.PeakRSSKiB, s.RSSKiB)
	}
	summarize(res)
	return res, nil
}

func loopback(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }
