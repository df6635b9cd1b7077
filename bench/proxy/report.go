package main

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/hopscope/hopscope/bench/internal/harness"
)

// summarize fills the per-contender aggregates and the ratios to nginx.
func summarize(cs []*contender) {
	var ng *contender
	for _, c := range cs {
		rps := harness.Pick(c.Rounds, func(r round) float64 { return r.ReqPerSec })
		c.Best = slices.Max(rps)
		c.Median = harness.Median(rps)
		c.P50Ms = harness.Median(harness.Pick(c.Rounds, func(r round) float64 { return r.P50Ms }))
		c.P99Ms = harness.Median(harness.Pick(c.Rounds, func(r round) float64 { return r.P99Ms }))
		c.Errors = 0
		for _, r := range c.Rounds {
			c.Errors += r.Errors()
		}
		if c.Name == "nginx" {
			ng = c
		}
	}
	if ng == nil || ng.Median == 0 {
		return
	}
	for _, c := range cs {
		r := &ratios{ReqPerSec: c.Median / ng.Median, P50: c.P50Ms / ng.P50Ms, P99: c.P99Ms / ng.P99Ms}
		if c.RSSKiB > 0 && ng.RSSKiB > 0 {
			r.RSS = float64(c.RSSKiB) / float64(ng.RSSKiB)
		}
		c.VsNginx = r
	}
}

// notes are the warnings a reader needs before trusting the table.
func notes(cs []*contender, rep *report) []string {
	var ns []string
	for _, c := range cs {
		rps := harness.Pick(c.Rounds, func(r round) float64 { return r.ReqPerSec })
		if lo, hi := slices.Min(rps), slices.Max(rps); len(rps) > 1 && hi > 0 && (hi-lo)/hi > 0.10 {
			ns = append(ns, fmt.Sprintf("%s: rounds differ by %.0f%% — the machine was noisy; rerun with more --rounds", c.Name, 100*(hi-lo)/hi))
		}
		if c.Errors > 0 {
			ns = append(ns, fmt.Sprintf("%s: %d failed requests (socket errors or status ≥ 400): its req/s is not comparable", c.Name, c.Errors))
		}
		for _, r := range c.Rounds {
			if r.OtherPct >= 10 {
				ns = append(ns, fmt.Sprintf("%s round %d: other work used %.0f%% of a benchmark CPU — this round is disturbed", c.Name, r.Round, r.OtherPct))
			}
			if c.Name != "direct" && r.LoadCPUPct >= 95 && r.ProxyCPUPct < 90 {
				ns = append(ns, fmt.Sprintf("%s round %d: the load CPU was busy %.0f%% while the proxy used %.0f%% of its CPU — wrk and the upstream, not the proxy, limited this round", c.Name, r.Round, r.LoadCPUPct, r.ProxyCPUPct))
			}
		}
	}
	if t := rep.Hopscope; t != nil {
		if t.Spans == 0 {
			ns = append(ns, "hopscope: the OTLP sink received no spans — spans were not on (check the sidecar's stderr with --keep)")
		} else if t.Spans < t.RequestsSent {
			ns = append(ns, fmt.Sprintf("hopscope: %d spans for %d requests — the sidecar dropped or sampled spans under load", t.Spans, t.RequestsSent))
		}
		if t.AccessLogLines < t.RequestsSent {
			ns = append(ns, fmt.Sprintf("hopscope: %d access-log lines for %d requests — some requests were not logged", t.AccessLogLines, t.RequestsSent))
		}
		if t.FluentBytes == 0 && rep.Config["fluent"] == true {
			ns = append(ns, "hopscope: the Fluent sink received nothing")
		}
	}
	return append(ns, rateNotes(cs)...)
}

// mib is harness.FmtMiB, "-" for 0 (direct has no proxy process).
func mib(kib int64) string {
	if kib == 0 {
		return "-"
	}
	return harness.FmtMiB(kib)
}

func pct(x float64) string {
	if x == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f%%", x)
}

