// Command outage measures the hopscope sidecar's memory while its telemetry
// sinks are black holes: the OTLP endpoint (gRPC and HTTP in turn) and the
// Fluent forward address accept connections and never read, as a hung
// collector or Fluent Bit does. An open-loop Go load generator drives
// --rate requests per second through the sidecar to an upstream in this
// program; the sidecar's RSS is sampled every 100 ms and its Go heap
// scraped from /metrics every second.
//
//	go run ./bench/outage                         # 8000 req/s, 30 s per protocol, a 128Mi container limit
//	go run ./bench/outage --rate 4000 --protocols grpc
//	go run ./bench/outage --hopscope-bin ./old --memory-limit=false --go-memlimit 134217728   # as the chart ran it before
//
// See bench/README.md.
package main

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hopscope/hopscope/bench/internal/harness"
)

type options struct {
	rate        int
	duration    time.Duration
	connections int
	protocols   []string
	fluent      bool
	limit       int64
	passLimit   bool
	goMemLimit  string
	uaBytes     int
	proxyCPU    int
	loadCPU     int
	pin         bool
	hopscopeBin string
	extraArgs   []string
	jsonPath    string
	keep        bool
}

func main() { harness.Main("bench/outage", run) }

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("outage", flag.ContinueOnError)
	fs.IntVar(&o.rate, "rate", 8000, "requests per second offered (open loop)")
	fs.DurationVar(&o.duration, "duration", 30*time.Second, "length of each run")
	fs.IntVar(&o.connections, "connections", 64, "keep-alive connections the load is spread over")
	protocols := fs.String("protocols", "grpc,http", "OTLP protocols to black-hole, one run each: grpc, http")
	fs.BoolVar(&o.fluent, "fluent", true, "also ship access logs to a black-holed Fluent forward address")
	limit := fs.String("limit", "128Mi", "the container's memory limit (bytes, or with Ki/Mi/Gi) the peak RSS is judged against")
	fs.BoolVar(&o.passLimit, "memory-limit", true, "pass --memory-limit LIMIT to the sidecar, as the chart does (from limits.memory)")
	fs.StringVar(&o.goMemLimit, "go-memlimit", "", "GOMEMLIMIT for the sidecar (the chart set it to the container limit before --memory-limit existed); empty = unset")
	fs.IntVar(&o.uaBytes, "user-agent-bytes", 120, "length of each request's User-Agent")
	fs.IntVar(&o.proxyCPU, "proxy-cpu", 1, "CPU the sidecar is pinned to (GOMAXPROCS=1)")
	fs.IntVar(&o.loadCPU, "load-cpu", 0, "CPU the load, the upstream, the black holes and this program are pinned to")
	fs.BoolVar(&o.pin, "pin", true, "pin with taskset; false runs everything unpinned")
	fs.StringVar(&o.hopscopeBin, "hopscope-bin", "", "use this hopscope binary instead of building ./cmd/hopscope")
	extra := fs.String("hopscope-args", "", "extra arguments appended to `hopscope sidecar ...` (space-separated)")
	fs.StringVar(&o.jsonPath, "json", "", "also write the results as JSON to this file")
	fs.BoolVar(&o.keep, "keep", false, "keep the temp dir (the sidecar's stderr) and print its path")
	if err := harness.ParseFlags(fs, args, "Measures the sidecar's RSS and heap under load while its OTLP and Fluent sinks accept and never read."); err != nil {
		return o, err
	}
	for _, p := range strings.Split(*protocols, ",") {
		p = strings.TrimSpace(p)
		if p != "grpc" && p != "http" {
			return o, fmt.Errorf("--protocols: %q is not grpc or http", p)
		}
		if !slices.Contains(o.protocols, p) {
			o.protocols = append(o.protocols, p)
		}
	}
	var err error
	if o.limit, err = parseBytes(*limit); err != nil || o.limit == 0 {
		return o, fmt.Errorf("--limit: %w", cmp.Or(err, errors.New("must not be 0")))
	}
	o.extraArgs = strings.Fields(*extra)
	switch {
	case o.rate < 1:
		return o, errors.New("--rate must be at least 1")
	case o.duration < 5*time.Second:
		return o, errors.New("--duration must be at least 5s: the queues take seconds to fill")
	case o.connections < 1:
		return o, errors.New("--connections must be at least 1")
	case o.pin && (o.proxyCPU == o.loadCPU || o.proxyCPU < 0 || o.loadCPU < 0):
		return o, errors.New("--proxy-cpu and --load-cpu must be two different CPUs")
	}
	return o, nil
}

