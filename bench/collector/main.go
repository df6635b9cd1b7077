// Command collector compares OTLP receivers on one machine, reproducibly:
// `hopscope collector` and Jaeger v2 with memory storage, each pinned to
// one core, under the same telemetrygen load over OTLP/gRPC and OTLP/HTTP.
// By default the load carries the attributes that make hopscope file every
// span and compute a breakdown per trace (the work it exists for); --plain
// sends telemetrygen's spans as they are. It reports spans accepted per
// receiver CPU-second, RSS and allocations per span and the ratios
// hopscope/Jaeger, and runs the correlate package's benchmarks for the
// cost of a breakdown.
//
//	go run ./bench/collector                       # gRPC and HTTP, 20s, 1 round, mapped spans
//	go run ./bench/collector --plain               # telemetrygen's spans only: hopscope files none
//	go run ./bench/collector --duration 10s --json results.json
//	go run ./bench/collector --only hopscope --profile /tmp/prof   # CPU and allocation profiles per run
//
// See bench/README.md for the method and how to read the output.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hopscope/hopscope/bench/internal/harness"
)

type options struct {
	duration        time.Duration
	rounds          int
	protocols       []string
	only            []string
	jsonPath        string
	keep            bool
	receiverCPU     int
	loadCPU         int
	hopscopeBin     string
	hopscopeArgs    []string // more collector flags (--hopscope-args)
	jaegerBin       string
	gatewayBin      string
	telemetrygenBin string
	workers         int
	rate            int
	batchSize       int
	childSpans      int
	mappedSpans     bool
	profileDir      string
	settle          time.Duration
	waitQuiet       time.Duration
	readyTimeout    time.Duration
	jaegerMaxTraces int
	micro           bool
}

var (
	allContenders = []string{"hopscope", "jaeger", "gateway"}
	allProtocols  = []string{"grpc", "http"}
)

// How to build the two tools, from the repository root. They live in two
// modules (tools/ and tools/telemetrygen/): Jaeger v1.76.0 and telemetrygen
// v0.161.0 need OpenTelemetry Collector versions that do not build together.
const (
	buildJaeger       = "go build -C tools -o bin/ github.com/jaegertracing/jaeger/cmd/jaeger"
	buildTelemetrygen = "go build -C tools/telemetrygen -o ../bin/ github.com/open-telemetry/opentelemetry-collector-contrib/cmd/telemetrygen"
)

