package contract

// Metric names the sidecar exposes on its admin port's /metrics. Every
// series also carries the sidecar's service label (LabelService).
const (
	MetricRequests           = "hopscope_requests_total"
	MetricRequestDuration    = "hopscope_request_duration_seconds"
	MetricInflight           = "hopscope_inflight_requests"
	MetricOverhead           = "hopscope_proxy_overhead_seconds"
	MetricQueueTime          = "hopscope_queue_time_seconds"
	MetricTelemetryDropped   = "hopscope_telemetry_dropped_total"
	MetricTelemetrySent      = "hopscope_telemetry_sent_total"
	MetricTelemetryQueued    = "hopscope_telemetry_queued"
	MetricAttributeTruncated = "hopscope_span_attributes_truncated_total"
	MetricHealthchecks       = "hopscope_healthcheck_requests_total"
	MetricRouteOverflow      = "hopscope_route_overflow_total"
	MetricRequestsRejected   = "hopscope_requests_rejected_total"
)

// Metric names the sidecar's backend proxies (sidecar/backend) expose on
// the sidecar's /metrics.
const (
	MetricBackendDuration       = "hopscope_backend_duration_seconds"
	MetricBackendConnections    = "hopscope_backend_connections"
	MetricBackendDecodeErrors   = "hopscope_backend_decode_errors_total"
	MetricBackendRetries        = "hopscope_backend_retries_total"
	MetricBackendRateLimited    = "hopscope_backend_rate_limited_total"
	MetricBackendAmbiguousDrops = "hopscope_backend_ambiguous_spans_dropped_total"
	MetricBackendCircuitState   = "hopscope_backend_circuit_state"
	// MetricBackendClusterRewrites counts the Redis Cluster replies whose
	// node addresses a redis proxy replaced (label kind: slots, shards,
	// nodes, moved, ask, unmapped).
	MetricBackendClusterRewrites = "hopscope_backend_redis_cluster_rewrites_total"
)

// ExemplarTraceID is the exemplar label that carries the trace id on the
// collector's hop and backend call histograms: the name a Grafana
// Prometheus data source's exemplarTraceIdDestinations link to the trace
// store (dashboards/provisioning/datasources.yaml).
const ExemplarTraceID = "trace_id"

// Metric names the collector exposes on /metrics.
const (
	MetricHopDuration         = "hopscope_hop_duration_seconds"
	MetricBackendCallDuration = "hopscope_backend_call_duration_seconds"
	MetricCollectorReceived   = "hopscope_collector_received_total"
	MetricCollectorRejected   = "hopscope_collector_rejected_total"
	// MetricCollectorALBObjects counts the ALB log objects of
	// --alb-s3-url read to their end, by outcome: read, or failed (a
	// damaged object, read up to the damage and not retried).
	MetricCollectorALBObjects = "hopscope_collector_alb_objects_total"
	MetricTracesActive        = "hopscope_collector_traces_active"
	MetricEvicted             = "hopscope_collector_evicted_total"
	MetricLateRecords         = "hopscope_collector_late_records_total"
	MetricExportedSpans       = "hopscope_collector_exported_spans_total"
	MetricExportErrors        = "hopscope_collector_export_errors_total"
	MetricExportEvicted       = "hopscope_collector_export_evicted_total"
	MetricExportEarly         = "hopscope_collector_export_early_total"
	MetricExportDroppedSpans  = "hopscope_collector_export_dropped_spans_total"
	// MetricSamplingThresholdInvalid counts received spans whose
	// tracestate had an ot entry with a th that could not be read: their
	// trace's breakdown is weighted 1.
	MetricSamplingThresholdInvalid = "hopscope_collector_sampling_threshold_invalid_total"
	// MetricSamplingWeightCapped counts breakdowns whose adjusted count
	// (1/p) was past the collector's cap and observed the cap's number of
	// times.
	MetricSamplingWeightCapped = "hopscope_collector_sampling_weight_capped_total"
	MetricDroppedRecords       = "hopscope_collector_dropped_records_total"
	MetricLabelOverflow        = "hopscope_collector_label_overflow_total"
	// MetricCollectorRelayed counts the records a scaled-out replica sent
	// to their trace's owner through the gateway, or joined itself
	// (collector/relay).
	MetricCollectorRelayed = "hopscope_collector_relayed_total"
	// The memory limiter's (collector/memlimit), registered only when a
	// memory limit applies (--memory-limit-mib or GOMEMLIMIT).
	MetricMemoryLimit          = "hopscope_collector_memory_limit_bytes"
	MetricMemoryHeap           = "hopscope_collector_memory_heap_bytes"
	MetricMemoryRefusing       = "hopscope_collector_memory_refusing"
	MetricMemoryRefusalPeriods = "hopscope_collector_memory_refusal_periods_total"
	MetricMemoryForcedGC       = "hopscope_collector_memory_forced_gc_total"
)

