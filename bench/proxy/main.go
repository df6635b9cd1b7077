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
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
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
}

var allContenders = []string{"direct", "nginx", "hopscope"}

func main() {
	if err := run(os.Args[1:]); err != nil {
		if errors.Is(err, context.Canceled) {
			err = errors.New("interrupted; every process stopped")
		}
		fmt.Fprintln(os.Stderr, "bench/proxy:", err)
		os.Exit(1)
	}
}

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
	fs.StringVar(&o.hopscopeBin, "hopscope-bin", "", "use this hopscope binary instead of building ./cmd/hopscope")
	fs.BoolVar(&o.fluent, "fluent", false, "also ship access logs with --fluent-address to a local forward sink (the default is stdout only, which a node's Fluent Bit tails)")
	extra := fs.String("hopscope-args", "", "extra arguments appended to `hopscope sidecar ...` (space-separated)")
	fs.StringVar(&o.nginxPath, "nginx", "", "nginx binary (default: from PATH or /usr/sbin)")
	fs.StringVar(&o.wrkPath, "wrk", "", "wrk binary (default: from PATH)")
	fs.DurationVar(&o.waitQuiet, "wait-quiet", 30*time.Second, "before each run, wait up to this long for both CPUs to be idle (0 = don't)")
	fs.DurationVar(&o.readyTimeout, "ready-timeout", 15*time.Second, "how long to wait for each server to answer 200")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: go run ./bench/proxy [flags]\n\nCompares wrk→nginx upstream directly, via nginx as reverse proxy and via the hopscope sidecar.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
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
	}
	return o, nil
}

// contender is one way of reaching the upstream.
type contender struct {
	Name     string  `json:"name"`
	Desc     string  `json:"description"`
	URL      string  `json:"url"`
	Rounds   []round `json:"rounds"`
	RSSKiB   int64   `json:"rss_kib,omitempty"`      // VmRSS after the last round (process tree)
	PeakKiB  int64   `json:"peak_rss_kib,omitempty"` // VmHWM (process tree)
	Best     float64 `json:"best_req_per_sec"`
	Median   float64 `json:"median_req_per_sec"`
	P50Ms    float64 `json:"median_p50_ms"`
	P99Ms    float64 `json:"median_p99_ms"`
	Errors   int64   `json:"errors"`
	VsNginx  *ratios `json:"vs_nginx_proxy,omitempty"`
	Sent     int64   `json:"requests_sent_incl_warmup"`
	proc     *proc
	logLines func() (int64, int64, error)
}

type round struct {
	Round int `json:"round"`
	wrkResult
	ProxyCPUPct float64 `json:"proxy_cpu_pct,omitempty"` // of one core, proxy process tree
	LoadCPUPct  float64 `json:"load_cpu_pct"`            // of one core: wrk + upstream + this program
	// OtherPct is the busiest of the two CPUs' time spent on anything but
	// this benchmark (other processes, hypervisor steal): noise.
	OtherPct float64 `json:"other_cpu_pct"`
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
	Time       time.Time         `json:"time"`
	Host       map[string]string `json:"host"`
	Versions   map[string]string `json:"versions"`
	Config     map[string]any    `json:"config"`
	Contenders []*contender      `json:"contenders"`
	Hopscope   *telemetry        `json:"hopscope_telemetry,omitempty"`
	NginxLog   *[2]int64         `json:"nginx_access_log_lines_bytes,omitempty"`
	Notes      []string          `json:"notes,omitempty"`
}

