package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"

	"github.com/hopscope/hopscope/bench/internal/harness"
)

// summaryRow aggregates one contender over one protocol's rounds.
type summaryRow struct {
	Contender      string  `json:"contender"`
	Protocol       string  `json:"protocol"`
	Rounds         int     `json:"rounds"`
	Accepted       float64 `json:"median_spans_accepted"`
	SpansPerCPUSec float64 `json:"median_spans_per_cpu_second"`
	MinPerCPUSec   float64 `json:"min_spans_per_cpu_second"`
	MaxPerCPUSec   float64 `json:"max_spans_per_cpu_second"`
	CPUSeconds     float64 `json:"median_receiver_cpu_seconds"`
	RSSAfterKiB    float64 `json:"median_rss_after_kib"`
	RSSPerSpan     float64 `json:"median_rss_growth_bytes_per_span"`
	// AllocBytesPerSpan and AllocsPerSpan: medians, -1 when not exposed.
	AllocBytesPerSpan float64 `json:"median_alloc_bytes_per_span"`
	AllocsPerSpan     float64 `json:"median_allocs_per_span"`
	TracesActive      float64 `json:"median_traces_active,omitempty"` // hopscope
}

// ratioRow is hopscope over Jaeger for one protocol.
type ratioRow struct {
	Protocol         string  `json:"protocol"`
	SpansPerCPUSec   float64 `json:"spans_per_cpu_second"` // hopscope / jaeger: above 1 is cheaper per span
	RSSPerSpan       float64 `json:"rss_growth_per_span,omitempty"`
	HopscopePerCPU   float64 `json:"hopscope_spans_per_cpu_second"`
	JaegerPerCPU     float64 `json:"jaeger_spans_per_cpu_second"`
	HopscopeRSSBytes float64 `json:"hopscope_rss_bytes_per_span"`
	JaegerRSSBytes   float64 `json:"jaeger_rss_bytes_per_span"`
	// Heap bytes allocated per span, -1 when not exposed.
	HopscopeAllocBytes float64 `json:"hopscope_alloc_bytes_per_span"`
	JaegerAllocBytes   float64 `json:"jaeger_alloc_bytes_per_span"`
}

// Issue 14's targets for hopscope over Jaeger on the mapped load.
const (
	targetSpansPerCPUSec = 2.0 // at least
	targetRSSPerSpan     = 0.5 // at most
)

func runsOf(rep *report, contender, protocol string) []*measurement {
	var out []*measurement
	for _, m := range rep.Runs {
		if m.Contender == contender && m.Protocol == protocol {
			out = append(out, m)
		}
	}
	return out
}

// summarize fills the medians per contender and protocol and the ratios.
func summarize(rep *report, o options) {
	rep.Summary, rep.Ratios = nil, nil
	for _, proto := range o.protocols {
		rows := map[string]*summaryRow{}
		for _, c := range o.only {
			ms := runsOf(rep, c, proto)
			if len(ms) == 0 {
				continue
			}
			per := harness.Pick(ms, func(m *measurement) float64 { return m.SpansPerCPUSec })
			row := &summaryRow{Contender: c, Protocol: proto, Rounds: len(ms),
				Accepted:       harness.Median(harness.Pick(ms, func(m *measurement) float64 { return float64(m.Accepted) })),
				SpansPerCPUSec: harness.Median(per), MinPerCPUSec: slices.Min(per), MaxPerCPUSec: slices.Max(per),
				CPUSeconds:        harness.Median(harness.Pick(ms, func(m *measurement) float64 { return m.CPUSeconds })),
				RSSAfterKiB:       harness.Median(harness.Pick(ms, func(m *measurement) float64 { return float64(m.RSSAfterKiB) })),
				RSSPerSpan:        harness.Median(harness.Pick(ms, func(m *measurement) float64 { return m.RSSPerSpan })),
				AllocBytesPerSpan: harness.Median(harness.Pick(ms, func(m *measurement) float64 { return m.AllocBytesPerSpan })),
				AllocsPerSpan:     harness.Median(harness.Pick(ms, func(m *measurement) float64 { return m.AllocsPerSpan })),
			}
			if c == "hopscope" {
				row.TracesActive = harness.Median(harness.Pick(ms, func(m *measurement) float64 { return m.After.TracesActive }))
			}
			rows[c] = row
			rep.Summary = append(rep.Summary, row)
		}
		h, j := rows["hopscope"], rows["jaeger"]
		if h == nil || j == nil || j.SpansPerCPUSec == 0 {
			continue
		}
		r := &ratioRow{Protocol: proto, SpansPerCPUSec: h.SpansPerCPUSec / j.SpansPerCPUSec,
			HopscopePerCPU: h.SpansPerCPUSec, JaegerPerCPU: j.SpansPerCPUSec,
			HopscopeRSSBytes: h.RSSPerSpan, JaegerRSSBytes: j.RSSPerSpan,
			HopscopeAllocBytes: h.AllocBytesPerSpan, JaegerAllocBytes: j.AllocBytesPerSpan}
		if j.RSSPerSpan > 0 {
			r.RSSPerSpan = h.RSSPerSpan / j.RSSPerSpan
		}
		rep.Ratios = append(rep.Ratios, r)
	}
}