func printReport(w io.Writer, rep *report) {
	cfg := rep.Config
	fmt.Fprintf(w, "\nwrk -t%v -c%v -d%v --latency, %v round(s) interleaved; proxy on CPU %v, wrk+upstream on CPU %v\n",
		cfg["threads"], cfg["connections"], cfg["duration"], cfg["rounds"], cfg["proxy_cpu"], cfg["load_cpu"])
	fmt.Fprintf(w, "%s, %s CPUs, kernel %s; %s; %s; %s\n", rep.Host["cpu"], rep.Host["cpus"], rep.Host["kernel"],
		rep.Versions["nginx"], rep.Versions["wrk"], rep.Versions["go"])
	if v, ok := rep.Versions["hopscope"]; ok {
		fmt.Fprintf(w, "hopscope: %s\n", v)
	}
	fmt.Fprintln(w)

	tw := harness.NewTable(w)
	fmt.Fprintln(tw, "contender\treq/s by round\tbest\tmedian\tp50\tp99\terrors\tproxy CPU\tload CPU\tother\tRSS\tpeak RSS\t")
	for _, c := range rep.Contenders {
		var rr []string
		var pc, lc, oc []float64
		for _, r := range c.Rounds {
			rr = append(rr, harness.FmtK(r.ReqPerSec))
			pc = append(pc, r.ProxyCPUPct)
			lc = append(lc, r.LoadCPUPct)
			oc = append(oc, r.OtherPct)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.2fms\t%.2fms\t%d\t%s\t%s\t%.0f%%\t%s\t%s\t\n", c.Name, strings.Join(rr, " "),
			harness.FmtK(c.Best), harness.FmtK(c.Median), c.P50Ms, c.P99Ms, c.Errors, pct(harness.Median(pc)), pct(harness.Median(lc)), slices.Max(oc), mib(c.RSSKiB), mib(c.PeakKiB))
	}
	tw.Flush()

	if slices.ContainsFunc(rep.Contenders, func(c *contender) bool { return c.VsNginx != nil }) {
		fmt.Fprintln(w, "\nrelative to nginx as reverse proxy (median req/s: higher is better; latency and RSS: lower is better)")
		tw = harness.NewTable(w)
		fmt.Fprintln(tw, "contender\treq/s\tp50\tp99\tRSS\t")
		for _, c := range rep.Contenders {
			if r := c.VsNginx; r != nil {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", c.Name, harness.FmtRatio(r.ReqPerSec), harness.FmtRatio(r.P50), harness.FmtRatio(r.P99), harness.FmtRatio(r.RSS))
			}
		}
		tw.Flush()
	}

	if slices.ContainsFunc(rep.Contenders, func(c *contender) bool { return c.proc != nil }) {
		fmt.Fprintln(w, "\nthe proxy's cost per request at saturation (medians over rounds): CPU in user space and in the kernel (syscalls and the loopback network stack they run), context switches")
		tw = harness.NewTable(w)
		fmt.Fprintln(tw, "contender\tuser\tkernel\ttotal\tswitches\t")
		for _, c := range rep.Contenders {
			if c.proc == nil {
				continue
			}
			u := harness.Median(harness.Pick(c.Rounds, func(r round) float64 { return r.UserUsPerReq }))
			k := harness.Median(harness.Pick(c.Rounds, func(r round) float64 { return r.SysUsPerReq }))
			sw := harness.Median(harness.Pick(c.Rounds, func(r round) float64 { return r.SwitchesPerReq }))
			fmt.Fprintf(tw, "%s\t%.1fµs\t%.1fµs\t%.1fµs\t%.2f\t\n", c.Name, u, k, u+k, sw)
		}
		tw.Flush()
	}

	if l := rep.NginxLog; l != nil {
		fmt.Fprintf(w, "\nnginx proxy access log: %d lines, %.1f MiB\n", l[0], float64(l[1])/(1<<20))
	}
	if t := rep.Hopscope; t != nil {
		fmt.Fprintf(w, "\nhopscope telemetry (after stopping the sidecar%s):\n", map[bool]string{true: ", clean exit", false: ", NOT a clean exit"}[t.StoppedCleanly])
		fmt.Fprintf(w, "  requests sent      %d (measured + warm-up)\n", t.RequestsSent)
		fmt.Fprintf(w, "  spans (OTLP/HTTP)  %d in %d POSTs, %.1f MiB", t.Spans, t.OTLPPosts, float64(t.OTLPBytes)/(1<<20))
		if t.OTLPUncounted > 0 {
			fmt.Fprintf(w, " (%d bodies not countable)", t.OTLPUncounted)
		}
		fmt.Fprintln(w)
		fmt.Fprintf(w, "  access log         %d lines, %.1f MiB\n", t.AccessLogLines, float64(t.AccessLogBytes)/(1<<20))
		fmt.Fprintf(w, "  Fluent forward     %.1f MiB over %d connection(s)\n", float64(t.FluentBytes)/(1<<20), t.FluentConns)
		for _, d := range t.DroppedMetrics {
			fmt.Fprintf(w, "  %s\n", d)
		}
	}
	printRates(w, rep)
	harness.PrintNotes(w, rep.Notes)
}