// parseBytes reads a byte count, plain or with a Ki, Mi or Gi suffix.
func parseBytes(s string) (int64, error) {
	mult := int64(1)
	for suf, m := range map[string]int64{"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30} {
		if t, ok := strings.CutSuffix(s, suf); ok {
			s, mult = t, m
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a byte count", s)
	}
	return n * mult, nil
}

// result is one run: one OTLP protocol black-holed.
type result struct {
	Protocol     string             `json:"otlp_protocol"`
	OfferedRate  int                `json:"offered_req_per_sec"`
	Rate         float64            `json:"served_req_per_sec"`
	Errors       int64              `json:"errors"`
	Late         int64              `json:"late_requests"`
	PeakRSSKiB   int64              `json:"peak_rss_kib"`
	PeakAnonKiB  int64              `json:"peak_rss_anon_kib"`
	FileKiB      int64              `json:"rss_file_kib_at_peak"`
	HWMKiB       int64              `json:"vm_hwm_kib"`
	EndRSSKiB    int64              `json:"end_rss_kib"`
	PeakHeapKiB  int64              `json:"peak_heap_inuse_kib"`
	PeakSysKiB   int64              `json:"peak_go_sys_kib"`
	Dropped      map[string]float64 `json:"telemetry_dropped"`
	Limit        int64              `json:"container_limit_bytes"`
	GoMemLimit   string             `json:"gomemlimit,omitempty"`
	WithinLimit  bool               `json:"peak_rss_within_limit"`
	ProxyCPUPct  float64            `json:"proxy_cpu_pct"`
	SidecarFlags []string           `json:"sidecar_args"`
}

func run(args []string) error {
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	ctx, stop := harness.SignalContext()
	defer stop()
	var taskset string
	if o.pin {
		if taskset, err = harness.PinTool(o.loadCPU, o.proxyCPU); err != nil {
			return err
		}
		if err := harness.PinSelf(o.loadCPU); err != nil {
			return fmt.Errorf("pinning this program to CPU %d: %w", o.loadCPU, err)
		}
	}
	sess, err := harness.NewSession("hopscope-outage-", o.keep)
	if err != nil {
		return err
	}
	defer sess.Close()
	bin := o.hopscopeBin
	if bin == "" {
		root, err := harness.ModuleRoot(ctx)
		if err != nil {
			return err
		}
		bin = filepath.Join(sess.Dir, "hopscope")
		if err := harness.BuildHopscope(ctx, root, bin, "pass --hopscope-bin"); err != nil {
			return err
		}
	}
	upstream, err := startUpstream()
	if err != nil {
		return err
	}
	defer upstream.Close()

	var results []result
	for _, proto := range o.protocols {
		r, err := runOnce(ctx, sess, o, bin, taskset, proto, upstream.Addr().String())
		if err != nil {
			return fmt.Errorf("%s: %w", proto, err)
		}
		results = append(results, r)
	}
	report(os.Stdout, o, results)
	if o.jsonPath != "" {
		return harness.WriteJSON(o.jsonPath, struct {
			harness.Header
			Results []result `json:"results"`
		}{harness.NewHeader(map[string]any{"rate": o.rate, "duration": o.duration.String(), "connections": o.connections,
			"fluent": o.fluent, "limit": o.limit, "memory_limit_flag": o.passLimit, "gomemlimit": o.goMemLimit,
			"user_agent_bytes": o.uaBytes}), results})
	}
	return nil
}

// startUpstream answers every request on a keep-alive connection with
// "200 ok", reading only the head (the load sends no bodies): cheap, so
// that the load CPU is not the limit.
func startUpstream() (net.Listener, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	const resp = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReaderSize(c, 16<<10)
				for {
					if err := skipHead(br); err != nil {
						return
					}
					if _, err := io.WriteString(c, resp); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln, nil
}

// skipHead reads an HTTP/1.1 head up to its blank line.
func skipHead(br *bufio.Reader) error {
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) <= 2 {
			return nil
		}
	}
}