// notes are the warnings a reader needs before trusting the table.
func notes(rep *report, o options) []string {
	var ns []string
	add := func(format string, a ...any) { ns = append(ns, fmt.Sprintf(format, a...)) }
	short := false
	var lowCPU []float64
	for _, m := range rep.Runs {
		id := fmt.Sprintf("%s %s round %d", m.Contender, m.Protocol, m.Round)
		if m.ExpectedSpans > 0 {
			if d := float64(m.Accepted-m.ExpectedSpans) / float64(m.ExpectedSpans); math.Abs(d) > 0.01 {
				add("%s: %d spans accepted, expected %d (%d traces × %d): %+.1f%%", id, m.Accepted, m.ExpectedSpans, m.Load.Traces, 1+o.childSpans, 100*d)
				short = short || d < 0
			}
		}
		if m.Load.Workers != o.workers {
			add("%s: %d of %d telemetrygen workers reported their trace count — expected spans are undercounted", id, m.Load.Workers, o.workers)
		}
		if m.Load.Errors > 0 {
			add("%s: telemetrygen logged %d error/warning line(s) (export failures?) — see its log with --keep", id, m.Load.Errors)
		}
		if r := m.After.Refused - m.Before.Refused; r > 0 {
			what := "spans refused"
			if m.Contender == "hopscope" {
				what = "rejections (requests or spans with bad ids)"
			}
			add("%s: %.0f %s", id, r, what)
		}
		if m.Contender == "jaeger" {
			switch stored := m.After.Stored - m.Before.Stored; {
			case m.After.Stored < 0:
				add("%s: Jaeger exposes no otelcol_exporter_sent_spans: spans stored unknown", id)
			case int64(stored) != m.Accepted:
				add("%s: Jaeger accepted %d spans but its storage exporter wrote %.0f (failed %.0f)", id, m.Accepted, stored, m.After.ExportFailed-m.Before.ExportFailed)
			}
			if m.Load.Traces > int64(o.jaegerMaxTraces) {
				add("%s: %d traces sent, more than Jaeger's max_traces %d: it evicted traces, so its RSS per span is understated — raise --jaeger-max-traces", id, m.Load.Traces, o.jaegerMaxTraces)
			}
		}
		if m.Contender == "gateway" {
			if routed := m.After.Stored - m.Before.Stored; int64(routed) != m.Accepted {
				add("%s: the gateway accepted %d spans but routed %.0f (failed %.0f)", id, m.Accepted, routed, m.After.ExportFailed-m.Before.ExportFailed)
			}
		}
		if m.Contender == "hopscope" && m.Load.Traces > 1_000_000 {
			add("%s: %d traces sent, more than hopscope's --max-traces 1000000: it evicted traces", id, m.Load.Traces)
		}
		if m.OtherPct >= 10 {
			add("%s: other work used %.0f%% of a benchmark CPU during the load (load average %s) — this run is disturbed", id, m.OtherPct, m.LoadAvg)
		}
		if m.ReceiverCPUPct < 80 {
			lowCPU = append(lowCPU, m.ReceiverCPUPct)
		}
		if !m.StoppedClean {
			add("%s: the receiver did not exit cleanly on SIGTERM within 20 s", id)
		}
	}
	if short {
		add("fewer spans accepted than generated: telemetrygen's batch span processor drops spans when its queue (65536) is full, silently, and it sends one batch at a time — a receiver that takes longer per batch loses more. Spans per CPU-second divides only accepted spans, so it stays comparable, but the contenders did not get the same number of spans; a lower --rate (e.g. 300: 77k spans/s offered) gives both the same load without loss")
	}
	if o.profileDir != "" {
		add("hopscope ran as the profiled build (%s) with a CPU and an allocation profile taken over each run's counted window: its figures include the profiler's sampling (a few %%); quote figures from a run without --profile", profiledPkg)
	}
	if len(lowCPU) > 0 {
		add("%d run(s) kept the receiver's core busy only %.0f–%.0f%% during the load: telemetrygen waits for each batch's answer before sending the next, so generator and receiver take turns; per-request costs weigh more than at saturation, for both contenders",
			len(lowCPU), slices.Min(lowCPU), slices.Max(lowCPU))
	}
	for _, s := range rep.Summary {
		if s.Rounds > 1 && s.MaxPerCPUSec > 0 && (s.MaxPerCPUSec-s.MinPerCPUSec)/s.MaxPerCPUSec > 0.10 {
			add("%s %s: spans per CPU-second differ by %.0f%% across rounds — the machine was noisy; rerun with more --rounds",
				s.Contender, s.Protocol, 100*(s.MaxPerCPUSec-s.MinPerCPUSec)/s.MaxPerCPUSec)
		}
	}
	return ns
}