func main() { harness.Main("bench/collector", run) }

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("collector", flag.ContinueOnError)
	fs.DurationVar(&o.duration, "duration", 20*time.Second, "length of each telemetrygen run")
	fs.IntVar(&o.rounds, "rounds", 1, "measured runs per contender and protocol, interleaved")
	protocols := fs.String("protocols", "grpc,http", "OTLP transports to measure, comma-separated: grpc,http")
	only := fs.String("only", "hopscope,jaeger", "contenders, comma-separated: hopscope,jaeger,gateway (the scale-out gateway in front of three hopscope collectors: docs/scaling.md)")
	fs.StringVar(&o.jsonPath, "json", "", "also write every figure as JSON to this file")
	fs.BoolVar(&o.keep, "keep", false, "keep the temp dir (configs, receiver logs, telemetrygen logs) and print its path")
	fs.IntVar(&o.receiverCPU, "receiver-cpu", 1, "CPU the receiver under test is pinned to")
	fs.IntVar(&o.loadCPU, "load-cpu", 0, "CPU telemetrygen and this program are pinned to")
	fs.StringVar(&o.hopscopeBin, "hopscope-bin", "", "use this hopscope binary instead of building ./cmd/hopscope")
	hopscopeArgs := fs.String("hopscope-args", "", "more flags for the hopscope collector, space-separated (e.g. --heap-huge-pages=false, to measure what a default brings)")
	fs.StringVar(&o.jaegerBin, "jaeger", "", "Jaeger v2 binary (default: tools/bin/jaeger, then PATH)")
	fs.StringVar(&o.gatewayBin, "gateway", "", "the scale-out gateway binary (default: tools/bin/gateway, then PATH)")
	fs.StringVar(&o.telemetrygenBin, "telemetrygen", "", "telemetrygen binary (default: tools/bin/telemetrygen, then PATH)")
	fs.IntVar(&o.workers, "workers", 256, "telemetrygen --workers")
	fs.IntVar(&o.rate, "rate", 1000, "telemetrygen --rate (spans per second per worker)")
	fs.IntVar(&o.batchSize, "batch-size", 8192, "telemetrygen --batch-size")
	fs.IntVar(&o.childSpans, "child-spans", 5, "telemetrygen --child-spans")
	fs.BoolVar(&o.mappedSpans, "mapped-spans", true, "add attributes that make hopscope file every span in its correlate store and compute a breakdown per trace (both contenders get them); --mapped-spans=false or --plain for telemetrygen's spans only")
	plain := fs.Bool("plain", false, "telemetrygen's spans as they are, which hopscope maps to nothing (same as --mapped-spans=false)")
	fs.StringVar(&o.profileDir, "profile", "", "run hopscope as ./bench/collector/profiled (the collector with net/http/pprof) and write its CPU and allocation profiles over each run's counted window to this directory")
	fs.DurationVar(&o.settle, "settle", 6*time.Second, "after the load, CPU keeps being counted this long (hopscope works off a trace 5s after its last span)")
	fs.DurationVar(&o.waitQuiet, "wait-quiet", 30*time.Second, "before each run, wait up to this long for both CPUs to be idle (0 = don't)")
	fs.DurationVar(&o.readyTimeout, "ready-timeout", 60*time.Second, "how long to wait for a receiver to report healthy")
	fs.IntVar(&o.jaegerMaxTraces, "jaeger-max-traces", 1_000_000, "Jaeger memory storage max_traces (hopscope runs with --max-traces 1000000)")
	fs.BoolVar(&o.micro, "micro", true, "also run go test -bench 'BenchmarkCompute|BenchmarkStoreAdd' ./correlate/")
	if err := harness.ParseFlags(fs, args, "Compares hopscope collector and Jaeger v2 (memory storage) as OTLP receivers under telemetrygen."); err != nil {
		return o, err
	}
	if *plain {
		mappedSet := false
		fs.Visit(func(f *flag.Flag) { mappedSet = mappedSet || f.Name == "mapped-spans" })
		if mappedSet && o.mappedSpans {
			return o, errors.New("--plain and --mapped-spans contradict each other: pass one")
		}
		o.mappedSpans = false
	}
	o.hopscopeArgs = strings.Fields(*hopscopeArgs)
	for _, a := range o.hopscopeArgs {
		if !strings.HasPrefix(a, "-") {
			return o, fmt.Errorf("--hopscope-args: %q is not a flag: write values as --flag=value", a)
		}
	}
	var err error
	if o.only, err = pickList("only", *only, allContenders); err != nil {
		return o, err
	}
	if o.protocols, err = pickList("protocols", *protocols, allProtocols); err != nil {
		return o, err
	}
	switch {
	case o.duration < time.Second:
		return o, errors.New("--duration: at least 1s")
	case o.rounds < 1:
		return o, errors.New("--rounds must be at least 1")
	case o.receiverCPU == o.loadCPU || o.receiverCPU < 0 || o.loadCPU < 0:
		return o, errors.New("--receiver-cpu and --load-cpu must be two different CPUs")
	case o.workers < 1 || o.rate < 0 || o.batchSize < 1 || o.childSpans < 0:
		return o, errors.New("--workers and --batch-size must be ≥ 1, --rate and --child-spans ≥ 0")
	case o.settle < 0:
		return o, errors.New("--settle must not be negative")
	case o.jaegerMaxTraces < 1:
		return o, errors.New("--jaeger-max-traces must be at least 1")
	case o.profileDir != "" && o.hopscopeBin != "":
		return o, errors.New("--profile builds its own hopscope (./bench/collector/profiled): drop --hopscope-bin")
	case o.profileDir != "" && !slices.Contains(o.only, "hopscope"):
		return o, errors.New("--profile profiles hopscope: include it in --only")
	}
	return o, nil
}

// pickList parses a comma-separated subset of known, in known's order.
func pickList(flagName, v string, known []string) ([]string, error) {
	var out []string
	for _, x := range strings.Split(v, ",") {
		x = strings.TrimSpace(x)
		if x == "" {
			continue
		}
		if !slices.Contains(known, x) {
			return nil, fmt.Errorf("--%s: unknown value %q (want %s)", flagName, x, strings.Join(known, ", "))
		}
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--%s: empty", flagName)
	}
	slices.SortFunc(out, func(a, b string) int { return slices.Index(known, a) - slices.Index(known, b) })
	return out, nil
}

