// Command pgbench measures what the sidecar's PostgreSQL proxy costs a
// database client: pgbench's select-only load (pgbench -S) against a
// Debian PostgreSQL 15, directly and through sidecar/backend/pgproxy
// (every query timed, a span and a histogram observation each), in one
// run on one machine, and prints the throughput, the average latency and
// their ratios.
//
//	go run ./bench/backends/pgbench                         # -c 8, 10 s each, one round
//	go run ./bench/backends/pgbench --tcp-relay --rounds 3  # also a plain TCP relay: the cost of relaying alone
//	go run ./bench/backends/pgbench --tracer noop            # metrics only, no spans
//	go run ./bench/backends/pgbench --clients 1              # pure round-trip latency
//	go run ./bench/backends/pgbench --only pgproxy --cpuprofile /tmp/pgproxy.prof
//
// The proxy runs in this process with an OpenTelemetry SDK tracer (batch
// processor, spans discarded at export) and a Prometheus registry, as in
// the sidecar; its CPU time per transaction is this process's. HAProxy in
// TCP mode (one thread) relays too, as the reference: what the extra hop
// costs when the relay is as cheap as relays get. By default (--pin)
// PostgreSQL and pgbench share --load-cpu and the proxies run alone on
// --proxy-cpu (GOMAXPROCS=1), as a sidecar with a one-CPU limit would.
// Runs are interleaved, each after waiting (--wait-quiet) for idle CPUs.
// The target is a latency through the proxy at most 1.3× the direct one.
// Needs postgresql-15, postgresql-client-15 (pgbench) and haproxy.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/hopscope/hopscope/bench/internal/harness"
	"github.com/hopscope/hopscope/internal/realcomp"
	"github.com/hopscope/hopscope/sidecar/backend"
	"github.com/hopscope/hopscope/sidecar/backend/pgproxy"
	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// target is the latency ratio (through the proxy / direct) aimed at.
const target = 1.3

type options struct {
	clients  int
	jobs     int
	duration time.Duration
	scale    int
	rounds   int
	relay    bool
	only     string
	tracer   string
	quiet    time.Duration
	profile  string
	keep     bool
	haproxy  bool
	pin      bool
	loadCPU  int
	proxyCPU int
}

func main() { harness.Main("bench/backends/pgbench", run) }

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("backends/pgbench", flag.ContinueOnError)
	fs.IntVar(&o.clients, "clients", 8, "pgbench clients (-c)")
	fs.IntVar(&o.jobs, "jobs", 1, "pgbench threads (-j)")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "length of each pgbench run (-T, whole seconds)")
	fs.IntVar(&o.scale, "scale", 1, "pgbench -i scale factor")
	fs.IntVar(&o.rounds, "rounds", 1, "runs per contender, interleaved direct, proxy, direct, …")
	fs.BoolVar(&o.relay, "tcp-relay", false, "also run through a plain TCP relay (backend.TCPRelay): the cost of relaying alone")
	fs.StringVar(&o.only, "only", "", "run only these contenders (comma-separated: pgproxy,tcp-relay); direct always runs, as the reference")
	fs.StringVar(&o.tracer, "tracer", "sdk", "the proxies' tracer: sdk (OpenTelemetry SDK, batch processor, spans discarded at export) or noop (metrics only)")
	fs.DurationVar(&o.quiet, "wait-quiet", 20*time.Second, "before each run, wait up to this long for every CPU to be idle (0 = don't); a run on busy CPUs is noted")
	fs.StringVar(&o.profile, "cpuprofile", "", "write a CPU profile of this process (the proxies) to this file")
	fs.BoolVar(&o.keep, "keep", false, "keep the PostgreSQL data directory and log")
	fs.BoolVar(&o.haproxy, "haproxy", true, "also run through HAProxy in TCP mode (one thread): the reference relay")
	fs.BoolVar(&o.pin, "pin", true, "pin PostgreSQL and pgbench to --load-cpu, the proxies to --proxy-cpu (GOMAXPROCS=1)")
	fs.IntVar(&o.loadCPU, "load-cpu", 0, "CPU of PostgreSQL and pgbench")
	fs.IntVar(&o.proxyCPU, "proxy-cpu", 1, "CPU of the proxies")
	if err := harness.ParseFlags(fs, args, "Compares pgbench -S directly against PostgreSQL and through the sidecar's pgproxy."); err != nil {
		return o, err
	}
	if o.tracer != "sdk" && o.tracer != "noop" {
		return o, fmt.Errorf("--tracer must be sdk or noop, got %q", o.tracer)
	}
	if o.duration < time.Second || o.clients < 1 || o.jobs < 1 || o.rounds < 1 || o.scale < 1 {
		return o, errors.New("--duration must be at least 1s; --clients, --jobs, --rounds and --scale at least 1")
	}
	return o, nil
}