// workDone says what each receiver does with a span, so the ratio is read
// for what it is.
func workDone(rep *report, o options) []string {
	var out []string
	if slices.Contains(o.only, "hopscope") {
		s := "hopscope: decodes each request, maps every span to a correlate record where one applies (a sidecar's server span, a client span to a database, HTTP or RPC backend) and files it in its bounded store (--max-traces 1000000, --window 10m) — the work it exists for; it also groups the spans by trace and tracks each trace for its export delay (5 s) to observe its hops in hopscope_hop_duration_seconds; with export off, as here, it holds neither the spans nor their ids."
		var active []float64
		for _, m := range rep.Runs {
			if m.Contender == "hopscope" {
				active = append(active, m.After.TracesActive)
			}
		}
		switch {
		case len(active) == 0:
		case slices.Max(active) == 0 && !o.mappedSpans:
			s += " In this run its store held 0 traces: telemetrygen's spans (a client root with only network.peer.address and service.peer.name, server children without hopscope.component) map to no record, so hopscope decoded, grouped and tracked them but filed nothing. The default load (without --plain) adds two attributes that make every span a record."
		default:
			s += fmt.Sprintf(" In this run its store held %s traces after the load (hopscope_collector_traces_active, median).", harness.FmtK(harness.Median(active)))
		}
		out = append(out, s)
	}
	if slices.Contains(o.only, "jaeger") {
		out = append(out, fmt.Sprintf("jaeger: decodes each request into pdata and writes every span, grouped by trace, into its memory store (max_traces %d); no batch processor and no exporter queue, so the receiver's goroutine does the storing.", o.jaegerMaxTraces))
	}
	return out
}

