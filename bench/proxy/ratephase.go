package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hopscope/hopscope/bench/internal/harness"
)

// rateRun is one open-loop run of one contender at one rate.
type rateRun struct {
	Round int `json:"round"`
	openLoopResult
	// ProxyVCPU is the proxy's CPU time over the run's wall time, in CPUs.
	ProxyVCPU float64 `json:"proxy_vcpu,omitempty"`
	// RSSKiB is the proxy's VmRSS at the end of the run.
	RSSKiB int64 `json:"rss_kib,omitempty"`
	// SysPct is the kernel's share of the proxy's CPU time.
	SysPct float64 `json:"proxy_sys_pct,omitempty"`
	// SwitchesPerReq is the proxy's context switches (all its threads)
	// per request scheduled.
	SwitchesPerReq float64 `json:"proxy_context_switches_per_request,omitempty"`
	// OtherPct: as round.OtherPct.
	OtherPct float64 `json:"other_cpu_pct"`
	// The sidecar's own telemetry, hopscope only (each run has a fresh
	// sidecar): requests sent to it (warm-up included), spans it exported
	// and access-log lines it wrote by the time it stopped.
	Sent   int64 `json:"requests_sent_incl_warmup,omitempty"`
	Spans  int64 `json:"spans,omitempty"`
	Logged int64 `json:"access_log_lines,omitempty"`
}

// rateSummary is a contender's medians over the rounds at one rate.
type rateSummary struct {
	Rate     float64 `json:"rate"`
	Achieved float64 `json:"achieved_req_per_sec"`
	P50Ms    float64 `json:"p50_ms"`
	P99Ms    float64 `json:"p99_ms"`
	P999Ms   float64 `json:"p999_ms"`
	// AddedP99Ms is the median over the rounds of this contender's p99
	// less direct's in the same round; nil without direct.
	AddedP99Ms *float64 `json:"added_p99_vs_direct_ms,omitempty"`
	ProxyVCPU  float64  `json:"proxy_vcpu,omitempty"`
	// CPUPerReqUs is ProxyVCPU over the rate: CPU microseconds a request.
	CPUPerReqUs    float64 `json:"proxy_cpu_us_per_request,omitempty"`
	SysPct         float64 `json:"proxy_sys_pct,omitempty"`
	SwitchesPerReq float64 `json:"proxy_context_switches_per_request,omitempty"`
	RSSKiB         int64   `json:"rss_kib,omitempty"`
	Errors         int64   `json:"errors"`
	LateP99Ms      float64 `json:"generator_late_p99_ms"`
}

// ratePhase runs the open-loop phase: every rate, every contender, every
// round, interleaved as the saturation rounds are. nginx and direct are
// the instances of the saturation phase; hopscope gets a fresh sidecar
// per run, so its RSS is what that rate needs and not the high-water mark
// of a saturation run before it (Go returns freed memory to the kernel
// only gradually).
type ratePhase struct {
	o        options
	sess     *harness.Session
	dir      string
	taskset  string
	upstream *harness.Proc
	sc       sidecarSetup
	otlp     *otlpSink
	ready    func(string) harness.Ready
}

func (ph ratePhase) run(ctx context.Context, cs []*contender) error {
	o := ph.o
	for r := 1; r <= o.rounds; r++ {
		order := slices.Clone(cs)
		if r%2 == 0 {
			slices.Reverse(order)
		}
		for _, rate := range o.rates {
			for _, c := range order {
				run, err := ph.one(ctx, c, rate, r)
				if err != nil {
					return fmt.Errorf("%s open loop at %v req/s, round %d: %w", c.Name, rate, r, err)
				}
				c.OpenLoop = append(c.OpenLoop, run)
				fmt.Fprintf(os.Stderr, "round %d/%d %-9s open loop %6.0f req/s  p50 %6.3fms  p99 %6.3fms  errors %d  proxy %5.3f vCPU  RSS %s  other %3.0f%%\n",
					r, o.rounds, c.Name, rate, run.P50Ms, run.P99Ms, run.Errors, run.ProxyVCPU, mib(run.RSSKiB), run.OtherPct)
			}
		}
	}
	summarizeRates(cs, o.rates)
	return nil
}

