// Command proxy compares reverse proxies on one machine, reproducibly:
// wrk straight to an nginx upstream ("direct"), nginx as an ingress-like
// reverse proxy ("nginx") and the hopscope sidecar with spans, metrics and
// access logs on ("hopscope"), all against the same upstream, interleaved.
//
//	go run ./bench/proxy                      # all three, 8s × 2 rounds
//	go run ./bench/proxy --only direct,nginx  # without the sidecar
//	go run ./bench/proxy --json results.json
//
// See bench/README.md for the method and how to read the output.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hopscope/hopscope/bench/internal/harness"
)

type options struct {
	duration     time.Duration
	warmup       time.Duration
	connections  int
	threads      int
	rounds       int
	only         []string
	jsonPath     string
	keep         bool
	proxyCPU     int
	loadCPU      int
	hopscopeBin  string
	hopscopeArgs []string
	fluent       bool
	nginxPath    string
	wrkPath      string
	readyTimeout time.Duration
	waitQuiet    time.Duration
	// rates, rateDuration, rateConns: the open-loop phase (none: off).
	rates        []float64
	rateDuration time.Duration
	rateConns    int
}

var allContenders = []string{"direct", "nginx", "hopscope"}

func main() { harness.Main("bench/proxy", run) }

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("proxy", flag.ContinueOnError)
	fs.DurationVar(&o.duration, "duration", 8*time.Second, "length of each measured wrk run (whole seconds)")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured wrk run before each measured one (0 = none)")
	fs.IntVar(&o.connections, "connections", 32, "wrk connections (-c)")
	fs.IntVar(&o.threads, "threads", 1, "wrk threads (-t)")
	fs.IntVar(&o.rounds, "rounds", 2, "measured runs per contender, interleaved")
	only := fs.String("only", strings.Join(allContenders, ","), "contenders to run, comma-separated: direct,nginx,hopscope")
	fs.StringVar(&o.jsonPath, "json", "", "also write the results as JSON to this file")
	fs.BoolVar(&o.keep, "keep", false, "keep the temp dir (configs, logs, access logs) and print its path")
	fs.IntVar(&o.proxyCPU, "proxy-cpu", 1, "CPU the proxy under test is pinned to")
	fs.IntVar(&o.loadCPU, "load-cpu", 0, "CPU wrk, the upstream and this program are pinned to")
	fs.StringVar(&o.hopscopeBin, "hopscope-bin", "", "use this binary instead of building ./cmd/hopscope-sidecar: a hopscope-sidecar, or a hopscope run as `hopscope sidecar`")
	fs.BoolVar(&o.fluent, "fluent", false, "also ship access logs with --fluent-address to a local forward sink (the default is stdout only, which a node's Fluent Bit tails)")
	extra := fs.String("hopscope-args", "", "extra arguments appended to the sidecar's (space-separated)")
	rates := fs.String("rates", "1000,5000", "open-loop phase: these request rates (req/s, comma-separated), each contender, each round; \"\" for none")
	fs.DurationVar(&o.rateDuration, "rate-duration", 10*time.Second, "length of each measured open-loop run")
	fs.IntVar(&o.rateConns, "rate-connections", 16, "keep-alive connections of the open-loop generator")
	fs.StringVar(&o.nginxPath, "nginx", "", "nginx binary (default: from PATH or /usr/sbin)")
	fs.StringVar(&o.wrkPath, "wrk", "", "wrk binary (default: from PATH)")
	fs.DurationVar(&o.waitQuiet, "wait-quiet", 30*time.Second, "before each run, wait up to this long for both CPUs to be idle (0 = don't)")
	fs.DurationVar(&o.readyTimeout, "ready-timeout", 15*time.Second, "how long to wait for each server to answer 200")
	if err := harness.ParseFlags(fs, args, "Compares wrk→nginx upstream directly, via nginx as reverse proxy and via the hopscope sidecar."); err != nil {
		return o, err
	}
	for _, c := range strings.Split(*only, ",") {
		c = strings.TrimSpace(c)
		if c == "" {
			continue
		}
		if !slices.Contains(allContenders, c) {
			return o, fmt.Errorf("--only: unknown contender %q (want direct, nginx, hopscope)", c)
		}
		if !slices.Contains(o.only, c) {
			o.only = append(o.only, c)
		}
	}
	// Keep the canonical order whatever order --only listed them in.
	slices.SortFunc(o.only, func(a, b string) int {
		return slices.Index(allContenders, a) - slices.Index(allContenders, b)
	})
	o.hopscopeArgs = strings.Fields(*extra)
	for _, f := range strings.Split(*rates, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		r, err := strconv.ParseFloat(f, 64)
		if err != nil || r < 1 || r > 1e6 {
			return o, fmt.Errorf("--rates: %q is not a request rate between 1 and 1000000", f)
		}
		o.rates = append(o.rates, r)
	}
	switch {
	case len(o.only) == 0:
		return o, errors.New("--only: no contender")
	case o.duration < time.Second || o.duration%time.Second != 0:
		return o, errors.New("--duration: wrk takes whole seconds, at least 1s")
	case o.warmup < 0 || o.warmup%time.Second != 0:
		return o, errors.New("--warmup: whole seconds, or 0")
	case o.connections < 1 || o.threads < 1 || o.connections < o.threads:
		return o, errors.New("--connections must be ≥ --threads ≥ 1")
	case o.rounds < 1:
		return o, errors.New("--rounds must be at least 1")
	case o.proxyCPU == o.loadCPU || o.proxyCPU < 0 || o.loadCPU < 0:
		return o, errors.New("--proxy-cpu and --load-cpu must be two different CPUs")
	case len(o.rates) > 0 && (o.rateDuration < time.Second || o.rateConns < 1):
		return o, errors.New("--rate-duration must be at least 1s and --rate-connections at least 1")
	}
	return o, nil
}