// measurement is one receiver under one telemetrygen run.
type measurement struct {
	Contender string     `json:"contender"`
	Protocol  string     `json:"protocol"`
	Round     int        `json:"round"`
	Load      loadResult `json:"telemetrygen"`
	// ExpectedSpans is traces × (1 + child spans).
	ExpectedSpans int64 `json:"expected_spans"`
	// Before and After are the receiver's counters around the run; After
	// is read once they stopped moving after the load.
	Before counters `json:"counters_before"`
	After  counters `json:"counters_after"`
	// Accepted is After.Accepted - Before.Accepted.
	Accepted int64 `json:"spans_accepted"`
	// CPUSeconds is the receiver's utime+stime from the start of the load
	// to --settle after its end.
	CPUSeconds     float64 `json:"receiver_cpu_seconds"`
	SpansPerCPUSec float64 `json:"spans_per_cpu_second"`
	SpansPerSec    float64 `json:"spans_accepted_per_wall_second"`
	// ReceiverCPUPct and LoadCPUPct are % of one core during the load;
	// OtherPct is the larger share of either CPU used by anything else.
	ReceiverCPUPct float64 `json:"receiver_cpu_pct"`
	LoadCPUPct     float64 `json:"load_cpu_pct"`
	OtherPct       float64 `json:"other_cpu_pct"`
	// RSS (VmRSS) before the load and once the counters settled after it;
	// peak is VmHWM.
	RSSBeforeKiB int64 `json:"rss_before_kib"`
	RSSAfterKiB  int64 `json:"rss_after_kib"`
	PeakRSSKiB   int64 `json:"peak_rss_kib"`
	// RSSPerSpan is (after - before) / accepted, in bytes.
	RSSPerSpan float64 `json:"rss_growth_bytes_per_span"`
	// End is the receiver's counters at the end of the counted window
	// (--settle after the load), for the allocations.
	End counters `json:"counters_end"`
	// AllocBytesPerSpan and AllocsPerSpan are the heap bytes and objects
	// allocated over the counted window per accepted span (End - Before);
	// -1 where the receiver does not expose the counter.
	AllocBytesPerSpan float64 `json:"alloc_bytes_per_span"`
	AllocsPerSpan     float64 `json:"allocs_per_span"`
	// Profiles are the CPU and allocation profiles of the counted window
	// written for --profile.
	Profiles []string `json:"profiles,omitempty"`
	// Stages is the profiles grouped by the collector's stages.
	Stages       *profileStages `json:"profile_stages,omitempty"`
	StoppedClean bool           `json:"stopped_cleanly"`
	LoadAvg      string         `json:"load_average_after"`
}

type report struct {
	harness.Header
	LoadAvgStart string         `json:"load_average_start"`
	LoadAvgEnd   string         `json:"load_average_end"`
	Runs         []*measurement `json:"runs"`
	Summary      []*summaryRow  `json:"summary"`
	Ratios       []*ratioRow    `json:"hopscope_vs_jaeger,omitempty"`
	Micro        *microBench    `json:"correlate_benchmarks,omitempty"`
	Notes        []string       `json:"notes,omitempty"`
}