// one measures c at rate once: a warm-up at the rate, then the run.
func (ph ratePhase) one(ctx context.Context, c *contender, rate float64, round int) (rateRun, error) {
	o := ph.o
	run := rateRun{Round: round}
	if err := waitQuiet(ctx, o); err != nil {
		return run, err
	}
	url, proc := c.URL, c.proc
	var sidecar *runningSidecar
	var spansBefore int64
	if c.Name == "hopscope" {
		spansBefore = ph.otlp.spans.Load()
		var err error
		name := fmt.Sprintf("hopscope sidecar (%v req/s, round %d)", rate, round)
		sidecar, err = ph.sc.start(ctx, ph.sess, name, filepath.Join(ph.dir, fmt.Sprintf("hopscope-rate-%v-%d", rate, round)), ph.ready)
		if err != nil {
			return run, err
		}
		defer sidecar.proc.Stop(20 * time.Second)
		url, proc = sidecar.url, sidecar.proc
	}
	addr := strings.TrimSuffix(strings.TrimPrefix(url, "http://"), "/")
	if o.warmup > 0 {
		w, err := openLoop(ctx, addr, rate, o.warmup, o.rateConns)
		if err != nil {
			return run, fmt.Errorf("warm-up: %w", err)
		}
		run.Sent += w.Completed + w.Errors
	}
	before := sample(proc, ph.upstream)
	start := time.Now()
	res, err := openLoop(ctx, addr, rate, o.rateDuration, o.rateConns)
	if err != nil {
		return run, err
	}
	wall := time.Since(start).Seconds()
	used := since(before, proc, ph.upstream)
	run.openLoopResult = res
	run.Sent += res.Completed + res.Errors
	if proc != nil {
		if proc.Exited() {
			return run, fmt.Errorf("%s exited (%v)%s", proc.Name(), proc.Err(), proc.LogTail(20))
		}
		run.ProxyVCPU = used.proxyCPU / wall
		if used.proxyCPU > 0 {
			run.SysPct = 100 * used.proxySys / used.proxyCPU
		}
		run.SwitchesPerReq = float64(used.switches) / float64(res.Scheduled)
		run.RSSKiB, _ = harness.TreeMem(proc.PID())
	}
	run.OtherPct = used.otherPct(o, used.upCPU+used.selfCPU, wall, proc != nil)
	if sidecar != nil {
		// Stopped now so that queued spans and lines are flushed first.
		sidecar.proc.Stop(20 * time.Second)
		run.Spans = ph.otlp.spans.Load() - spansBefore
		run.Logged, _, _ = countLines(sidecar.accessLog)
	}
	return run, nil
}

// summarizeRates fills each contender's medians per rate.
func summarizeRates(cs []*contender, rates []float64) {
	var direct *contender
	for _, c := range cs {
		if c.Name == "direct" {
			direct = c
		}
	}
	for _, c := range cs {
		c.OpenLoopSummary = nil
		for _, rate := range rates {
			var runs []rateRun
			for _, r := range c.OpenLoop {
				if r.Rate == rate {
					runs = append(runs, r)
				}
			}
			if len(runs) == 0 {
				continue
			}
			f := func(get func(rateRun) float64) float64 { return harness.Median(harness.Pick(runs, get)) }
			s := rateSummary{Rate: rate,
				Achieved:       f(func(r rateRun) float64 { return r.Achieved }),
				P50Ms:          f(func(r rateRun) float64 { return r.P50Ms }),
				P99Ms:          f(func(r rateRun) float64 { return r.P99Ms }),
				P999Ms:         f(func(r rateRun) float64 { return r.P999Ms }),
				ProxyVCPU:      f(func(r rateRun) float64 { return r.ProxyVCPU }),
				SwitchesPerReq: f(func(r rateRun) float64 { return r.SwitchesPerReq }),
				SysPct:         f(func(r rateRun) float64 { return r.SysPct }),
				RSSKiB:         int64(f(func(r rateRun) float64 { return float64(r.RSSKiB) })),
				LateP99Ms:      f(func(r rateRun) float64 { return r.LateP99Ms }),
			}
			s.CPUPerReqUs = 1e6 * s.ProxyVCPU / rate
			for _, r := range runs {
				s.Errors += r.Errors
			}
			if direct != nil && c != direct {
				var added []float64
				for _, r := range runs {
					for _, d := range direct.OpenLoop {
						if d.Rate == rate && d.Round == r.Round {
							added = append(added, r.P99Ms-d.P99Ms)
						}
					}
				}
				if len(added) > 0 {
					a := harness.Median(added)
					s.AddedP99Ms = &a
				}
			}
			c.OpenLoopSummary = append(c.OpenLoopSummary, s)
		}
	}
}