func run(args []string) (err error) {
	o, err := parseFlags(args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
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
	if n := runtime.NumCPU(); n < 2 || o.proxyCPU >= n || o.loadCPU >= n {
		return fmt.Errorf("needs CPUs %d and %d, this process may use %d CPU(s)", o.loadCPU, o.proxyCPU, n)
	}

	ctx, stopSignals := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stopSignals()
	go func() {
		<-ctx.Done()
		stopSignals() // a second Ctrl-C kills this program outright; Pdeathsig takes the children
	}()

	dir, err := os.MkdirTemp("", "hopscope-bench-")
	if err != nil {
		return err
	}
	// nginx's workers run as nobody when started by root: let them traverse.
	os.Chmod(dir, 0o755)
	var procs []*proc
	defer func() {
		for _, p := range slices.Backward(procs) {
			p.stop(5 * time.Second)
		}
		if o.keep {
			fmt.Fprintf(os.Stderr, "kept %s\n", dir)
		} else {
			os.RemoveAll(dir)
		}
	}()

	rep := &report{
		Time:     time.Now().UTC(),
		Host:     hostInfo(),
		Versions: map[string]string{"go": runtime.Version()},
		Config: map[string]any{
			"duration": o.duration.String(), "warmup": o.warmup.String(), "connections": o.connections,
			"threads": o.threads, "rounds": o.rounds, "proxy_cpu": o.proxyCPU, "load_cpu": o.loadCPU,
			"contenders": o.only, "hopscope_args": o.hopscopeArgs, "wait_quiet": o.waitQuiet.String(),
		},
	}
	rep.Versions["nginx"] = toolVersion(ctx, nginx, "-v")
	rep.Versions["wrk"], _, _ = strings.Cut(toolVersion(ctx, wrk, "--version"), " Copyright")

	// Build first, on all cores, before this program pins itself.
	hsBin := o.hopscopeBin
	if has("hopscope") {
		if hsBin == "" {
			hsBin = filepath.Join(dir, "hopscope")
			fmt.Fprintln(os.Stderr, "building ./cmd/hopscope ...")
			if err := buildHopscope(ctx, hsBin); err != nil {
				return err
			}
		}
		rep.Versions["hopscope"] = toolVersion(ctx, hsBin, "version")
	}
	if err := pinSelf(o.loadCPU); err != nil {
		fmt.Fprintf(os.Stderr, "warning: could not pin this program to CPU %d: %v\n", o.loadCPU, err)
	}
	load, proxyCore := strconv.Itoa(o.loadCPU), strconv.Itoa(o.proxyCPU)

	// The upstream: the app stand-in every contender ends at.
	upPort, err := freePort()
	if err != nil {
		return err
	}
	upDir := filepath.Join(dir, "upstream")
	upConf, err := writeUpstreamConf(upDir, upPort)
	if err != nil {
		return err
	}
	upstream, err := startProc(ctx, "upstream nginx", nil, filepath.Join(upDir, "stdout.log"), filepath.Join(upDir, "stderr.log"),
		taskset, "-c", load, nginx, "-p", upDir, "-c", upConf, "-e", filepath.Join(upDir, "error.log"))
	if err != nil {
		return err
	}
	upstream.logs = append(upstream.logs, filepath.Join(upDir, "error.log"))
	procs = append(procs, upstream)
	upURL := fmt.Sprintf("http://127.0.0.1:%d/", upPort)
	if err := waitReady(ctx, upstream, upURL, "ok", o.readyTimeout); err != nil {
		return err
	}

	var cs []*contender
	if has("direct") {
		cs = append(cs, &contender{Name: "direct", Desc: "wrk → upstream nginx, no proxy", URL: upURL})
	}
	if has("nginx") {
		port, err := freePort()
		if err != nil {
			return err
		}
		pDir := filepath.Join(dir, "nginx-proxy")
		conf, err := writeProxyConf(pDir, port, upPort)
		if err != nil {
			return err
		}
		p, err := startProc(ctx, "nginx proxy", nil, filepath.Join(pDir, "stdout.log"), filepath.Join(pDir, "stderr.log"),
			taskset, "-c", proxyCore, nginx, "-p", pDir, "-c", conf, "-e", filepath.Join(pDir, "error.log"))
		if err != nil {
			return err
		}
		p.logs = append(p.logs, filepath.Join(pDir, "error.log"))
		procs = append(procs, p)
		c := &contender{Name: "nginx", Desc: "nginx reverse proxy, keep-alive pool, JSON access log to a file",
			URL: fmt.Sprintf("http://127.0.0.1:%d/", port), proc: p}
		c.logLines = func() (int64, int64, error) { return countLines(filepath.Join(pDir, "access.log")) }
		if err := waitReady(ctx, p, c.URL, "ok", o.readyTimeout); err != nil {
			return err
		}
		cs = append(cs, c)
	}
	var otlp *otlpSink
	var fluent *tcpSink
	var hsAdmin, hsAccessLog string
	if has("hopscope") {
		if otlp, err = startOTLPSink(); err != nil {
			return err
		}
		defer otlp.close()
		if fluent, err = startTCPSink(); err != nil {
			return err
		}
		defer fluent.close()
		port, err := freePort()
		if err != nil {
			return err
		}
		admin, err := freePort()
		if err != nil {
			return err
		}
		hDir := filepath.Join(dir, "hopscope-sidecar")
		if err := os.MkdirAll(hDir, 0o755); err != nil {
			return err
		}
		hsAccessLog = filepath.Join(hDir, "access.log")
		hsAdmin = fmt.Sprintf("http://127.0.0.1:%d", admin)
		argv := []string{taskset, "-c", proxyCore, hsBin, "sidecar",
			"--listen", fmt.Sprintf("127.0.0.1:%d", port),
			"--upstream", strings.TrimSuffix(upURL, "/"),
			"--admin-listen", fmt.Sprintf("127.0.0.1:%d", admin),
			"--otlp-endpoint", "http://" + otlp.addr,
			"--access-log", "stdout",
		}
		desc := "hopscope sidecar, GOMAXPROCS=1, spans (OTLP/HTTP) + metrics + access log (stdout→file)"
		if o.fluent {
			// Direct shipping: fluent-logger-golang writes every record
			// with its own write(2), which costs ~12% of the core.
			argv = append(argv, "--fluent-address", fluent.addr)
			desc += " + Fluent forward"
		}
		argv = append(argv, o.hopscopeArgs...)
		p, err := startProc(ctx, "hopscope sidecar", sidecarEnv(), hsAccessLog, filepath.Join(hDir, "stderr.log"), argv...)
		if err != nil {
			return err
		}
		procs = append(procs, p)
		c := &contender{Name: "hopscope", Desc: desc,
			URL: fmt.Sprintf("http://127.0.0.1:%d/", port), proc: p}
		c.logLines = func() (int64, int64, error) { return countLines(hsAccessLog) }
		if err := waitReady(ctx, p, c.URL, "ok", o.readyTimeout); err != nil {
			return err
		}
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
			if o.waitQuiet > 0 {
				if err := waitQuiet(ctx, []int{o.loadCPU, o.proxyCPU}, o.waitQuiet); err != nil {
					if ctx.Err() != nil {
						return ctx.Err()
					}
					fmt.Fprintf(os.Stderr, "warning: %v; measuring anyway\n", err)
				}
			}
			if o.warmup > 0 {
				res, _, _, err := runWrk(ctx, taskset, load, wrk, wrkArgs(o.threads, o.connections, o.warmup, c.URL), o.warmup)
				if err != nil {
					return fmt.Errorf("%s warm-up: %w", c.Name, err)
				}
				c.Sent += res.Requests
			}
			var proxyBefore float64
			if c.proc != nil {
				proxyBefore = treeCPU(c.proc.pid())
			}
			upBefore, selfBefore, busyBefore := treeCPU(upstream.pid()), selfCPU(), cpuBusy()
			res, wrkCPU, wall, err := runWrk(ctx, taskset, load, wrk, wrkArgs(o.threads, o.connections, o.duration, c.URL), o.duration)
			if err != nil {
				return fmt.Errorf("%s round %d: %w", c.Name, r, err)
			}
			c.Sent += res.Requests
			rd := round{Round: r, wrkResult: res}
			loadCPU := wrkCPU + treeCPU(upstream.pid()) - upBefore + selfCPU() - selfBefore
			busy := cpuBusy()
			rd.LoadCPUPct = 100 * loadCPU / wall
			var proxyCPU float64
			if c.proc != nil {
				if c.proc.exited() {
					return fmt.Errorf("%s exited during round %d (%v)%s", c.proc.name, r, c.proc.err, c.proc.logTail(20))
				}
				proxyCPU = treeCPU(c.proc.pid()) - proxyBefore
				rd.ProxyCPUPct = 100 * proxyCPU / wall
			}
			other := busy[o.loadCPU] - busyBefore[o.loadCPU] - loadCPU
			if c.proc != nil { // direct does not use the proxy CPU
				other = max(other, busy[o.proxyCPU]-busyBefore[o.proxyCPU]-proxyCPU)
			}
			rd.OtherPct = max(0, 100*other/wall)
			c.Rounds = append(c.Rounds, rd)
			fmt.Fprintf(os.Stderr, "round %d/%d %-9s %9.0f req/s  p50 %6.2fms  p99 %6.2fms  errors %d  proxy CPU %3.0f%%  load CPU %3.0f%%  other %3.0f%%\n",
				r, o.rounds, c.Name, res.ReqPerSec, res.P50Ms, res.P99Ms, res.Errors(), rd.ProxyCPUPct, rd.LoadCPUPct, rd.OtherPct)
		}
	}

	// Memory after the run, while the proxies still hold their connections.
	for _, c := range cs {
		if c.proc != nil {
			c.RSSKiB, c.PeakKiB = treeMem(c.proc.pid())
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
		c.proc.stop(20 * time.Second)
		t.StoppedCleanly = c.proc.exited() && c.proc.err == nil
		t.OTLPPosts, t.OTLPBytes, t.Spans, t.OTLPUncounted = otlp.posts.Load(), otlp.bytes.Load(), otlp.spans.Load(), otlp.badBodies.Load()
		t.FluentConns, t.FluentBytes = fluent.conns.Load(), fluent.bytes.Load()
		t.AccessLogLines, t.AccessLogBytes, _ = c.logLines()
		rep.Hopscope = t
	}

	summarize(cs)
	rep.Notes = notes(cs, rep)
	printReport(os.Stdout, rep)
	if o.jsonPath != "" {
		data, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(o.jsonPath), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(o.jsonPath, append(data, '\n'), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "wrote %s\n", o.jsonPath)
	}
	return nil
}

// runWrk runs wrk pinned to the load CPU and returns its parsed output, the
// CPU seconds wrk used and the wall time.
func runWrk(ctx context.Context, taskset, cpu, wrk string, args []string, d time.Duration) (wrkResult, float64, float64, error) {
	ctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, taskset, append([]string{"-c", cpu, wrk}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
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
	used := (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
	return res, used, wall, nil
}

func selfCPU() float64 { return treeCPUOnly(os.Getpid()) }

func treeCPUOnly(pid int) float64 {
	st, err := readStat(pid)
	if err != nil {
		return 0
	}
	return float64(st.ticks) / clockTicks
}

// buildHopscope runs `go build -o out ./cmd/hopscope` in the module root.
func buildHopscope(ctx context.Context, out string) error {
	gomod, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %v", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	if strings.TrimSpace(string(gomod)) == "" || strings.TrimSpace(string(gomod)) == os.DevNull {
		return errors.New("run from inside the hopscope module (go env GOMOD is empty)")
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/hopscope")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/hopscope failed (%v) — until the sidecar builds, run with --only direct,nginx:\n%s", err, b)
	}
	return nil
}

// sidecarEnv is this environment without anything that would configure the
// sidecar or its Go runtime behind the flags' back, plus GOMAXPROCS=1.
func sidecarEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "HOPSCOPE_") || strings.HasPrefix(k, "OTEL_") ||
			slices.Contains([]string{"GOMAXPROCS", "GOGC", "GOMEMLIMIT", "GODEBUG"}, k) {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "GOMAXPROCS=1")
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

func toolVersion(ctx context.Context, bin string, arg string) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	b, _ := exec.CommandContext(ctx, bin, arg).CombinedOutput()
	line, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return strings.TrimSpace(line)
}

func hostInfo() map[string]string {
	h := map[string]string{"cpus": strconv.Itoa(runtime.NumCPU())}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				h["cpu"] = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		h["kernel"] = strings.TrimSpace(string(b))
	}
	return h
}