func run(args []string) (err error) {
	o, err := parseFlags(args)
	if err != nil {
		return err // flag.ErrHelp: harness.Main exits 0
	}
	has := func(name string) bool { return slices.Contains(o.only, name) }

	ctx, stopSignals := harness.SignalContext()
	defer stopSignals()

	if err := harness.CheckCPUs(o.loadCPU, o.receiverCPU); err != nil {
		return err
	}
	root, err := harness.ModuleRoot(ctx)
	if err != nil {
		return err
	}
	taskset, err := lookTool("taskset", "", nil, "install util-linux")
	if err != nil {
		return err
	}
	tgen, err := lookTool("telemetrygen", o.telemetrygenBin, []string{filepath.Join(root, "tools", "bin", "telemetrygen")},
		"build it from the repository root with `"+buildTelemetrygen+"` (see tools/README.md), or pass its path with --telemetrygen")
	if err != nil {
		return err
	}
	var jaeger string
	if has("jaeger") {
		jaeger, err = lookTool("jaeger", o.jaegerBin, []string{filepath.Join(root, "tools", "bin", "jaeger")},
			"build it from the repository root with `"+buildJaeger+"` (~6–8 min and ~2.3 GB RAM the first time; see tools/README.md), pass its path with --jaeger, or run with --only hopscope")
		if err != nil {
			return err
		}
	}

	var gateway string
	if has("gateway") {
		gateway, err = lookTool("gateway", o.gatewayBin, []string{filepath.Join(root, "tools", "bin", "gateway")},
			"build it from the repository root with `tools/build gateway` (~10 min the first time; see tools/README.md) or pass its path with --gateway")
		if err != nil {
			return err
		}
	}

	sess, err := harness.NewSession("hopscope-bench-collector-", o.keep)
	if err != nil {
		return err
	}
	defer sess.Close() // stops the receivers not stopped yet
	dir := sess.Dir

	rep := &report{
		Header: harness.NewHeader(map[string]any{
			"duration": o.duration.String(), "rounds": o.rounds, "protocols": o.protocols, "contenders": o.only,
			"receiver_cpu": o.receiverCPU, "load_cpu": o.loadCPU, "workers": o.workers, "rate": o.rate,
			"batch_size": o.batchSize, "child_spans": o.childSpans, "mapped_spans": o.mappedSpans,
			"settle": o.settle.String(), "wait_quiet": o.waitQuiet.String(), "jaeger_max_traces": o.jaegerMaxTraces, "profile": o.profileDir,
			"receiver_gomaxprocs": 1, "telemetrygen_env": "OTEL_BSP_MAX_QUEUE_SIZE=65536",
		}),
		LoadAvgStart: harness.LoadAvg(),
	}
	rep.Versions["telemetrygen"] = modVersion(ctx, tgen, "github.com/open-telemetry/opentelemetry-collector-contrib/cmd/telemetrygen")

	// Build first, on all cores, before this program pins itself.
	hsBin := o.hopscopeBin
	if has("hopscope") || has("gateway") {
		if o.profileDir != "" {
			if err := os.MkdirAll(o.profileDir, 0o755); err != nil {
				return fmt.Errorf("--profile: %w", err)
			}
			hsBin = filepath.Join(dir, "hopscope-profiled")
			if err := buildProfiled(ctx, root, hsBin); err != nil {
				return err
			}
		} else if hsBin == "" {
			hsBin = filepath.Join(dir, "hopscope")
			if err := harness.BuildHopscope(ctx, root, hsBin, "until it builds, run with --only jaeger"); err != nil {
				return err
			}
		} else if hsBin, err = lookTool("hopscope", hsBin, nil, ""); err != nil {
			return err
		}
		rep.Versions["hopscope"] = harness.ToolVersion(ctx, hsBin, "version")
	}
	if has("jaeger") {
		rep.Versions["jaeger"] = modVersion(ctx, jaeger, "github.com/jaegertracing/jaeger")
	}
	if has("gateway") {
		rep.Versions["gateway"] = modVersion(ctx, gateway, "go.opentelemetry.io/collector/otelcol")
	}
	if err := harness.PinSelf(o.loadCPU); err != nil {
		fmt.Fprintf(os.Stderr, "warning: could not pin this program to CPU %d: %v\n", o.loadCPU, err)
	}

	// Interleaved: per round and protocol every contender once, in reverse
	// order every other time, so none always runs first. Each run gets a
	// fresh receiver: the same empty start, RSS growth of this run only.
	slot := 0
	for r := 1; r <= o.rounds; r++ {
		for _, proto := range o.protocols {
			order := slices.Clone(o.only)
			if slot%2 == 1 {
				slices.Reverse(order)
			}
			slot++
			for _, name := range order {
				m, err := measure(ctx, o, sess, name, proto, r, hsBin, jaeger, gateway, tgen, taskset)
				if err != nil {
					return fmt.Errorf("%s over %s, round %d: %w", name, proto, r, err)
				}
				rep.Runs = append(rep.Runs, m)
				fmt.Fprintf(os.Stderr, "round %d/%d %-8s %-4s  %9d spans accepted of %9d expected  %7.2f CPU-s  %8.0f spans/CPU-s  RSS +%s (%.0f B/span)  alloc %s B/span %s allocs/span  receiver CPU %3.0f%%  load CPU %3.0f%%  other %3.0f%%  load average %s\n",
					r, o.rounds, name, proto, m.Accepted, m.ExpectedSpans, m.CPUSeconds, m.SpansPerCPUSec,
					harness.FmtMiB(m.RSSAfterKiB-m.RSSBeforeKiB), m.RSSPerSpan, fmtKnown(m.AllocBytesPerSpan, 0), fmtKnown(m.AllocsPerSpan, 1),
					m.ReceiverCPUPct, m.LoadCPUPct, m.OtherPct, m.LoadAvg)
				for _, p := range m.Profiles {
					fmt.Fprintf(os.Stderr, "  profile: %s\n", p)
				}
			}
		}
	}

	if o.micro {
		fmt.Fprintln(os.Stderr, "running go test -bench 'BenchmarkCompute|BenchmarkStoreAdd' ./correlate/ ...")
		if err := waitQuiet(ctx, []int{o.receiverCPU}, o.waitQuiet); err != nil {
			return err
		}
		m, err := runMicro(ctx, root, dir, o.receiverCPU, taskset)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			rep.Notes = append(rep.Notes, "correlate benchmarks failed: "+firstLine(err.Error()))
			fmt.Fprintf(os.Stderr, "warning: %v\n", err)
		}
		rep.Micro = m
	}

	rep.LoadAvgEnd = harness.LoadAvg()
	summarize(rep, o)
	rep.Notes = append(rep.Notes, notes(rep, o)...)
	printReport(os.Stdout, rep, o)
	if o.jsonPath != "" {
		return harness.WriteJSON(o.jsonPath, rep)
	}
	return nil
}