// contender is one way of reaching the upstream.
type contender struct {
	Name    string  `json:"name"`
	Desc    string  `json:"description"`
	URL     string  `json:"url"`
	Rounds  []round `json:"rounds"`
	RSSKiB  int64   `json:"rss_kib,omitempty"`      // VmRSS after the last round (process tree)
	PeakKiB int64   `json:"peak_rss_kib,omitempty"` // VmHWM (process tree)
	Best    float64 `json:"best_req_per_sec"`
	Median  float64 `json:"median_req_per_sec"`
	P50Ms   float64 `json:"median_p50_ms"`
	P99Ms   float64 `json:"median_p99_ms"`
	Errors  int64   `json:"errors"`
	VsNginx *ratios `json:"vs_nginx_proxy,omitempty"`
	Sent    int64   `json:"requests_sent_incl_warmup"`
	// OpenLoop are the open-loop runs, OpenLoopSummary their medians per rate.
	OpenLoop        []rateRun     `json:"open_loop,omitempty"`
	OpenLoopSummary []rateSummary `json:"open_loop_summary,omitempty"`
	proc            *harness.Proc
	logLines        func() (int64, int64, error)
}

type round struct {
	Round int `json:"round"`
	wrkResult
	ProxyCPUPct float64 `json:"proxy_cpu_pct,omitempty"` // of one core, proxy process tree
	LoadCPUPct  float64 `json:"load_cpu_pct"`            // of one core: wrk + upstream + this program
	// OtherPct is the busiest of the two CPUs' time spent on anything but
	// this benchmark (other processes, hypervisor steal): noise.
	OtherPct float64 `json:"other_cpu_pct"`
	// The proxy's CPU per request, in user space and in the kernel
	// (syscalls and the loopback network stack run for them), and its
	// context switches per request.
	UserUsPerReq   float64 `json:"proxy_user_us_per_request,omitempty"`
	SysUsPerReq    float64 `json:"proxy_sys_us_per_request,omitempty"`
	SwitchesPerReq float64 `json:"proxy_context_switches_per_request,omitempty"`
}

type ratios struct {
	ReqPerSec float64 `json:"req_per_sec"`
	P50       float64 `json:"p50"`
	P99       float64 `json:"p99"`
	RSS       float64 `json:"rss,omitempty"`
}

type telemetry struct {
	OTLPPosts      int64    `json:"otlp_posts"`
	OTLPBytes      int64    `json:"otlp_bytes"`
	Spans          int64    `json:"spans"`
	OTLPUncounted  int64    `json:"otlp_bodies_not_counted"`
	FluentConns    int64    `json:"fluent_connections"`
	FluentBytes    int64    `json:"fluent_bytes"`
	AccessLogLines int64    `json:"access_log_lines"`
	AccessLogBytes int64    `json:"access_log_bytes"`
	RequestsSent   int64    `json:"requests_sent_incl_warmup"`
	DroppedMetrics []string `json:"telemetry_dropped_metrics,omitempty"`
	StoppedCleanly bool     `json:"stopped_cleanly"`
}