// blackHole accepts connections and never reads from them; close releases
// them.
type blackHole struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func startBlackHole() (*blackHole, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	b := &blackHole{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.mu.Lock()
			b.conns = append(b.conns, c)
			b.mu.Unlock()
		}
	}()
	return b, nil
}

func (b *blackHole) close() int {
	b.ln.Close()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range b.conns {
		c.Close()
	}
	return len(b.conns)
}

func runOnce(ctx context.Context, sess *harness.Session, o options, bin, taskset, proto, upstream string) (result, error) {
	r := result{Protocol: proto, OfferedRate: o.rate, Limit: o.limit, GoMemLimit: o.goMemLimit}
	otlp, err := startBlackHole()
	if err != nil {
		return r, err
	}
	defer otlp.close()
	ports, err := harness.FreePorts(2)
	if err != nil {
		return r, err
	}
	listen, admin := fmt.Sprintf("127.0.0.1:%d", ports[0]), fmt.Sprintf("127.0.0.1:%d", ports[1])
	endpoint := "http://" + otlp.ln.Addr().String()
	if proto == "grpc" {
		endpoint = "grpc://" + otlp.ln.Addr().String()
	}
	argv := []string{bin, "sidecar", "--listen", listen, "--admin-listen", admin, "--upstream", "http://" + upstream,
		"--service", "outage", "--otlp-endpoint", endpoint, "--access-log", "stdout", "--shutdown-grace", "0s",
		"--drain-timeout", "2s", "--routes", "/orders/{id}"}
	if o.passLimit {
		argv = append(argv, "--memory-limit", strconv.FormatInt(o.limit, 10))
	}
	if o.fluent {
		fluent, err := startBlackHole()
		if err != nil {
			return r, err
		}
		defer fluent.close()
		argv = append(argv, "--fluent-address", fluent.ln.Addr().String())
	}
	argv = append(argv, o.extraArgs...)
	r.SidecarFlags = argv[2:]
	if taskset != "" {
		argv = harness.Pinned(taskset, o.proxyCPU, argv...)
	}
	env := harness.CleanEnv("GOMAXPROCS=1")
	if o.goMemLimit != "" {
		env = append(env, "GOMEMLIMIT="+o.goMemLimit)
	}
	logPath := filepath.Join(sess.Dir, "sidecar-"+proto+".log")
	// The access log goes to /dev/null, as a node's log pipeline reads it
	// elsewhere: the stdout sink is not what is measured.
	sc, err := sess.Start(ctx, "sidecar", env, os.DevNull, logPath, argv...)
	if err != nil {
		return r, err
	}
	defer sc.Stop(10 * time.Second)
	if err := harness.WaitReady(ctx, sc, harness.Ready{URL: "http://" + admin + "/healthz", Timeout: 15 * time.Second, Every: 50 * time.Millisecond}); err != nil {
		return r, err
	}
	fmt.Fprintf(os.Stderr, "%s: %d req/s for %v, OTLP/%s and Fluent black-holed ...\n", proto, o.rate, o.duration, proto)

	// Sample RSS every 100 ms and the Go heap every second while the load runs.
	sampleCtx, stopSampling := context.WithCancel(ctx)
	var sampler sync.WaitGroup
	sampler.Go(func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		n := 0
		for {
			select {
			case <-sampleCtx.Done():
				return
			case <-tick.C:
			}
			rss, _ := harness.TreeMem(sc.PID())
			if rss > r.PeakRSSKiB {
				r.PeakRSSKiB = rss
				r.FileKiB = statusKiB(sc.PID(), "RssFile")
			}
			r.PeakAnonKiB = max(r.PeakAnonKiB, statusKiB(sc.PID(), "RssAnon"))
			if n++; n%10 == 0 {
				if m, err := scrape(sampleCtx, admin); err == nil {
					r.PeakHeapKiB = max(r.PeakHeapKiB, int64(m["go_memstats_heap_inuse_bytes"])/1024)
					r.PeakSysKiB = max(r.PeakSysKiB, int64(m["go_memstats_sys_bytes"])/1024)
				}
			}
		}
	})
	cpu0 := harness.TreeCPU(sc.PID())
	start := time.Now()
	ok, errs, late := load(ctx, listen, o)
	elapsed := time.Since(start)
	r.ProxyCPUPct = 100 * (harness.TreeCPU(sc.PID()) - cpu0) / elapsed.Seconds()
	stopSampling()
	sampler.Wait()
	if ctx.Err() != nil {
		return r, ctx.Err()
	}
	if sc.Exited() {
		return r, fmt.Errorf("the sidecar exited during the run (%v)%s", sc.Err(), sc.LogTail(20))
	}
	r.Rate, r.Errors, r.Late = float64(ok)/elapsed.Seconds(), errs, late
	r.EndRSSKiB, r.HWMKiB = harness.TreeMem(sc.PID())
	m, err := scrape(ctx, admin)
	if err != nil {
		return r, fmt.Errorf("scraping the sidecar: %w", err)
	}
	r.Dropped = map[string]float64{}
	for k, v := range m {
		if sink, ok := strings.CutPrefix(k, "hopscope_telemetry_dropped_total/"); ok {
			r.Dropped[sink] = v
		}
	}
	r.WithinLimit = r.PeakRSSKiB*1024 <= o.limit
	return r, nil
}

