package collector

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hopscope/hopscope/correlate"
	"github.com/hopscope/hopscope/internal/contract"
)

// Sources named in hopscope_collector_received_total{source} and
// hopscope_collector_rejected_total{source,reason}: the receiver that took
// the input in, not what the input was (a forwarded ingress-nginx line
// counts under forward, a tailed one under ingress).
const (
	SrcOTLP    = "otlp"
	SrcForward = "forward"
	SrcALB     = "alb"
	SrcIngress = "ingress"
	SrcHAProxy = "haproxy"
	SrcRUM     = "rum"
	// SrcAPI counts only refusals: API calls without an accepted token.
	SrcAPI = "api"
)

// hopBuckets span 0.1 ms to 30 s: hops range from the sidecar's fraction
// of a millisecond to a slow database.
var hopBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

type metrics struct {
	hop          *prometheus.HistogramVec
	backend      *prometheus.HistogramVec
	received     *prometheus.CounterVec
	rejected     *prometheus.CounterVec
	albObjects   *prometheus.CounterVec
	tracesActive prometheus.GaugeFunc
	evicted      prometheus.CounterFunc
	late         prometheus.Counter
	exported     prometheus.Counter
	exportErrors prometheus.Counter
	// exportEvicted and exportEarly count what the exporter's bound of
	// --max-traces traces cost (the store's one bound, emitter.go).
	exportEvicted prometheus.Counter
	exportEarly   prometheus.Counter
	// exportDropped counts spans that were not exported, by reason.
	exportDropped *prometheus.CounterVec
	// thInvalid and weightCapped count what sampling weights could not
	// honour (sampling.go).
	thInvalid    prometheus.Counter
	weightCapped prometheus.Counter
	// limits caps the histograms' labels (labels.go).
	limits *labelLimits
}

// newMetrics registers the collector's metrics; stats reads the store's
// counters at each scrape.
func newMetrics(reg prometheus.Registerer, stats func() correlate.StoreStats) (*metrics, error) {
	m := &metrics{
		hop: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    contract.MetricHopDuration,
			Help:    "Exclusive time of each hop of a request, from the joined breakdown; exemplars carry trace_id. Labels past their limits are \"other\" (hopscope_collector_label_overflow_total).",
			Buckets: hopBuckets,
		}, []string{contract.LabelK8sNamespace, contract.LabelServiceName, contract.LabelRoute, contract.LabelHop}),
		backend: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    contract.MetricBackendCallDuration,
			Help:    "Duration of each backend call (PostgreSQL, Redis, HTTP APIs, ...) of the joined requests, by how it was attributed; exemplars carry trace_id.",
			Buckets: hopBuckets,
		}, []string{contract.LabelK8sNamespace, contract.LabelServiceName, contract.LabelBackend, contract.LabelTarget, contract.LabelOperation, contract.LabelAttribution, contract.LabelOutcome}),
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: contract.MetricCollectorReceived,
			Help: "Records accepted by the collector, each counted once under the receiver that took it in: otlp (spans), forward (every Fluent forward record, whatever it carries), ingress, haproxy, alb (tailed files by format, the ALB log directory), rum (beacons).",
		}, []string{contract.LabelSource}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: contract.MetricCollectorRejected,
			Help: "Inputs the collector refused, by source and reason.",
		}, []string{contract.LabelSource, contract.LabelReason}),
		albObjects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: contract.MetricCollectorALBObjects,
			Help: "ALB log objects of --alb-s3-url read to their end, by outcome: read, or failed (damaged, read up to the damage, not retried).",
		}, []string{contract.LabelOutcome}),
		tracesActive: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: contract.MetricTracesActive,
			Help: "Traces held in memory.",
		}, func() float64 { return float64(stats().Traces) }),
		evicted: prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: contract.MetricEvicted,
			Help: "Traces dropped before their window ended because --max-traces was reached.",
		}, func() float64 { return float64(stats().Evicted) }),
		limits: newLabelLimits(),
		late: prometheus.NewCounter(prometheus.CounterOpts{
			Name: contract.MetricLateRecords,
			Help: "Records that changed a breakdown after the exporter had emitted it (observed its hops, exported its spans), e.g. ALB logs; reading a breakdown in the API or UI does not count.",
		}),
		exported: prometheus.NewCounter(prometheus.CounterOpts{
			Name: contract.MetricExportedSpans,
			Help: "Spans exported to the OTLP backend, synthesized ones included.",
		}),
		exportErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: contract.MetricExportErrors,
			Help: "Failed export requests to the OTLP backend.",
		}),
		exportEvicted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: contract.MetricExportEvicted,
			Help: "Exported traces forgotten before --window ended because --max-traces was reached; a late record of one is exported as if the trace were new.",
		}),
		exportEarly: prometheus.NewCounter(prometheus.CounterOpts{
			Name: contract.MetricExportEarly,
			Help: "Traces exported before --export-delay to make room: a new trace came while all --max-traces traces held were waiting.",
		}),
		thInvalid: prometheus.NewCounter(prometheus.CounterOpts{
			Name: contract.MetricSamplingThresholdInvalid,
			Help: "Spans received whose tracestate had an ot entry with a th (sampling threshold) that could not be read; their trace's hops are weighted 1.",
		}),
		weightCapped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: contract.MetricSamplingWeightCapped,
			Help: "Breakdowns whose adjusted count (1/p of the sampler that kept the trace) was past 4096: observed 4096 times in the histograms.",
		}),
		exportDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: contract.MetricExportDroppedSpans,
			Help: "Spans received but not exported, by reason: trace_full (past the spans held per trace), buffer_full (past --max-export-buffer-mib of spans waiting), export_failed (in a request that failed, or not sent after one failed in the same flush or at shutdown).",
		}, []string{contract.LabelReason}),
	}
	// Records the store took in and then let go without a breakdown.
	dropped := func(reason string, n func(correlate.StoreStats) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        contract.MetricDroppedRecords,
			Help:        "Records accepted and later dropped by the store, by reason: pending_unclaimed (a record keyed only by X-Request-ID that no trace claimed within the window, or pushed out by newer ones), spans_over_limit (spans past the per-trace limit).",
			ConstLabels: prometheus.Labels{contract.LabelReason: reason},
		}, func() float64 { return float64(n(stats())) })
	}
	for _, r := range []string{"trace_full", "buffer_full", "export_failed"} {
		m.exportDropped.WithLabelValues(r)
	}
	cs := []prometheus.Collector{m.hop, m.backend, m.received, m.rejected, m.albObjects, m.tracesActive, m.evicted, m.late, m.exported, m.exportErrors, m.exportEvicted, m.exportEarly, m.exportDropped, m.thInvalid, m.weightCapped,
		dropped("pending_unclaimed", func(st correlate.StoreStats) uint64 { return st.PendingDropped }),
		dropped("spans_over_limit", func(st correlate.StoreStats) uint64 { return st.SpansDropped })}
	cs = append(cs, m.limits.collectors()...)
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	for _, s := range []string{SrcOTLP, SrcForward, SrcALB, SrcIngress, SrcHAProxy, SrcRUM} {
		m.received.WithLabelValues(s)
	}
	return m, nil
}