// measure starts a fresh receiver, runs the load against it, reads its
// counters, CPU and memory, and stops it.
func measure(ctx context.Context, o options, sess *harness.Session, name, proto string, round int, hsBin, jaeger, gateway, tgen, taskset string) (*measurement, error) {
	rdir := filepath.Join(sess.Dir, fmt.Sprintf("round%d-%s-%s", round, proto, name))
	if err := os.MkdirAll(rdir, 0o755); err != nil {
		return nil, err
	}
	var rc *receiver
	var err error
	switch name {
	case "hopscope":
		rc, err = startHopscope(ctx, sess, hsBin, rdir, o.receiverCPU, taskset, o.profileDir != "", o.hopscopeArgs)
	case "jaeger":
		rc, err = startJaeger(ctx, sess, jaeger, rdir, o.receiverCPU, taskset, o.jaegerMaxTraces)
	case "gateway":
		rc, err = startGateway(ctx, sess, gateway, hsBin, rdir, o.receiverCPU, taskset, o.readyTimeout)
	}
	if err != nil {
		return nil, err
	}
	defer rc.p.Stop(5 * time.Second) // no-op once stopped below
	for _, p := range rc.behind {
		defer p.Stop(5 * time.Second)
	}
	if err := harness.WaitReady(ctx, rc.p, harness.Ready{URL: rc.readyURL, Timeout: o.readyTimeout, Every: 100 * time.Millisecond}); err != nil {
		return nil, err
	}
	// The metrics endpoint can come up a little after the health check.
	var before counters
	deadline := time.Now().Add(o.readyTimeout)
	for {
		if before, err = rc.counters(ctx, false); err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if rc.p.Exited() || time.Now().After(deadline) {
			return nil, fmt.Errorf("%v%s", err, rc.p.LogTail(20))
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Waiting for quiet CPUs after the start also lets the receiver's own
	// start-up work finish before anything is counted.
	if o.waitQuiet > 0 {
		if err := waitQuiet(ctx, []int{o.loadCPU, o.receiverCPU}, o.waitQuiet); err != nil {
			return nil, err
		}
		if before, err = rc.counters(ctx, false); err != nil {
			return nil, err
		}
	}

	m := &measurement{Contender: name, Protocol: proto, Round: round, Before: before}
	pid := rc.p.PID()
	cpu0 := harness.TreeCPU(pid)
	m.RSSBeforeKiB, _ = harness.TreeMem(pid)
	busy0, self0 := harness.CPUBusy(), harness.SelfCPU()
	// Profiles cover the counted window: the load and --settle after it.
	var profiles <-chan profileResult
	if o.profileDir != "" && rc.pprofURL != "" {
		profiles = fetchProfiles(ctx, rc.pprofURL, o.duration+o.settle+time.Second,
			filepath.Join(o.profileDir, fmt.Sprintf("hopscope-%s-round%d", proto, round)))
	}

	load, err := runTelemetrygen(ctx, o, tgen, taskset, proto, rc.endpoint(proto), filepath.Join(rdir, "telemetrygen.log"))
	if err != nil {
		if rc.p.Exited() {
			err = fmt.Errorf("%w\n%s exited during the load (%v)%s", err, rc.p.Name(), rc.p.Err(), rc.p.LogTail(20))
		}
		return nil, err
	}
	loadEnd := time.Now()
	cpuLoad, busy1, self1 := harness.TreeCPU(pid)-cpu0, harness.CPUBusy(), harness.SelfCPU()-self0
	m.Load = load
	m.ExpectedSpans = load.Traces * int64(1+o.childSpans)
	m.ReceiverCPUPct = 100 * cpuLoad / load.Wall
	m.LoadCPUPct = 100 * load.CPU / load.Wall
	other := max(busy1[o.receiverCPU]-busy0[o.receiverCPU]-cpuLoad, busy1[o.loadCPU]-busy0[o.loadCPU]-load.CPU-self1)
	m.OtherPct = max(0, 100*other/load.Wall)

	// Counters stop moving once the last request is handled: read them, and
	// the memory, when two reads half a second apart agree.
	after, err := rc.counters(ctx, true)
	for stable := 0; err == nil && stable < 2 && time.Since(loadEnd) < 15*time.Second; {
		time.Sleep(500 * time.Millisecond)
		var next counters
		if next, err = rc.counters(ctx, true); err == nil {
			if next.Accepted == after.Accepted {
				stable++
			} else {
				stable = 0
			}
			after = next
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%v%s", err, rc.p.LogTail(20))
	}
	m.After = after
	m.RSSAfterKiB, m.PeakRSSKiB = harness.TreeMem(pid)
	// Keep counting CPU for --settle after the load: work a receiver defers
	// (hopscope handles a trace 5 s after its last span) belongs to the spans.
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(time.Until(loadEnd.Add(o.settle))):
	}
	if rc.p.Exited() {
		return nil, fmt.Errorf("%s exited after the load (%v)%s", rc.p.Name(), rc.p.Err(), rc.p.LogTail(20))
	}
	m.CPUSeconds = harness.TreeCPU(pid) - cpu0
	m.LoadAvg = harness.LoadAvg()
	if m.End, err = rc.counters(ctx, true); err != nil {
		return nil, fmt.Errorf("%v%s", err, rc.p.LogTail(20))
	}
	if profiles != nil {
		pr := <-profiles
		if pr.err != nil {
			return nil, fmt.Errorf("profile: %w", pr.err)
		}
		m.Profiles = pr.paths
		if m.Stages, err = stagesOf(ctx, pr.paths[0], pr.paths[1]); err != nil {
			return nil, err
		}
	}
	m.StoppedClean = rc.p.Stop(20*time.Second) && rc.p.Err() == nil

	m.Accepted = int64(after.Accepted - before.Accepted)
	if m.CPUSeconds > 0 {
		m.SpansPerCPUSec = float64(m.Accepted) / m.CPUSeconds
	}
	m.SpansPerSec = float64(m.Accepted) / load.Wall
	m.AllocBytesPerSpan, m.AllocsPerSpan = -1, -1
	if m.Accepted > 0 {
		m.RSSPerSpan = float64(m.RSSAfterKiB-m.RSSBeforeKiB) * 1024 / float64(m.Accepted)
		if before.AllocBytes >= 0 && m.End.AllocBytes >= 0 {
			m.AllocBytesPerSpan = (m.End.AllocBytes - before.AllocBytes) / float64(m.Accepted)
		}
		if before.Mallocs >= 0 && m.End.Mallocs >= 0 {
			m.AllocsPerSpan = (m.End.Mallocs - before.Mallocs) / float64(m.Accepted)
		}
	}
	return m, nil
}

// modVersion reads a module's version from a Go binary's build info
// (`go version -m`), where it is the main module ("mod") or a dependency
// ("dep") — tools built from tools/ carry them as dependencies.
func modVersion(ctx context.Context, bin, module string) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "version", "-m", bin).Output()
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && (f[0] == "mod" || f[0] == "dep") && f[1] == module {
			return module + " " + f[2]
		}
	}
	return "unknown"
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
