package main

import (
	"fmt"
	"io"
	"os/exec"

	"github.com/hopscope/hopscope/bench/internal/harness"
)

// phase is one phase of a run, with the generator's counters around it.
type phase struct {
	Name   string      `json:"name"`
	From   float64     `json:"from_seconds"`
	To     float64     `json:"to_seconds"`
	Before outcomeSnap `json:"before"`
	After  outcomeSnap `json:"after"`
}

// loadRow sums up a phase.
type loadRow struct {
	Phase string `json:"phase"`
	// Offered requests per second (sent or skipped), taken spans per
	// second (answered 200), refused and failed requests per second,
	// requests skipped because every in-flight slot was taken.
	OfferedRPS  float64 `json:"offered_requests_per_second"`
	SpansPerSec float64 `json:"spans_accepted_per_second"`
	RefusedRPS  float64 `json:"refused_requests_per_second"`
	Failed      int64   `json:"failed"`
	Skipped     int64   `json:"skipped"`
	// PeakRSSKiB and LastRSSKiB: the highest and the last sample of the
	// phase; PeakHeap the highest heap reading (-1: none).
	PeakRSSKiB  int64   `json:"peak_rss_kib"`
	PeakAnonKiB int64   `json:"peak_rss_anon_kib"`
	LastRSSKiB  int64   `json:"last_rss_kib"`
	PeakHeap    float64 `json:"peak_heap_bytes"`
}

// summarize fills the per-phase rows and the recovery time: from the end
// of the overload to the first sample where the collector no longer
// refused (-1: never).
func summarize(r *result) {
	r.Recovered = -1
	var overEnd float64
	for _, p := range r.Phases {
		d := p.To - p.From
		row := loadRow{Phase: p.Name, PeakHeap: -1,
			OfferedRPS:  float64(p.After.Sent-p.Before.Sent+p.After.Skipped-p.Before.Skipped) / d,
			SpansPerSec: float64(p.After.SpansOK-p.Before.SpansOK) / d,
			RefusedRPS:  float64(p.After.Refused-p.Before.Refused) / d,
			Failed:      p.After.Failed - p.Before.Failed, Skipped: p.After.Skipped - p.Before.Skipped}
		for _, s := range r.Samples {
			if s.Phase != p.Name {
				continue
			}
			row.PeakRSSKiB = max(row.PeakRSSKiB, s.RSSKiB)
			row.PeakAnonKiB = max(row.PeakAnonKiB, s.AnonKiB)
			row.LastRSSKiB = s.RSSKiB
			row.PeakHeap = max(row.PeakHeap, s.HeapBytes)
		}
		r.Loads = append(r.Loads, row)
		if p.Name == "overload" {
			overEnd = p.To
		}
	}
	if overEnd == 0 {
		return
	}
	for _, s := range r.Samples {
		if s.At >= overEnd && s.Refusing == 0 {
			r.Recovered = s.At - overEnd
			return
		}
	}
}

func printReport(w io.Writer, rep *report, o options) {
	for _, r := range rep.Runs {
		fmt.Fprintf(w, "\n== %s: hopscope collector %v", r.Name, r.Args[1:])
		if len(r.Env) > 0 {
			fmt.Fprintf(w, " %v", r.Env)
		}
		fmt.Fprintf(w, "\nrequests of %d spans (%s); capacity (calibration, %d requests under way): %s spans/s; offered %s spans/s normal, %s spans/s overload (%.0f×)\n",
			rep.Config["spans_per_request"], harness.FmtMiB(int64(rep.Config["request_bytes"].(int)/1024)), o.calibrateWorkers,
			harness.FmtK(r.Capacity), harness.FmtK(r.NormalRate), harness.FmtK(r.OverloadRate), o.factor)
		tw := harness.NewTable(w)
		fmt.Fprintln(tw, "t (s)\tphase\tRSS MiB\tanon MiB\theap MiB\trefusing\tspans/s taken\trefused req/s\tskipped req/s\t")
		var prev sample
		for i, s := range r.Samples {
			dt := s.At - prev.At
			if i == 0 {
				dt = s.At
			}
			fmt.Fprintf(tw, "%.1f\t%s\t%.1f\t%.1f\t%s\t%s\t%s\t%.0f\t%.0f\t\n", s.At, s.Phase, float64(s.RSSKiB)/1024, float64(s.AnonKiB)/1024,
				fmtMetric(s.HeapBytes, 1<<20, "%.1f"), fmtMetric(s.Refusing, 1, "%.0f"),
				harness.FmtK(float64(s.Load.SpansOK-prev.Load.SpansOK)/dt),
				float64(s.Load.Refused-prev.Load.Refused)/dt, float64(s.Load.Skipped-prev.Load.Skipped)/dt)
			prev = s
		}
		tw.Flush()
		fmt.Fprintln(w)
		tw = harness.NewTable(w)
		fmt.Fprintln(tw, "phase\toffered req/s\tspans/s taken\trefused req/s\tfailed\tskipped\tpeak RSS\tpeak anon\tlast RSS\tpeak heap\t")
		for _, l := range r.Loads {
			fmt.Fprintf(tw, "%s\t%.0f\t%s\t%.0f\t%d\t%d\t%s\t%s\t%s\t%s\t\n", l.Phase, l.OfferedRPS, harness.FmtK(l.SpansPerSec), l.RefusedRPS,
				l.Failed, l.Skipped, harness.FmtMiB(l.PeakRSSKiB), harness.FmtMiB(l.PeakAnonKiB), harness.FmtMiB(l.LastRSSKiB), fmtMetric(l.PeakHeap, 1<<20, "%.1f MiB"))
		}
		tw.Flush()
		fmt.Fprintf(w, "peak RSS %s", harness.FmtMiB(r.PeakRSSKiB))
		fmt.Fprintf(w, ", peak anon %s", harness.FmtMiB(maxAnon(r)))
		if r.Name == "limited" {
			limit := o.limitMiB
			if limit == 0 {
				limit = o.goMemLimitMiB * 80 / 100
			}
			fmt.Fprintf(w, " (limit %d MiB", limit)
		} else {
			fmt.Fprint(w, " (no limit")
		}
		if o.goMemLimitMiB > 0 {
			fmt.Fprintf(w, ", GOMEMLIMIT %d MiB", o.goMemLimitMiB)
		}
		fmt.Fprint(w, ")")
		if r.Name == "limited" && r.Recovered >= 0 {
			fmt.Fprintf(w, "; accepting again %.1fs after the overload ended", r.Recovered)
		}
		fmt.Fprintln(w)
		if r.Killed != "" {
			fmt.Fprintf(w, "collector: %s\n", r.Killed)
		}
	}
}

func maxAnon(r *result) int64 {
	var m int64
	for _, s := range r.Samples {
		m = max(m, s.AnonKiB)
	}
	return m
}

// lookPath finds a required tool on PATH.
func lookPath(name, howTo string) (string, error) {
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%s not found on PATH: %s", name, howTo)
	}
	return p, nil
}