// Label names of the metrics above.
const (
	LabelService = "service"
	// LabelServiceName and LabelK8sNamespace are the service (service.name)
	// and Kubernetes namespace (k8s.namespace.name) a collector series
	// describes, named as the OpenTelemetry span-metrics connector names
	// them. The collector describes other workloads: a series of its own
	// labelled service or namespace would clash with the target labels
	// every Kubernetes scrape adds (the Prometheus Operator renames the
	// clashing exposed one exported_service), so it uses names no scrape
	// sets. The recording rules map them to namespace and service.
	LabelServiceName  = "service_name"
	LabelK8sNamespace = "k8s_namespace_name"
	LabelDirection    = "direction"
	LabelMethod       = "method"
	LabelRoute        = "route"
	LabelCode         = "code"
	// LabelGRPCCode is the gRPC status of a gRPC request (GRPCCodes: at
	// most 17 values), empty (no label, to Prometheus) for other requests.
	LabelGRPCCode    = "grpc_code"
	LabelSink        = "sink"
	LabelProbe       = "probe"
	LabelReason      = "reason"
	LabelBackend     = "backend"
	LabelKind        = "kind"
	LabelOperation   = "operation"
	LabelOutcome     = "outcome"
	LabelState       = "state"
	LabelTarget      = "target"
	LabelAttribution = "attribution"
	LabelSource      = "source"
	LabelLimit       = "limit"
	LabelLabel       = "label"
	LabelHop         = "hop"
)

// GRPCCodes are the values of LabelGRPCCode, indexed by the gRPC status
// code (0..16), spelled as google.golang.org/grpc/codes names them (and
// as go-grpc-prometheus's grpc_code label has them). A grpc-status outside
// 0..16 or not a number counts as Unknown, as gRPC Java reads it.
var GRPCCodes = [...]string{
	"OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded",
	"NotFound", "AlreadyExists", "PermissionDenied", "ResourceExhausted",
	"FailedPrecondition", "Aborted", "OutOfRange", "Unimplemented",
	"Internal", "Unavailable", "DataLoss", "Unauthenticated",
}

// GRPCServerErrors are the gRPC codes that are the server's error, as the
// OpenTelemetry semantic conventions for gRPC server spans list them
// (UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE,
// DATA_LOSS): the span's status is Error, and the error ratio, its SLO
// alerts and the dashboards count them with the 5xx responses. The
// others (NotFound, InvalidArgument, ...) are the client's, as a 4xx.
var GRPCServerErrors = []string{"Unknown", "DeadlineExceeded", "Unimplemented", "Internal", "Unavailable", "DataLoss"}

// DirectionInbound is the direction label of requests into the app.
const DirectionInbound = "inbound"

// Type is a metric's Prometheus type.
type Type string

// Metric types.
const (
	Counter   Type = "counter"
	Gauge     Type = "gauge"
	Histogram Type = "histogram"
)

// Part is the component that registers a metric.
type Part string

// Parts.
const (
	// PartSidecar is the sidecar itself (package sidecar).
	PartSidecar Part = "sidecar"
	// PartBackend is the sidecar's backend proxies (sidecar/backend),
	// served on the sidecar's /metrics when a backend is configured.
	PartBackend Part = "backend"
	// PartCollector is the collector, its memory limiter included.
	PartCollector Part = "collector"
)

// Metric is one metric of the contract.
type Metric struct {
	Name string
	Type Type
	Part Part
	// Labels are the metric's own label names, in order: the variable
	// ones of a vector, then the constant ones. The sidecar adds
	// LabelService to every series it serves (its backends' included);
	// the scrape adds namespace, pod and the like.
	Labels []string
}

// Series returns the names of the series m is exposed as: a histogram's
// _bucket, _sum and _count, else its name.
func (m Metric) Series() []string {
	if m.Type == Histogram {
		return []string{m.Name + "_bucket", m.Name + "_sum", m.Name + "_count"}
	}
	return []string{m.Name}
}