type report struct {
	harness.Header
	Contenders []*contender `json:"contenders"`
	Hopscope   *telemetry   `json:"hopscope_telemetry,omitempty"`
	NginxLog   *[2]int64    `json:"nginx_access_log_lines_bytes,omitempty"`
	Notes      []string     `json:"notes,omitempty"`
}

func run(args []string) (err error) {
	o, err := parseFlags(args)
	if err != nil {
		return err // flag.ErrHelp: harness.Main exits 0
	}
	has := func(name string) bool { return slices.Contains(o.only, name) }

	wrk, err := lookTool("wrk", o.wrkPath, "wrk")
	if err != nil {
		return err
	}
	nginx, err := lookTool("nginx", o.nginxPath, "nginx")
	if err != nil {
		return err
	}
	taskset, err := lookTool("taskset", "", "util-linux")
	if err != nil {
		return err
	}
	if err := harness.CheckCPUs(o.loadCPU, o.proxyCPU); err != nil {
		return err
	}

	ctx, stopSignals := harness.SignalContext()
	defer stopSignals()

	sess, err := harness.NewSession("hopscope-bench-", o.keep)
	if err != nil {
		return err
	}
	dir := sess.Dir
	// nginx's workers run as nobody when started by root: let them traverse.
	os.Chmod(dir, 0o755)
	defer sess.Close()

	rep := &report{Header: harness.NewHeader(map[string]any{
		"duration": o.duration.String(), "warmup": o.warmup.String(), "connections": o.connections,
		"threads": o.threads, "rounds": o.rounds, "proxy_cpu": o.proxyCPU, "load_cpu": o.loadCPU,
		"contenders": o.only, "hopscope_args": o.hopscopeArgs, "wait_quiet": o.waitQuiet.String(),
		"fluent": o.fluent, "rates": o.rates, "rate_duration": o.rateDuration.String(), "rate_connections": o.rateConns,
	})}
	rep.Versions["nginx"] = harness.ToolVersion(ctx, nginx, "-v")
	rep.Versions["wrk"], _, _ = strings.Cut(harness.ToolVersion(ctx, wrk, "--version"), " Copyright")

	// Build first, on all cores, before this program pins itself.
	hsBin := o.hopscopeBin
	if has("hopscope") {
		if hsBin == "" {
			hsBin = filepath.Join(dir, "hopscope-sidecar")
			root, err := harness.ModuleRoot(ctx)
			if err != nil {
				return err
			}
			if err := harness.BuildCommand(ctx, root, hsBin, "./cmd/hopscope-sidecar", "until the sidecar builds, run with --only direct,nginx"); err != nil {
				return err
			}
		}
		rep.Versions["hopscope"] = harness.ToolVersion(ctx, hsBin, "version")
	}
	if err := harness.PinSelf(o.loadCPU); err != nil {
		fmt.Fprintf(os.Stderr, "warning: could not pin this program to CPU %d: %v\n", o.loadCPU, err)
	}
	ready := func(url string) harness.Ready {
		return harness.Ready{URL: url, Body: "ok", Timeout: o.readyTimeout, Every: 50 * time.Millisecond}
	}

	// The upstream: the app stand-in every contender ends at.
	upPort, err := harness.FreePort()
	if err != nil {
		return err
	}
	upDir := filepath.Join(dir, "upstream")
	upConf, err := writeUpstreamConf(upDir, upPort)
	if err != nil {
		return err
	}
	upstream, err := sess.Start(ctx, "upstream nginx", nil, filepath.Join(upDir, "stdout.log"), filepath.Join(upDir, "stderr.log"),
		harness.Pinned(taskset, o.loadCPU, nginx, "-p", upDir, "-c", upConf, "-e", filepath.Join(upDir, "error.log"))...)
	if err != nil {
		return err
	}
	upstream.AddLog(filepath.Join(upDir, "error.log"))
	upURL := fmt.Sprintf("http://127.0.0.1:%d/", upPort)
	if err := harness.WaitReady(ctx, upstream, ready(upURL)); err != nil {
		return err
	}

	var cs []*contender
	if has("direct") {
		cs = append(cs, &contender{Name: "direct", Desc: "wrk → upstream nginx, no proxy", URL: upURL})
	}
	if has("nginx") {
		port, err := harness.FreePort()
		if err != nil {
			return err
		}
		pDir := filepath.Join(dir, "nginx-proxy")
		conf, err := writeProxyConf(pDir, port, upPort)
		if err != nil {
			return err
		}
		p, err := sess.Start(ctx, "nginx proxy", nil, filepath.Join(pDir, "stdout.log"), filepath.Join(pDir, "stderr.log"),
			harness.Pinned(taskset, o.proxyCPU, nginx, "-p", pDir, "-c", conf, "-e", filepath.Join(pDir, "error.log"))...)
		if err != nil {
			return err
		}
		p.AddLog(filepath.Join(pDir, "error.log"))
		c := &contender{Name: "nginx", Desc: "nginx reverse proxy, keep-alive pool, JSON access log to a file",
			URL: fmt.Sprintf("http://127.0.0.1:%d/", port), proc: p}
		c.logLines = func() (int64, int64, error) { return countLines(filepath.Join(pDir, "access.log")) }
		if err := harness.WaitReady(ctx, p, ready(c.URL)); err != nil {
			return err
		}
		cs = append(cs, c)
	}
	var otlp *otlpSink
	var fluent *tcpSink
	var hsAdmin string
	var sc sidecarSetup
	if has("hopscope") {
		if otlp, err = startOTLPSink(); err != nil {
			return err
		}
		defer otlp.close()
		if fluent, err = startTCPSink(); err != nil {
			return err
		}
		defer fluent.close()
		sc = sidecarSetup{bin: hsBin, sub: sidecarSubcommand(rep.Versions["hopscope"]), taskset: taskset, cpu: o.proxyCPU,
			upstream: strings.TrimSuffix(upURL, "/"), otlp: otlp.addr, extra: o.hopscopeArgs}
		desc := "hopscope sidecar, GOMAXPROCS=1, spans (OTLP/HTTP) + metrics + access log (stdout→file)"
		if o.fluent {
			sc.fluent = fluent.addr
			desc += " + Fluent forward"
		}
		hs, err := sc.start(ctx, sess, "hopscope sidecar", filepath.Join(dir, "sidecar"), ready)
		if err != nil {
			return err
		}
		hsAdmin = hs.admin
		c := &contender{Name: "hopscope", Desc: desc, URL: hs.url, proc: hs.proc}
		c.logLines = func() (int64, int64, error) { return countLines(hs.accessLog) }
		cs = append(cs, c)
	}
	rep.Contenders = cs

	// Interleaved rounds, order reversed every other round (A B C, C B A, ...)
	// so no contender always runs first or last.
	for r := 1; r <= o.rounds; r++ {
		order := slices.Clone(cs)
		if r%2 == 0 {
			slices.Reverse(order)
		}
		for _, c := range order {
			if err := waitQuiet(ctx, o); err != nil {
				return err
			}
			if o.warmup > 0 {
				res, _, _, err := runWrk(ctx, taskset, o.loadCPU, wrk, wrkArgs(o.threads, o.connections, o.warmup, c.URL), o.warmup)
				if err != nil {
					return fmt.Errorf("%s warm-up: %w", c.Name, err)
				}
				c.Sent += res.Requests
			}
			before := sample(c.proc, upstream)
			res, wrkCPU, wall, err := runWrk(ctx, taskset, o.loadCPU, wrk, wrkArgs(o.threads, o.connections, o.duration, c.URL), o.duration)
			if err != nil {
				return fmt.Errorf("%s round %d: %w", c.Name, r, err)
			}
			c.Sent += res.Requests
			rd := round{Round: r, wrkResult: res}
			used := since(before, c.proc, upstream)
			loadCPU := wrkCPU + used.upCPU + used.selfCPU
			rd.LoadCPUPct = 100 * loadCPU / wall
			if c.proc != nil {
				if c.proc.Exited() {
					return fmt.Errorf("%s exited during round %d (%v)%s", c.proc.Name(), r, c.proc.Err(), c.proc.LogTail(20))
				}
				rd.ProxyCPUPct = 100 * used.proxyCPU / wall
				if res.Requests > 0 {
					rd.SysUsPerReq = 1e6 * used.proxySys / float64(res.Requests)
					rd.UserUsPerReq = 1e6 * (used.proxyCPU - used.proxySys) / float64(res.Requests)
					rd.SwitchesPerReq = float64(used.switches) / float64(res.Requests)
				}
			}
			rd.OtherPct = used.otherPct(o, loadCPU, wall, c.proc != nil) // direct does not use the proxy CPU
			c.Rounds = append(c.Rounds, rd)
			fmt.Fprintf(os.Stderr, "round %d/%d %-9s %9.0f req/s  p50 %6.2fms  p99 %6.2fms  errors %d  proxy CPU %3.0f%%  load CPU %3.0f%%  other %3.0f%%\n",
				r, o.rounds, c.Name, res.ReqPerSec, res.P50Ms, res.P99Ms, res.Errors(), rd.ProxyCPUPct, rd.LoadCPUPct, rd.OtherPct)
		}
	}

	// Memory after the run, while the proxies still hold their connections.
	for _, c := range cs {
		if c.proc != nil {
			c.RSSKiB, c.PeakKiB = harness.TreeMem(c.proc.PID())
		}
	}
	for _, c := range cs {
		if c.Name == "nginx" && c.logLines != nil {
			l, b, err := c.logLines()
			if err == nil {
				rep.NginxLog = &[2]int64{l, b}
			}
		}
	}
	if i := slices.IndexFunc(cs, func(c *contender) bool { return c.Name == "hopscope" }); i >= 0 {
		c := cs[i]
		t := &telemetry{RequestsSent: c.Sent}
		t.DroppedMetrics = scrapeDropped(ctx, hsAdmin+"/metrics")
		// Stop the sidecar now, so spans and log records still queued are
		// flushed (or not) before the counts are read.
		c.proc.Stop(20 * time.Second)
		t.StoppedCleanly = c.proc.Exited() && c.proc.Err() == nil
		t.OTLPPosts, t.OTLPBytes, t.Spans, t.OTLPUncounted = otlp.posts.Load(), otlp.bytes.Load(), otlp.spans.Load(), otlp.badBodies.Load()
		t.FluentConns, t.FluentBytes = fluent.conns.Load(), fluent.bytes.Load()
		t.AccessLogLines, t.AccessLogBytes, _ = c.logLines()
		rep.Hopscope = t
	}

	if len(o.rates) > 0 {
		ph := ratePhase{o: o, sess: sess, dir: dir, taskset: taskset, upstream: upstream, sc: sc, otlp: otlp, ready: ready}
		if err := ph.run(ctx, cs); err != nil {
			return err
		}
	}

	summarize(cs)
	rep.Notes = notes(cs, rep)
	printReport(os.Stdout, rep)
	if o.jsonPath != "" {
		return harness.WriteJSON(o.jsonPath, rep)
	}
	return nil
}

// runWrk runs wrk pinned to the load CPU and returns its parsed output, the
// CPU seconds wrk used and the wall time.
func runWrk(ctx context.Context, taskset string, cpu int, wrk string, args []string, d time.Duration) (wrkResult, float64, float64, error) {
	ctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	cmd := harness.Command(ctx, harness.Pinned(taskset, cpu, append([]string{wrk}, args...)...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start).Seconds()
	if ctx.Err() != nil {
		return wrkResult{}, 0, 0, ctx.Err()
	}
	if err != nil {
		return wrkResult{}, 0, 0, fmt.Errorf("wrk %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	res, err := parseWrk(stdout.String())
	if err != nil {
		return res, 0, 0, fmt.Errorf("%v\nwrk output:\n%s%s", err, stdout.String(), stderr.String())
	}
	return res, harness.CPUSeconds(cmd.ProcessState), wall, nil
}

func scrapeDropped(ctx context.Context, url string) []string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return []string{"scrape failed: " + err.Error()}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	var out []string
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, "hopscope_telemetry_dropped_total") {
			out = append(out, line)
		}
	}
	if resp.StatusCode != http.StatusOK {
		out = append(out, fmt.Sprintf("scrape status %d", resp.StatusCode))
	}
	return out
}
