package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func pick(rs []round, f func(round) float64) []float64 {
	out := make([]float64, len(rs))
	for i, r := range rs {
		out[i] = f(r)
	}
	return out
}

// summarize fills the per-contender aggregates and the ratios to nginx.
func summarize(cs []*contender) {
	var ng *contender
	for _, c := range cs {
		rps := pick(c.Rounds, func(r round) float64 { return r.ReqPerSec })
		c.Best = slices.Max(rps)
		c.Median = median(rps)
		c.P50Ms = median(pick(c.Rounds, func(r round) float64 { return r.P50Ms }))
		c.P99Ms = median(pick(c.Rounds, func(r round) float64 { return r.P99Ms }))
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
		rps := pick(c.Rounds, func(r round) float64 { return r.ReqPerSec })
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
		if t.FluentBytes == 0 {
			ns = append(ns, "hopscope: the Fluent sink received nothing")
		}
	}
	return ns
}

func kfmt(x float64) string {
	if x >= 1000 {
		return fmt.Sprintf("%.1fk", x/1000)
	}
	return fmt.Sprintf("%.0f", x)
}

func mib(kib int64) string {
	if kib == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f MiB", float64(kib)/1024)
}

func pct(x float64) string {
	if x == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f%%", x)
}

func ratio(x float64) string {
	if x == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f×", x)
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

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "contender\treq/s by round\tbest\tmedian\tp50\tp99\terrors\tproxy CPU\tload CPU\tother\tRSS\tpeak RSS\t")
	for _, c := range rep.Contenders {
		var rr []string
		var pc, lc, oc []float64
		for _, r := range c.Rounds {
			rr = append(rr, kfmt(r.ReqPerSec))
			pc = append(pc, r.ProxyCPUPct)
			lc = append(lc, r.LoadCPUPct)
			oc = append(oc, r.OtherPct)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.2fms\t%.2fms\t%d\t%s\t%s\t%.0f%%\t%s\t%s\t\n", c.Name, strings.Join(rr, " "),
			kfmt(c.Best), kfmt(c.Median), c.P50Ms, c.P99Ms, c.Errors, pct(median(pc)), pct(median(lc)), slices.Max(oc), mib(c.RSSKiB), mib(c.PeakKiB))
	}
	tw.Flush()

	if slices.ContainsFunc(rep.Contenders, func(c *contender) bool { return c.VsNginx != nil }) {
		fmt.Fprintln(w, "\nrelative to nginx as reverse proxy (median req/s: higher is better; latency and RSS: lower is better)")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "contender\treq/s\tp50\tp99\tRSS\t")
		for _, c := range rep.Contenders {
			if r := c.VsNginx; r != nil {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", c.Name, ratio(r.ReqPerSec), ratio(r.P50), ratio(r.P99), ratio(r.RSS))
			}
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
	if len(rep.Notes) > 0 {
		fmt.Fprintln(w, "\nnotes:")
		for _, n := range rep.Notes {
			fmt.Fprintf(w, "  - %s\n", n)
		}
	}
}