func printReport(w io.Writer, rep *report, o options) {
	load := "plain load (--plain): hopscope maps no span"
	if o.mappedSpans {
		load = `mapped load: --otlp-attributes hopscope.component="sidecar" --telemetry-attributes db.system="postgresql", every span filed by hopscope`
	}
	fmt.Fprintf(w, "\nOTEL_BSP_MAX_QUEUE_SIZE=65536 telemetrygen traces --workers %d --rate %d --batch-size %d --child-spans %d --duration %s\n%s\n",
		o.workers, o.rate, o.batchSize, o.childSpans, o.duration, load)
	fmt.Fprintf(w, "%d round(s), interleaved, a fresh receiver per run; receiver on CPU %d (GOMAXPROCS=1), telemetrygen on CPU %d; CPU counted until %s after the load\n",
		o.rounds, o.receiverCPU, o.loadCPU, o.settle)
	fmt.Fprintf(w, "%s, %s CPUs, kernel %s; load average %s at the start, %s at the end\n",
		rep.Host["cpu"], rep.Host["cpus"], rep.Host["kernel"], rep.LoadAvgStart, rep.LoadAvgEnd)
	var vs []string
	for _, k := range []string{"hopscope", "jaeger", "telemetrygen", "go"} {
		if v, ok := rep.Versions[k]; ok {
			vs = append(vs, k+": "+v)
		}
	}
	fmt.Fprintf(w, "%s\n\n", strings.Join(vs, "; "))

	tw := harness.NewTable(w)
	fmt.Fprintln(tw, "contender\tproto\tround\ttraces sent\tspans accepted\texpected\tspans/s\trecv CPU-s\tspans/CPU-s\trecv CPU\tload CPU\tother\tRSS before\tRSS after\tpeak RSS\tRSS B/span\talloc B/span\tallocs/span\t")
	for _, m := range rep.Runs {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%s\t%.2f\t%s\t%.0f%%\t%.0f%%\t%.0f%%\t%s\t%s\t%s\t%.0f\t%s\t%s\t\n",
			m.Contender, m.Protocol, m.Round, m.Load.Traces, m.Accepted, m.ExpectedSpans, harness.FmtK(m.SpansPerSec),
			m.CPUSeconds, harness.FmtK(m.SpansPerCPUSec), m.ReceiverCPUPct, m.LoadCPUPct, m.OtherPct,
			harness.FmtMiB(m.RSSBeforeKiB), harness.FmtMiB(m.RSSAfterKiB), harness.FmtMiB(m.PeakRSSKiB), m.RSSPerSpan,
			fmtKnown(m.AllocBytesPerSpan, 0), fmtKnown(m.AllocsPerSpan, 1))
	}
	tw.Flush()

	if len(rep.Ratios) > 0 {
		fmt.Fprintln(w, "\nhopscope / jaeger (medians over rounds; spans per CPU-second: above 1× hopscope is cheaper per span; RSS per span: below 1× it holds less)")
		if o.mappedSpans {
			fmt.Fprintf(w, "issue 14's target on this load: spans/CPU-s ratio ≥ %.0f×, RSS B/span ratio ≤ %.1f×, on both protocols\n", targetSpansPerCPUSec, targetRSSPerSpan)
		}
		tw = harness.NewTable(w)
		fmt.Fprintln(tw, "proto\thopscope spans/CPU-s\tjaeger spans/CPU-s\tratio\thopscope RSS B/span\tjaeger RSS B/span\tratio\thopscope alloc B/span\tjaeger alloc B/span\t")
		for _, r := range rep.Ratios {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.0f\t%.0f\t%s\t%s\t%s\t\n", r.Protocol, harness.FmtK(r.HopscopePerCPU), harness.FmtK(r.JaegerPerCPU),
				harness.FmtRatio(r.SpansPerCPUSec), r.HopscopeRSSBytes, r.JaegerRSSBytes, harness.FmtRatio(r.RSSPerSpan),
				fmtKnown(r.HopscopeAllocBytes, 0), fmtKnown(r.JaegerAllocBytes, 0))
		}
		tw.Flush()
	}

	printStages(w, rep, o)

	if m := rep.Micro; m != nil {
		fmt.Fprintf(w, "\ncorrelate benchmarks (%s):\n", m.Command)
		for _, b := range m.Lines {
			fmt.Fprintf(w, "  %-18s %10.0f ns/op %9.0f B/op %6.0f allocs/op", b.Name, b.Metrics["ns/op"], b.Metrics["B/op"], b.Metrics["allocs/op"])
			switch b.Name {
			case "BenchmarkCompute":
				fmt.Fprintf(w, "  → %s breakdowns/s per core", harness.FmtK(m.BreakdownsPerSec))
			case "BenchmarkStoreAdd":
				fmt.Fprintf(w, "  → %s traces (6 records each)/s per core, %.0f heap bytes per trace held", harness.FmtK(m.StoreTracesPerSec), m.HeapBytesPerTrace)
			}
			fmt.Fprintln(w)
		}
	}

	fmt.Fprintln(w, "\nwhat each receiver does with a span:")
	for _, s := range workDone(rep, o) {
		fmt.Fprintf(w, "  - %s\n", s)
	}
	harness.PrintNotes(w, rep.Notes)
}

// printStages prints, per protocol, where hopscope's CPU and allocations
// went over the profiled runs (--profile), merged over rounds.
func printStages(w io.Writer, rep *report, o options) {
	for _, proto := range o.protocols {
		var runs []*profileStages
		var spans int64
		mallocs, allocBytes := 0.0, 0.0 // measured: go_memstats over the same windows
		for _, m := range runsOf(rep, "hopscope", proto) {
			if m.Stages != nil {
				runs = append(runs, m.Stages)
				spans += m.Accepted
				mallocs += m.End.Mallocs - m.Before.Mallocs
				allocBytes += m.End.AllocBytes - m.Before.AllocBytes
			}
		}
		if len(runs) == 0 || spans == 0 {
			continue
		}
		rows, cpu, objs, bytes := mergeStages(runs)
		if cpu == 0 || objs == 0 || bytes == 0 {
			continue
		}
		// The allocation profile is sampled and published at each GC's
		// end, so it misses what the last cycle allocated: its shares are
		// spread over the allocations go_memstats counted.
		perSpanObjs, perSpanBytes := mallocs/float64(spans), allocBytes/float64(spans)
		fmt.Fprintf(w, "\nwhere hopscope's CPU goes over %s (%d profiled run(s), %.1f CPU-s sampled, %s spans; %.1f allocations and %.0f B allocated per span, go_memstats, shared out as the allocation profile shares them)\n",
			proto, len(runs), cpu, harness.FmtK(float64(spans)), perSpanObjs, perSpanBytes)
		tw := harness.NewTable(w)
		fmt.Fprintln(tw, "stage\tCPU\tallocs/span\talloc B/span\t")
		for _, r := range rows {
			fmt.Fprintf(tw, "%s\t%.1f%%\t%.2f\t%.0f\t\n", r.Stage, 100*r.CPU/cpu, perSpanObjs*r.AllocObjs/objs, perSpanBytes*r.AllocBytes/bytes)
		}
		tw.Flush()
	}
}
