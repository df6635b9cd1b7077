package sidecar

import (
	"slices"
	"sort"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hopscope/hopscope/internal/contract"
)

// Metric names are part of hopscope's contract (internal/contract,
// docs/design.md); dashboards, alerts and prometheus-adapter rules depend
// on them.
const (
	metricRequests     = contract.MetricRequests
	metricDuration     = contract.MetricRequestDuration
	metricInflight     = contract.MetricInflight
	metricOverhead     = contract.MetricOverhead
	metricQueueTime    = contract.MetricQueueTime
	metricDropped      = contract.MetricTelemetryDropped
	metricSent         = contract.MetricTelemetrySent
	metricQueued       = contract.MetricTelemetryQueued
	metricTruncated    = contract.MetricAttributeTruncated
	metricHealthchecks = contract.MetricHealthchecks
	// metricRouteOverflow counts requests past --max-routes (sidecar.go).
	metricRouteOverflow = contract.MetricRouteOverflow
	// metricRejected counts inbound requests cut or refused for the
	// client's fault, by reason (a fixed word, as the collector's
	// hopscope_collector_rejected_total).
	metricRejected = contract.MetricRequestsRejected
)

// Reasons of hopscope_requests_rejected_total{reason}.
const (
	// ReasonRequestBodyTimeout: no byte of the request body arrived for
	// --request-body-timeout.
	ReasonRequestBodyTimeout = ErrorRequestBodyTimeout
)

// Telemetry sinks named in hopscope_telemetry_dropped_total{sink}.
const (
	SinkOTLP   = "otlp"
	SinkFluent = "fluent"
	SinkStdout = "stdout"
)

const directionInbound = contract.DirectionInbound

// latencyBuckets spans 0.5 ms to 30 s: sidecar overhead lives in the first
// buckets, slow app requests in the last.
var latencyBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// overheadBuckets resolve the sidecar's own cost, 10 µs to 50 ms.
var overheadBuckets = []float64{0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05}

type metrics struct {
	requests     *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	inflight     prometheus.Gauge
	overhead     prometheus.Histogram
	queueTime    prometheus.Histogram
	dropped      *prometheus.CounterVec
	truncated    prometheus.Counter
	healthchecks *prometheus.CounterVec
	rejected     *prometheus.CounterVec
	// bodyTimeouts is rejected{reason="request_body_timeout"}.
	bodyTimeouts prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metricRequests,
			Help: "Requests proxied by the sidecar, health checks excluded; grpc_code is a gRPC call's status (its HTTP code is 200 even when it failed).",
		}, []string{contract.LabelDirection, contract.LabelMethod, contract.LabelRoute, contract.LabelCode, contract.LabelGRPCCode}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    metricDuration,
			Help:    "Time from the request's arrival at the sidecar to the end of its response.",
			Buckets: latencyBuckets,
		}, []string{contract.LabelDirection, contract.LabelMethod, contract.LabelRoute, contract.LabelCode}),
		overhead: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    metricOverhead,
			Help:    "Time spent in the sidecar itself: the request's duration minus the app's.",
			Buckets: overheadBuckets,
		}),
		queueTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    metricQueueTime,
			Help:    "Time from X-Request-Start (set by the ingress) to the request's arrival at the sidecar.",
			Buckets: latencyBuckets,
		}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metricDropped,
			Help: "Telemetry records (spans, log records) dropped because a sink was slow, full or down.",
		}, []string{contract.LabelSink}),
		truncated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: metricTruncated,
			Help: "Span attribute values cut to 4 KiB at export (a huge User-Agent or URL would make a batch exceed the collector's request limit).",
		}),
		healthchecks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metricHealthchecks,
			Help: "Health-check requests (kube-probe, ELB-HealthChecker) proxied but kept out of the other metrics, spans and logs.",
		}, []string{contract.LabelProbe, contract.LabelCode}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metricRejected,
			Help: "Inbound requests cut or refused for the client's fault, by reason: request_body_timeout (no request body byte for --request-body-timeout; the request is in hopscope_requests_total as 408 unless the app had answered in full).",
		}, []string{contract.LabelReason}),
	}
	m.bodyTimeouts = m.rejected.WithLabelValues(ReasonRequestBodyTimeout)
	inflight := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: metricInflight,
		Help: "Requests in flight through the sidecar.",
	}, []string{contract.LabelDirection})
	m.inflight = inflight.WithLabelValues(directionInbound)
	for _, c := range []prometheus.Collector{m.requests, m.duration, inflight, m.overhead, m.queueTime, m.dropped, m.truncated, m.healthchecks, m.rejected} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	for _, s := range []string{SinkOTLP, SinkFluent, SinkStdout} {
		m.dropped.WithLabelValues(s)
	}
	return m, nil
}

// statusCodes holds the code label of every status 0..999 so the hot path
// formats none.
var statusCodes = func() (t [1000]string) {
	for i := range t {
		t[i] = strconv.Itoa(i)
	}
	return t
}()

func codeLabel(status int) string {
	if status >= 0 && status < len(statusCodes) {
		return statusCodes[status]
	}
	return "other"
}

// methodLabel bounds the method label to the standard methods. It returns
// a constant, never m: a request's Method shares the memory of its whole
// request line, which a span or a label set would otherwise keep.
func methodLabel(m string) string {
	if i := slices.Index(standardMethods[:], m); i >= 0 {
		return standardMethods[i]
	}
	return "OTHER"
}

var standardMethods = [...]string{"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE"}

// exemplarLimiter lets through at most one exemplar per latency bucket per
// exemplarSpacing. A classic histogram keeps only the latest exemplar of
// each bucket and Prometheus scrapes every few seconds, so attaching one to
// every observation costs allocations that nobody sees; rare (slow) buckets
// still get theirs at once.
type exemplarLimiter struct {
	last [16]atomic.Int64 // unix nanos of the last exemplar, per bucket
}

const exemplarSpacing = 100 * time.Millisecond

func (l *exemplarLimiter) take(seconds float64, now time.Time) bool {
	i := sort.SearchFloat64s(latencyBuckets, seconds)
	if i >= len(l.last) {
		i = len(l.last) - 1
	}
	n := now.UnixNano()
	prev := l.last[i].Load()
	return n-prev >= int64(exemplarSpacing) && l.last[i].CompareAndSwap(prev, n)
}
