package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/hopscope/hopscope/internal/cliconfig"
	"github.com/hopscope/hopscope/sidecar"
)

// runDemo starts a small app and the real sidecar in front of it on
// loopback, drives a steady load with a few slow requests, and prints a
// live per-second table of what the sidecar measured (read back from the
// Server-Timing header every response carries).
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("hopscope demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	duration := fs.Duration("duration", 0, "stop after this long (0 = until Ctrl-C)")
	rps := fs.Int("rps", 40, "requests per second")
	slowEvery := fs.Int("slow-every", 10, "every Nth request is slow in the app")
	if err := cliconfig.Load(fs, args, cliconfig.Options{}); err != nil {
		if err == flag.ErrHelp {
			return err
		}
		return usageError{err}
	}
	if *rps < 1 || *rps > 2000 {
		return usageError{fmt.Errorf("--rps: must be between 1 and 2000")}
	}
	if *slowEvery < 1 {
		return usageError{fmt.Errorf("--slow-every: must be at least 1")}
	}
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}

	app, appURL, err := startDemoApp()
	if err != nil {
		return err
	}
	defer app.Close()

	cfg := sidecar.DefaultConfig()
	cfg.Listen, cfg.AdminListen = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Upstream = appURL
	cfg.Service = "shop"
	cfg.Routes = []string{"/api/orders/{id}"}
	cfg.AccessLog = "off"
	cfg.ShutdownGrace = 0
	reg := prometheus.NewRegistry()
	sc, err := sidecar.New(cfg, sidecar.Options{Registerer: reg, Gatherer: reg, Logger: zap.NewNop()})
	if err != nil {
		return err
	}
	if err := sc.Start(ctx); err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = sc.Shutdown(sctx)
	}()

	base := "http://" + sc.Addr().String()
	fmt.Fprintf(stdout, "hopscope demo — app %s behind the sidecar %s\n", appURL, base)
	fmt.Fprintf(stdout, "  try:     curl -si %s/api/orders/7 | grep -i server-timing\n", base)
	fmt.Fprintf(stdout, "  metrics: http://%s/metrics\n", sc.AdminAddr())
	fmt.Fprintf(stdout, "  the app is a demo stand-in: it sleeps 5-15 ms, every %dth request 120 ms more\n", *slowEvery)
	fmt.Fprintln(stdout, "  (the collector with per-hop breakdowns through ingress and load balancer is not built yet)")
	fmt.Fprintln(stdout)

	stats := &demoStats{}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		driveLoad(ctx, base, *rps, *slowEvery, stats)
	}()
	fmt.Fprintf(stdout, "%-8s %6s %6s  %-17s %-17s %-17s %-17s\n", "time", "reqs", "errors",
		"total p50/p95 ms", "app p50/p95", "sidecar p50/p95", "queue p50/p95")
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			stats.print(stdout)
			fmt.Fprintln(stdout, "stopped")
			return nil
		case <-tick.C:
			stats.print(stdout)
		}
	}
}

func startDemoApp() (*http.Server, string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", fmt.Errorf("demo app: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/orders/{id}", func(w http.ResponseWriter, r *http.Request) {
		d := 5*time.Millisecond + rand.N(10*time.Millisecond)
		if r.URL.Query().Get("slow") == "1" {
			d += 120 * time.Millisecond
		}
		time.Sleep(d)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":%q,"traceparent":%q}`+"\n", r.PathValue("id"), r.Header.Get("Traceparent"))
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	return srv, "http://" + ln.Addr().String(), nil
}

var demoTimingRE = regexp.MustCompile(`(app|sidecar);dur=([0-9.]+)`)

// driveLoad sends rps requests per second until ctx ends, each with an
// X-Request-Start stamped 1-3 ms earlier as an ingress would.
func driveLoad(ctx context.Context, base string, rps, slowEvery int, stats *demoStats) {
	client := &http.Client{Timeout: 5 * time.Second}
	tick := time.NewTicker(time.Second / time.Duration(rps))
	defer tick.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for i := 1; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			url := fmt.Sprintf("%s/api/orders/%d", base, 1000+rand.N(9000))
			if i%slowEvery == 0 {
				url += "?slow=1"
			}
			req, _ := http.NewRequestWithContext(context.WithoutCancel(ctx), "GET", url, nil)
			queued := time.Now().Add(-time.Millisecond - rand.N(2*time.Millisecond))
			req.Header.Set("X-Request-Start", "t="+strconv.FormatInt(queued.UnixMicro(), 10))
			start := time.Now()
			res, err := client.Do(req)
			if err != nil {
				stats.add(0, 0, 0, 0, true)
				return
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			total := time.Since(start)
			var app, side float64
			for _, m := range demoTimingRE.FindAllStringSubmatch(strings.Join(res.Header.Values("Server-Timing"), ","), -1) {
				v, _ := strconv.ParseFloat(m[2], 64)
				if m[1] == "app" {
					app = v
				} else {
					side = v
				}
			}
			queue := float64(start.Sub(queued).Microseconds()) / 1000
			stats.add(float64(total.Microseconds())/1000, app, side, queue, res.StatusCode >= 500)
		}(i)
	}
}

// demoStats keeps the last second's samples.
type demoStats struct {
	mu                      sync.Mutex
	total, app, side, queue []float64
	errors                  int
}

func (s *demoStats) add(total, app, side, queue float64, failed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if failed {
		s.errors++
		return
	}
	s.total = append(s.total, total)
	s.app = append(s.app, app)
	s.side = append(s.side, side)
	s.queue = append(s.queue, queue)
}

func (s *demoStats) print(w io.Writer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintf(w, "%-8s %6d %6d  %-17s %-17s %-17s %-17s\n", time.Now().Format("15:04:05"), len(s.total), s.errors,
		pcts(s.total), pcts(s.app), pcts(s.side), pcts(s.queue))
	s.total, s.app, s.side, s.queue, s.errors = s.total[:0], s.app[:0], s.side[:0], s.queue[:0], 0
}

func pcts(v []float64) string {
	if len(v) == 0 {
		return "-"
	}
	s := slices.Clone(v)
	slices.Sort(s)
	at := func(q float64) float64 { return s[int(q*float64(len(s)-1))] }
	return fmt.Sprintf("%.2f / %.2f", at(0.5), at(0.95))
}