// statusKiB reads one "Key: N kB" line of /proc/PID/status; 0 if absent.
func statusKiB(pid int, key string) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// load offers o.rate requests per second over o.connections keep-alive
// connections for o.duration: connection i sends its k-th request at
// start + (k·connections + i)/rate, later if its previous one has not
// returned (counted as late once behind by more than a second). Requests
// are written and responses read on raw connections (a response is taken
// as its head and a Content-Length body), so that the load CPU is not the
// limit: net/http's client costs several times more per request.
func load(ctx context.Context, addr string, o options) (ok, errs, late int64) {
	ua := "Mozilla/5.0 (" + strings.Repeat("x", max(0, o.uaBytes-14)) + ")"
	var nOK, nErr, nLate atomic.Int64
	start := time.Now()
	end := start.Add(o.duration)
	every := time.Duration(float64(time.Second) * float64(o.connections) / float64(o.rate))
	var wg sync.WaitGroup
	for i := range o.connections {
		wg.Go(func() {
			var c net.Conn
			var br *bufio.Reader
			defer func() {
				if c != nil {
					c.Close()
				}
			}()
			var req []byte
			next := start.Add(time.Duration(float64(time.Second) * float64(i) / float64(o.rate)))
			for k := 0; ; k++ {
				if d := time.Until(next); d > 0 {
					select {
					case <-time.After(d):
					case <-ctx.Done():
						return
					}
				} else if d < -time.Second {
					nLate.Add(1)
					next = time.Now()
				}
				if next.After(end) || ctx.Err() != nil {
					return
				}
				next = next.Add(every)
				if c == nil {
					var err error
					if c, err = net.DialTimeout("tcp", addr, 5*time.Second); err != nil {
						nErr.Add(1)
						c = nil
						continue
					}
					br = bufio.NewReaderSize(c, 16<<10)
				}
				req = fmt.Appendf(req[:0], "GET /orders/%d?page=2 HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: %s\r\n\r\n", i*1_000_000+k, ua)
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				if _, err := c.Write(req); err != nil || readResponse(br) != nil {
					nErr.Add(1)
					c.Close()
					c = nil
					continue
				}
				nOK.Add(1)
			}
		})
	}
	wg.Wait()
	return nOK.Load(), nErr.Load(), nLate.Load()
}

