package dashboards

import (
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"

	"github.com/hopscope/hopscope/internal/contract"
)

// The collector's own series. They carry no service label: the collector
// dashboard filters on the scrape's job and pod instead.
const (
	receivedTotal     = contract.MetricCollectorReceived
	rejectedTotal     = contract.MetricCollectorRejected
	tracesActive      = contract.MetricTracesActive
	evictedTotal      = contract.MetricEvicted
	lateRecordsTotal  = contract.MetricLateRecords
	exportedSpans     = contract.MetricExportedSpans
	exportErrorsTotal = contract.MetricExportErrors
	residentMemory    = "process_resident_memory_bytes"
	processCPU        = "process_cpu_seconds_total"
	heapInuse         = "go_memstats_heap_inuse_bytes"
	goroutines        = "go_goroutines"
)

// collectorScope selects the chosen collectors.
var collectorScope = []string{mCluster, mNamespace, mJob, mPod}

// onlyCollectors keeps, of the Go and process series that every Go
// program exposes, those of the collectors: the scrape targets that also
// expose hopscope_collector_traces_active. The job and pod matchers alone
// would let "All" take in every program of the namespace.
var onlyCollectors = " and on (job, instance) " + sel(tracesActive, collectorScope...)

func collectorDashboard(Options) *dashboard.DashboardBuilder {
	d := newDashboard("hopscope-collector", "hopscope / Collector",
		"The hopscope collector itself: what it receives and rejects, the traces it holds while joining them, what it exports, and its memory and CPU.").
		Variables(variables(
			[]variable{prometheusVar()},
			[]variable{
				labelVar("cluster", "Cluster", tracesActive, nil, "cluster"),
				labelVar("namespace", "Namespace", tracesActive, []string{mCluster}, "namespace"),
				labelVar("job", "Job", tracesActive, []string{mCluster, mNamespace}, "job"),
				labelVar("pod", "Pod", tracesActive, []string{mCluster, mNamespace, mJob}, "pod"),
			},
		))

	d.WithRow(row("Ingest"))
	d.WithPanel(stacked(panel{
		title:   "Records received/s by source",
		desc:    "Records the collector accepted per second, by source: otlp, forward (Fluent), alb, ingress, haproxy, rum (hopscope_collector_received_total).",
		unit:    unitCps,
		w:       8,
		queries: qs(query(sumRate(by(contract.LabelSource), sel(receivedTotal, collectorScope...), overTime), "{{source}}")),
	}))
	d.WithPanel(graph(panel{
		title:   "Rejected/s by source and reason",
		desc:    "Inputs the collector refused per second, by source and reason (hopscope_collector_rejected_total).",
		unit:    unitCps,
		w:       8,
		queries: qs(query(sumRate(by("source", "reason"), sel(rejectedTotal, collectorScope...), overTime), "{{source}} {{reason}}")),
	}))
	d.WithPanel(podRate("Late records/s",
		"Records per second that changed a breakdown after it had been emitted, e.g. ALB logs arriving minutes later (hopscope_collector_late_records_total).",
		lateRecordsTotal).Span(8))

	d.WithRow(row("Traces in memory"))
	d.WithPanel(graph(panel{
		title:   "Traces held",
		desc:    "Traces each collector holds in memory while it waits for their records (hopscope_collector_traces_active).",
		unit:    unitShort,
		queries: qs(query(sumBy(by("pod"), sel(tracesActive, collectorScope...)), "{{pod}}")),
	}))
	d.WithPanel(podRate("Traces evicted/s",
		"Traces dropped per second before their window ended because --max-traces was reached (hopscope_collector_evicted_total): their breakdowns are incomplete.",
		evictedTotal))

	d.WithRow(row("Export"))
	d.WithPanel(podRate("Exported spans/s",
		"Spans exported to the OTLP backend per second, synthesized ones included (hopscope_collector_exported_spans_total).",
		exportedSpans))
	d.WithPanel(podRate("Export errors/s",
		"Failed exports to the OTLP backend per second (hopscope_collector_export_errors_total).",
		exportErrorsTotal))

	d.WithRow(row("Process"))
	d.WithPanel(processGauge("Resident memory", "Resident memory of each collector process (process_resident_memory_bytes).", unitBytes, residentMemory))
	d.WithPanel(processGauge("Go heap in use", "Bytes in in-use heap spans of each collector (go_memstats_heap_inuse_bytes): mostly the traces held.", unitBytes, heapInuse))
	d.WithPanel(graph(panel{
		title:   "CPU (cores)",
		desc:    "CPU each collector process uses, in cores (rate of process_cpu_seconds_total).",
		unit:    unitShort,
		w:       6,
		queries: qs(query(sumBy(by("pod"), rate(sel(processCPU, collectorScope...), overTime)+onlyCollectors), "{{pod}}")),
	}))
	d.WithPanel(processGauge("Goroutines", "Goroutines of each collector (go_goroutines).", unitShort, goroutines))
	return d
}

// podRate graphs a collector counter's rate per pod.
func podRate(title, desc, counter string) *timeseries.PanelBuilder {
	return graph(panel{
		title:   title,
		desc:    desc,
		unit:    unitCps,
		queries: qs(query(sumRate(by("pod"), sel(counter, collectorScope...), overTime), "{{pod}}")),
	})
}

// processGauge graphs a Go or process gauge of the collectors, per pod.
func processGauge(title, desc, unit, gauge string) anyPanel {
	return graph(panel{
		title:   title,
		desc:    desc,
		unit:    unit,
		w:       6,
		queries: qs(query(sumBy(by("pod"), sel(gauge, collectorScope...)+onlyCollectors), "{{pod}}")),
	})
}