// result is one pgbench run.
type result struct {
	tps       float64
	latencyMs float64
	xacts     int64
}

func run(args []string) error {
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	ctx, stop := harness.SignalContext()
	defer stop()
	pgbench, err := realcomp.Lookup("pgbench")
	if err != nil {
		return err
	}
	haproxyBin := ""
	if o.haproxy {
		if haproxyBin, err = realcomp.Lookup("haproxy"); err != nil {
			return fmt.Errorf("%w (or run with --haproxy=false)", err)
		}
	}
	taskset := ""
	if o.pin {
		if taskset, err = harness.PinTool(o.loadCPU, o.proxyCPU); err != nil {
			return err
		}
		// PostgreSQL inherits this mask: it runs on the load CPU.
		if err := harness.PinSelf(o.loadCPU); err != nil {
			return fmt.Errorf("pinning to CPU %d: %w", o.loadCPU, err)
		}
	}
	sess, err := harness.NewSession("pgbench-", o.keep)
	if err != nil {
		return err
	}
	defer sess.Close()
	dir := sess.Dir
	dbURL, stopPG, err := realcomp.Postgres(dir)
	if err != nil {
		return fmt.Errorf("starting PostgreSQL: %w", err)
	}
	defer stopPG()
	u, err := url.Parse(dbURL)
	if err != nil {
		return err
	}
	directHost, directPort, _ := net.SplitHostPort(u.Host)

	fmt.Printf("initialising pgbench tables (scale %d) ...\n", o.scale)
	if out, err := harness.Command(ctx, pgbench, "-i", "-q", "-s", strconv.Itoa(o.scale), "-h", directHost, "-p", directPort, "-U", "postgres", "postgres").CombinedOutput(); err != nil {
		return fmt.Errorf("pgbench -i: %v\n%s", err, out)
	}

	// The proxies, recording as the sidecar does, alone on the proxy CPU.
	if o.pin {
		runtime.GOMAXPROCS(1)
		if err := harness.PinSelf(o.proxyCPU); err != nil {
			return fmt.Errorf("pinning the proxies to CPU %d: %w", o.proxyCPU, err)
		}
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()))
	defer tp.Shutdown(context.Background())
	tracer := trace.Tracer(tp.Tracer("hopscope"))
	if o.tracer == "noop" {
		tracer = noop.NewTracerProvider().Tracer("")
	}
	reg := prometheus.NewRegistry()
	rec, err := backend.NewRecorder(backend.Options{Tracer: tracer, Tracker: backend.NewTracker(), Registerer: reg})
	if err != nil {
		return err
	}
	cfg := backend.Config{Name: "bench", Kind: backend.KindPostgres, Listen: "127.0.0.1:0", Target: u.Host}
	h, err := pgproxy.New(rec.Backend(cfg))
	if err != nil {
		return err
	}
	srv := backend.NewServer(cfg, h, nil)
	if err := srv.Start(); err != nil {
		return err
	}
	defer srv.Shutdown(context.Background())
	_, proxyPort, _ := net.SplitHostPort(srv.Addr().String())

	bench := func(port string) (result, error) {
		argv := []string{pgbench, "-S", "-c", strconv.Itoa(o.clients), "-j", strconv.Itoa(o.jobs),
			"-T", strconv.Itoa(int(o.duration.Seconds())), "-h", "127.0.0.1", "-p", port, "-U", "postgres", "postgres"}
		if o.pin {
			argv = harness.Pinned(taskset, o.loadCPU, argv...)
		}
		cmd := harness.Command(ctx, argv...)
		cmd.Env = append(os.Environ(), "PGSSLMODE=prefer")
		out, err := cmd.CombinedOutput()
		if err != nil {
			return result{}, fmt.Errorf("%s: %v\n%s", strings.Join(argv, " "), err, out)
		}
		return parsePgbench(string(out))
	}

	ports := map[string]string{"direct": directPort, "pgproxy": proxyPort}
	contenders := []string{"direct", "pgproxy"}
	if o.only != "" {
		contenders = []string{"direct"}
		for _, c := range strings.Split(o.only, ",") {
			switch c = strings.TrimSpace(c); c {
			case "pgproxy":
				contenders = append(contenders, c)
			case "tcp-relay":
				o.relay = true
			case "direct", "", "haproxy":
			default:
				return fmt.Errorf("--only: unknown contender %q (pgproxy, tcp-relay, haproxy)", c)
			}
		}
		o.haproxy = o.haproxy && strings.Contains(o.only, "haproxy")
	}
	if o.relay {
		rcfg := cfg
		rcfg.Name = "relay"
		relay := backend.NewServer(rcfg, backend.TCPRelay{B: rec.Backend(rcfg)}, nil)
		if err := relay.Start(); err != nil {
			return err
		}
		defer relay.Shutdown(context.Background())
		_, ports["tcp-relay"], _ = net.SplitHostPort(relay.Addr().String())
		contenders = append(contenders, "tcp-relay")
	}
	var ref *harness.TCPReference
	if o.haproxy {
		if ref, err = harness.StartTCPReference(ctx, sess, haproxyBin, u.Host, taskset, o.proxyCPU); err != nil {
			return err
		}
		_, ports["haproxy"], _ = net.SplitHostPort(ref.Addr)
		contenders = append(contenders, "haproxy")
	}
	// Only the proxies run in this process: the profile is theirs.
	stopProfile, err := harness.StartCPUProfile(o.profile)
	if err != nil {
		return err
	}
	defer stopProfile()

	results := map[string][]result{}
	cpu := map[string]float64{}
	var notes []string
	cpus := []int{o.loadCPU, o.proxyCPU}
	if !o.pin {
		cpus = nil
		for i := range runtime.NumCPU() {
			cpus = append(cpus, i)
		}
	}
	// The CPU time a contender's proxy spends: this process, or HAProxy's.
	proxyCPU := func(c string) float64 {
		if c == "haproxy" {
			return harness.TreeCPU(ref.Proc.PID())
		}
		return harness.SelfCPU()
	}
	for r := 0; r < o.rounds; r++ {
		for _, c := range contenders {
			if o.quiet > 0 {
				if err := harness.WaitQuiet(ctx, cpus, o.quiet); err != nil {
					if ctx.Err() != nil {
						return ctx.Err()
					}
					notes = append(notes, fmt.Sprintf("round %d, %s: %v", r+1, c, err))
				}
			}
			fmt.Printf("round %d/%d: %s ...\n", r+1, o.rounds, c)
			before := proxyCPU(c)
			res, err := bench(ports[c])
			if err != nil {
				return err
			}
			cpu[c] += proxyCPU(c) - before
			results[c] = append(results[c], res)
		}
	}

	report(o, harness.ToolVersion(ctx, pgbench, "--version"), contenders, results, cpu, observations(reg))
	harness.PrintNotes(os.Stdout, notes)
	return ctx.Err()
}