// Metrics returns every metric of the contract (a new slice each call).
func Metrics() []Metric {
	l := func(names ...string) []string { return names }
	request := l(LabelDirection, LabelMethod, LabelRoute, LabelCode)
	return []Metric{
		// Only the counter carries grpc_code: the error ratio needs it, and
		// the histogram's 17 series per label set would multiply by it.
		{MetricRequests, Counter, PartSidecar, l(LabelDirection, LabelMethod, LabelRoute, LabelCode, LabelGRPCCode)},
		{MetricRequestDuration, Histogram, PartSidecar, request},
		{MetricInflight, Gauge, PartSidecar, l(LabelDirection)},
		{MetricOverhead, Histogram, PartSidecar, nil},
		{MetricQueueTime, Histogram, PartSidecar, nil},
		{MetricTelemetryDropped, Counter, PartSidecar, l(LabelSink)},
		{MetricTelemetrySent, Counter, PartSidecar, l(LabelSink)},
		{MetricTelemetryQueued, Gauge, PartSidecar, l(LabelSink)},
		{MetricAttributeTruncated, Counter, PartSidecar, nil},
		{MetricHealthchecks, Counter, PartSidecar, l(LabelProbe, LabelCode)},
		{MetricRouteOverflow, Counter, PartSidecar, nil},
		{MetricRequestsRejected, Counter, PartSidecar, l(LabelReason)},

		{MetricBackendDuration, Histogram, PartBackend, l(LabelBackend, LabelKind, LabelOperation, LabelOutcome)},
		{MetricBackendConnections, Gauge, PartBackend, l(LabelBackend, LabelState)},
		{MetricBackendDecodeErrors, Counter, PartBackend, l(LabelBackend)},
		{MetricBackendRetries, Counter, PartBackend, l(LabelBackend)},
		{MetricBackendRateLimited, Counter, PartBackend, l(LabelBackend)},
		{MetricBackendAmbiguousDrops, Counter, PartBackend, l(LabelBackend)},
		{MetricBackendCircuitState, Gauge, PartBackend, l(LabelBackend)},
		{MetricBackendClusterRewrites, Counter, PartBackend, l(LabelBackend, LabelKind)},

		{MetricHopDuration, Histogram, PartCollector, l(LabelK8sNamespace, LabelServiceName, LabelRoute, LabelHop)},
		{MetricBackendCallDuration, Histogram, PartCollector, l(LabelK8sNamespace, LabelServiceName, LabelBackend, LabelTarget, LabelOperation, LabelAttribution, LabelOutcome)},
		{MetricCollectorReceived, Counter, PartCollector, l(LabelSource)},
		{MetricCollectorRejected, Counter, PartCollector, l(LabelSource, LabelReason)},
		{MetricCollectorALBObjects, Counter, PartCollector, l(LabelOutcome)},
		{MetricTracesActive, Gauge, PartCollector, nil},
		{MetricEvicted, Counter, PartCollector, nil},
		{MetricLateRecords, Counter, PartCollector, nil},
		{MetricExportedSpans, Counter, PartCollector, nil},
		{MetricExportErrors, Counter, PartCollector, nil},
		{MetricExportEvicted, Counter, PartCollector, nil},
		{MetricExportEarly, Counter, PartCollector, nil},
		{MetricExportDroppedSpans, Counter, PartCollector, l(LabelReason)},
		{MetricSamplingThresholdInvalid, Counter, PartCollector, nil},
		{MetricSamplingWeightCapped, Counter, PartCollector, nil},
		{MetricDroppedRecords, Counter, PartCollector, l(LabelReason)},
		{MetricLabelOverflow, Counter, PartCollector, l(LabelLabel)},
		{MetricCollectorRelayed, Counter, PartCollector, l(LabelSource, LabelOutcome)},
		{MetricMemoryLimit, Gauge, PartCollector, l(LabelLimit)},
		{MetricMemoryHeap, Gauge, PartCollector, nil},
		{MetricMemoryRefusing, Gauge, PartCollector, nil},
		{MetricMemoryRefusalPeriods, Counter, PartCollector, nil},
		{MetricMemoryForcedGC, Counter, PartCollector, nil},
	}
}

// MetricsOf returns the metrics of the given parts.
func MetricsOf(parts ...Part) []Metric {
	var out []Metric
	for _, m := range Metrics() {
		for _, p := range parts {
			if m.Part == p {
				out = append(out, m)
			}
		}
	}
	return out
}

// AdapterRequestsPerSecond is the custom metric prometheus-adapter serves
// to HorizontalPodAutoscalers (rules.AdapterRules): each pod's inbound
// rate of MetricRequests. No part registers it; Prometheus never stores
// it.
const AdapterRequestsPerSecond = "hopscope_requests_per_second"