// rateNotes are the warnings about the open-loop runs.
func rateNotes(cs []*contender) []string {
	var ns []string
	for _, c := range cs {
		for _, r := range c.OpenLoop {
			at := fmt.Sprintf("%s open loop %v req/s round %d", c.Name, r.Rate, r.Round)
			if r.Errors > 0 {
				ns = append(ns, fmt.Sprintf("%s: %d of %d requests failed", at, r.Errors, r.Scheduled))
			}
			if r.OtherPct >= 10 {
				ns = append(ns, fmt.Sprintf("%s: other work used %.0f%% of a benchmark CPU — this run is disturbed", at, r.OtherPct))
			}
			if r.LateP99Ms > 0.25 { // 0.11–0.33 ms on a quiet machine here
				ns = append(ns, fmt.Sprintf("%s: the generator started 1%% of its requests more than %.3f ms late — that much of every latency is the generator's", at, r.LateP99Ms))
			}
			if c.Name == "hopscope" && (r.Spans < r.Sent || r.Logged < r.Sent) {
				ns = append(ns, fmt.Sprintf("%s: %d spans and %d access-log lines for %d requests — the sidecar shed telemetry", at, r.Spans, r.Logged, r.Sent))
			}
		}
	}
	return ns
}

func printRates(w io.Writer, rep *report) {
	if !slices.ContainsFunc(rep.Contenders, func(c *contender) bool { return len(c.OpenLoopSummary) > 0 }) {
		return
	}
	cfg := rep.Config
	fmt.Fprintf(w, "\nopen loop: each rate for %v over %v keep-alive connections, latency from each request's scheduled start; medians of %v round(s); hopscope: a fresh sidecar per run\n",
		cfg["rate_duration"], cfg["rate_connections"], cfg["rounds"])
	tw := harness.NewTable(w)
	fmt.Fprintln(tw, "rate\tcontender\tachieved\tp50\tp99\tp99.9\tadded p99 vs direct\tproxy CPU\tCPU/req\tof it kernel\tswitches/req\tRSS\terrors\tgenerator late p99\t")
	rates := rep.Config["rates"].([]float64)
	for _, rate := range rates {
		for _, c := range rep.Contenders {
			for _, s := range c.OpenLoopSummary {
				if s.Rate != rate {
					continue
				}
				added, cpu, perReq, sys, sw := "-", "-", "-", "-", "-"
				if s.AddedP99Ms != nil {
					added = fmt.Sprintf("%+.3fms", *s.AddedP99Ms)
				}
				if c.Name != "direct" {
					cpu = fmt.Sprintf("%.3f vCPU", s.ProxyVCPU)
					perReq = fmt.Sprintf("%.0fµs", s.CPUPerReqUs)
					sys = fmt.Sprintf("%.0f%%", s.SysPct)
					sw = fmt.Sprintf("%.1f", s.SwitchesPerReq)
				}
				fmt.Fprintf(tw, "%.0f/s\t%s\t%.0f/s\t%.3fms\t%.3fms\t%.3fms\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%.3fms\t\n", rate, c.Name, s.Achieved,
					s.P50Ms, s.P99Ms, s.P999Ms, added, cpu, perReq, sys, sw, mib(s.RSSKiB), s.Errors, s.LateP99Ms)
			}
		}
	}
	tw.Flush()
}