var (
	tpsRe     = regexp.MustCompile(`(?m)^tps = ([0-9.]+)`)
	latencyRe = regexp.MustCompile(`(?m)^latency average = ([0-9.]+) ms`)
	xactsRe   = regexp.MustCompile(`(?m)^number of transactions actually processed: ([0-9]+)`)
)

// parsePgbench reads pgbench's summary.
func parsePgbench(out string) (result, error) {
	var r result
	m := tpsRe.FindStringSubmatch(out)
	l := latencyRe.FindStringSubmatch(out)
	x := xactsRe.FindStringSubmatch(out)
	if m == nil || l == nil || x == nil {
		return r, fmt.Errorf("cannot read pgbench's output:\n%s", out)
	}
	r.tps, _ = strconv.ParseFloat(m[1], 64)
	r.latencyMs, _ = strconv.ParseFloat(l[1], 64)
	r.xacts, _ = strconv.ParseInt(x[1], 10, 64)
	return r, nil
}

// observations is the number of SELECT calls the proxy timed.
func observations(reg *prometheus.Registry) uint64 {
	mfs, err := reg.Gather()
	if err != nil {
		return 0
	}
	var n uint64
	for _, mf := range mfs {
		if mf.GetName() != "hopscope_backend_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "operation" && l.GetValue() == "SELECT" {
					n += m.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	return n
}

func report(o options, version string, contenders []string, results map[string][]result, cpu map[string]float64, timed uint64) {
	tps := func(rs []result) float64 {
		return harness.Median(harness.Pick(rs, func(r result) float64 { return r.tps }))
	}
	lat := func(rs []result) float64 {
		return harness.Median(harness.Pick(rs, func(r result) float64 { return r.latencyMs }))
	}
	dTPS, dLat := tps(results["direct"]), lat(results["direct"])

	host := harness.HostInfo()
	pin := "not pinned: everything shares every CPU"
	if o.pin {
		pin = fmt.Sprintf("PostgreSQL and pgbench on CPU %d, each proxy alone on CPU %d", o.loadCPU, o.proxyCPU)
	}
	fmt.Printf("\npgbench -S -c %d -j %d -T %d, scale %d, %d round(s); %s; %s CPUs (%s); %s\n\n",
		o.clients, o.jobs, int(o.duration.Seconds()), o.scale, o.rounds, version, host["cpus"], host["cpu"], pin)
	w := harness.NewTable(os.Stdout)
	fmt.Fprintln(w, "contender\ttps\tlatency avg\tlatency ratio\ttps ratio\tproxy CPU per transaction\t")
	for _, c := range contenders {
		rs := results[c]
		var xacts int64
		for _, r := range rs {
			xacts += r.xacts
		}
		perXact := "-"
		if c != "direct" && xacts > 0 {
			perXact = fmt.Sprintf("%.1f µs", cpu[c]/float64(xacts)*1e6)
		}
		fmt.Fprintf(w, "%s\t%.0f\t%.3f ms\t%s\t%s\t%s\t\n", c, tps(rs), lat(rs), harness.FmtRatio(lat(rs)/dLat), harness.FmtRatio(tps(rs)/dTPS), perXact)
	}
	w.Flush()
	var xacts int64
	for _, r := range results["pgproxy"] {
		xacts += r.xacts
	}
	fmt.Printf("\npgproxy timed %d SELECT calls; pgbench counted %d transactions through it; tracer %s\n", timed, xacts, o.tracer)
	if len(results["pgproxy"]) > 0 {
		ratio := lat(results["pgproxy"]) / dLat
		verdict := "met"
		if ratio > target {
			verdict = "NOT met"
		}
		fmt.Printf("target: latency through pgproxy ≤ %.2f× direct: %s (%.2f×)\n", target, verdict, ratio)
		if rs := results["haproxy"]; len(rs) > 0 {
			fmt.Printf("reference: HAProxy's TCP relay %.2f× direct; pgproxy %.2f× HAProxy\n", lat(rs)/dLat, lat(results["pgproxy"])/lat(rs))
		}
	}
	if n, _ := strconv.Atoi(host["cpus"]); n <= 2 && !o.pin {
		fmt.Println("note: with 2 CPUs pgbench, PostgreSQL and the proxy share the cores: the proxy's CPU time adds to the latency directly.")
	}
}