// readResponse reads one response: a 200 head and its Content-Length body.
func readResponse(br *bufio.Reader) error {
	status, err := br.ReadSlice('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(string(status), "HTTP/1.1 200 ") {
		return fmt.Errorf("status %q", strings.TrimSpace(string(status)))
	}
	n := 0
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) <= 2 {
			break
		}
		if k, v, ok := strings.Cut(string(line), ":"); ok && strings.EqualFold(k, "Content-Length") {
			n, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	_, err = br.Discard(n)
	return err
}

// scrape reads the sidecar's /metrics: Go memory gauges by name and
// hopscope_telemetry_dropped_total as "hopscope_telemetry_dropped_total/SINK".
func scrape(ctx context.Context, admin string) (map[string]float64, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+admin+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	m := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		name := line[:i]
		switch {
		case name == "go_memstats_heap_inuse_bytes" || name == "go_memstats_sys_bytes":
			m[name] = v
		case strings.HasPrefix(name, "hopscope_telemetry_dropped_total{"):
			if _, rest, ok := strings.Cut(name, `sink="`); ok {
				sink, _, _ := strings.Cut(rest, `"`)
				m["hopscope_telemetry_dropped_total/"+sink] = v
			}
		}
	}
	return m, sc.Err()
}

func report(w io.Writer, o options, results []result) {
	flag := "not passed"
	if o.passLimit {
		flag = "passed"
	}
	fmt.Fprintf(w, "\nsidecar under %d req/s offered for %v, OTLP and Fluent black-holed; container limit %s (--memory-limit %s), GOMEMLIMIT %q, GOMAXPROCS=1\n\n",
		o.rate, o.duration, harness.FmtMiB(o.limit/1024), flag, o.goMemLimit)
	t := harness.NewTable(w)
	fmt.Fprintln(t, "  otlp\treq/s\terrors\tlate\tproxy CPU\tpeak RSS\t(file)\tpeak anon\tend RSS\tpeak heap in use\tpeak Go sys\tdropped otlp\tdropped fluent\twithin limit\t")
	for _, r := range results {
		fmt.Fprintf(t, "  %s\t%s\t%d\t%d\t%.0f%%\t%s\t%s\t%s\t%s\t%s\t%s\t%.0f\t%.0f\t%v\t\n", r.Protocol, harness.FmtK(r.Rate), r.Errors, r.Late,
			r.ProxyCPUPct, harness.FmtMiB(r.PeakRSSKiB), harness.FmtMiB(r.FileKiB), harness.FmtMiB(r.PeakAnonKiB), harness.FmtMiB(r.EndRSSKiB),
			harness.FmtMiB(r.PeakHeapKiB), harness.FmtMiB(r.PeakSysKiB), r.Dropped["otlp"], r.Dropped["fluent"], r.WithinLimit)
	}
	t.Flush()
	var notes []string
	for _, r := range results {
		if r.Rate < 0.95*float64(r.OfferedRate) {
			notes = append(notes, fmt.Sprintf("%s: served %.0f of %d req/s offered: the sidecar (or the load CPU) could not keep up, so this is not a run at the offered rate", r.Protocol, r.Rate, r.OfferedRate))
		}
		if r.Errors > 0 {
			notes = append(notes, fmt.Sprintf("%s: %d requests failed", r.Protocol, r.Errors))
		}
	}
	harness.PrintNotes(w, notes)
}
