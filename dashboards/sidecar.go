package dashboards

import (
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"

	"github.com/hopscope/hopscope/internal/contract"
)

// The sidecar's series; each carries the sidecar's service label and the
// scrape's namespace and pod.
const (
	requestsTotal     = contract.MetricRequests
	requestBucket     = contract.MetricRequestDuration + "_bucket"
	inflight          = contract.MetricInflight
	overheadBucket    = contract.MetricOverhead + "_bucket"
	queueTimeBucket   = contract.MetricQueueTime + "_bucket"
	droppedTotal      = contract.MetricTelemetryDropped
	healthchecksTotal = contract.MetricHealthchecks
)

var (
	// podScope selects the chosen service's pods.
	podScope = []string{mCluster, mNamespace, mService, mPod}
	// requestScope selects their inbound requests on the chosen routes.
	requestScope = with(podScope, mInbound, mRoute)
)

// serverErrors keep the server's errors: the 5xx responses, and the gRPC
// calls failed by the server (contract.GRPCServerErrors), which answer
// HTTP 200.
var serverErrors = []string{
	contract.LabelCode + `=~"5.."`,
	contract.LabelGRPCCode + `=~"` + strings.Join(contract.GRPCServerErrors, "|") + `"`,
}

func sidecarDashboard(Options) *dashboard.DashboardBuilder {
	d := newDashboard("hopscope-sidecar", "hopscope / Sidecar golden signals",
		"Traffic, errors, latency and saturation of the apps behind hopscope's sidecars, per pod and per route, and what the sidecar itself costs.").
		Variables(variables(
			[]variable{prometheusVar(), jaegerVar()},
			scopeVars(inflight, requestsTotal),
			[]variable{labelVar("pod", "Pod", inflight, []string{mCluster, mNamespace, mService}, "pod")},
		))

	d.WithRow(row("Golden signals"))
	for _, p := range goldenSignalStats() {
		d.WithPanel(p)
	}

	d.WithRow(row("Traffic"))
	d.WithPanel(requestRate(contract.LabelRoute))
	d.WithPanel(requestRate("pod"))
	d.WithPanel(responsesByCode())
	d.WithPanel(inflightByPod())

	d.WithRow(row("Errors"))
	d.WithPanel(errorRatioBy(contract.LabelRoute))
	d.WithPanel(errorRatioBy("pod"))

	d.WithRow(row("Latency"))
	d.WithPanel(requestLatency())
	d.WithPanel(requestLatencyBy(0.95, "p95", contract.LabelRoute))
	d.WithPanel(requestLatencyBy(0.95, "p95", "pod"))

	d.WithRow(row("Sidecar overhead and queueing"))
	d.WithPanel(percentilesPanel("Proxy overhead percentiles",
		"Time spent in the sidecar itself, the request's duration minus the app's (hopscope_proxy_overhead_seconds): p50, p95, p99.",
		overheadBucket))
	d.WithPanel(podQuantile(0.99, "Proxy overhead p99 by pod",
		"The p99 of the time spent in the sidecar itself, per pod (hopscope_proxy_overhead_seconds).",
		overheadBucket))
	d.WithPanel(percentilesPanel("Queue time percentiles",
		"Time from X-Request-Start, set by the ingress or load balancer, to the request's arrival at the sidecar (hopscope_queue_time_seconds): p50, p95, p99. Empty when no hop in front sets the header.",
		queueTimeBucket))
	d.WithPanel(podQuantile(0.95, "Queue time p95 by pod",
		"The p95 of the time requests waited between X-Request-Start and their arrival at the sidecar, per pod (hopscope_queue_time_seconds).",
		queueTimeBucket))

	d.WithRow(row("Health checks and telemetry"))
	d.WithPanel(healthchecks())
	d.WithPanel(telemetryDrops())
	return d
}

// requests returns the selector of the inbound requests in scope, with
// more matchers.
func requests(more ...string) string {
	return sel(requestsTotal, with(requestScope, more...)...)
}

// errorRatio is the share of server errors (5xx, gRPC server errors)
// among the inbound requests, per labels.
func errorRatio(labels []string) string {
	return failureRatio(labels, requestsTotal, requestScope, serverErrors, overTime)
}

func goldenSignalStats() []anyPanel {
	return []anyPanel{
		singleStat(panel{
			title:   "Requests/s",
			desc:    "Inbound requests per second through the selected sidecars, health checks excluded (hopscope_requests_total).",
			unit:    unitReqps,
			queries: qs(query(sumRate(nil, requests(), overTime), "requests/s")),
		}),
		singleStat(panel{
			title:   "Error ratio (5xx, gRPC)",
			desc:    errorRatioDesc(""),
			unit:    unitPercent,
			queries: qs(query(errorRatio(nil), "error ratio")),
		}).ColorMode(common.BigValueColorModeValue).Thresholds(errorThresholds()),
		singleStat(panel{
			title:   "p95 latency",
			desc:    "95th percentile of the time from a request's arrival at the sidecar to the end of its response (hopscope_request_duration_seconds).",
			unit:    unitSeconds,
			queries: qs(query(quantile(0.95, nil, sel(requestBucket, requestScope...), overTime), "p95")),
		}),
		singleStat(panel{
			title:   "In flight",
			desc:    "Inbound requests in flight through the selected sidecars (hopscope_inflight_requests).",
			unit:    unitShort,
			queries: qs(query(sumBy(nil, sel(inflight, with(podScope, mInbound)...)), "in flight")),
		}),
	}
}

func requestRate(label string) anyPanel {
	return graph(panel{
		title:   "Requests/s by " + label,
		desc:    "Inbound requests per second per " + label + ", health checks excluded (hopscope_requests_total).",
		unit:    unitReqps,
		queries: qs(query(sumRate(by(label), requests(), overTime), "{{"+label+"}}")),
	})
}

// errorRatioDesc describes an error ratio panel; per is ", per route" or
// the like.
func errorRatioDesc(per string) string {
	return "Share of inbound requests answered with a 5xx status or, for gRPC calls (which answer HTTP 200), with a server-error status: " +
		strings.Join(contract.GRPCServerErrors, ", ") + per + " (hopscope_requests_total{code=~\"5..\"} or {grpc_code=~…} over all)."
}

func responsesByCode() anyPanel {
	return stacked(panel{
		title:   "Responses/s by status code",
		desc:    "Inbound responses per second per HTTP status code and, for gRPC calls, gRPC status, stacked (hopscope_requests_total).",
		unit:    unitReqps,
		queries: qs(query(sumRate(by(contract.LabelCode, contract.LabelGRPCCode), requests(), overTime), "{{code}} {{grpc_code}}")),
	})
}

func inflightByPod() anyPanel {
	return graph(panel{
		title:   "In-flight requests by pod",
		desc:    "Inbound requests in flight through each pod's sidecar (hopscope_inflight_requests): the concurrency the app sees.",
		unit:    unitShort,
		queries: qs(query(sumBy(by("pod"), sel(inflight, with(podScope, mInbound)...)), "{{pod}}")),
	})
}

func errorRatioBy(label string) anyPanel {
	return ratioGraph(panel{
		title:   "Error ratio (5xx, gRPC) by " + label,
		desc:    errorRatioDesc(", per " + label),
		queries: qs(query(errorRatio(by(label)), "{{"+label+"}}")),
	})
}

// requestLatency shows the request duration's percentiles, with the
// exemplars of the slowest requests linked to their traces.
func requestLatency() anyPanel {
	q := percentileQueries(sel(requestBucket, requestScope...))
	q[len(q)-1].Exemplar(true)
	return withTraceLinks(graph(panel{
		title: "Request latency percentiles",
		desc: "p50, p95 and p99 of the time from a request's arrival at the sidecar to the end of its response (hopscope_request_duration_seconds). " +
			"The dots are exemplars: click one and follow its trace_id link to open the trace in Jaeger.",
		unit:    unitSeconds,
		w:       24,
		queries: q,
	}))
}

func requestLatencyBy(q float64, name, label string) anyPanel {
	return graph(panel{
		title:   name + " latency by " + label,
		desc:    "The " + name + " of the request duration per " + label + " (hopscope_request_duration_seconds).",
		unit:    unitSeconds,
		queries: qs(query(quantile(q, by(label), sel(requestBucket, requestScope...), overTime), "{{"+label+"}}")),
	})
}

// percentilesPanel shows p50, p95 and p99 of a per-pod histogram of the
// chosen pods.
func percentilesPanel(title, desc, buckets string) anyPanel {
	return graph(panel{
		title:   title,
		desc:    desc,
		unit:    unitSeconds,
		queries: percentileQueries(sel(buckets, podScope...)),
	})
}

// podQuantile shows a quantile of a per-pod histogram, per pod.
func podQuantile(q float64, title, desc, buckets string) anyPanel {
	return graph(panel{
		title:   title,
		desc:    desc,
		unit:    unitSeconds,
		queries: qs(query(quantile(q, by("pod"), sel(buckets, podScope...), overTime), "{{pod}}")),
	})
}

func healthchecks() anyPanel {
	return stacked(panel{
		title:   "Health-check requests/s by probe and code",
		desc:    "Health checks (kube-probe, ELB-HealthChecker, ...) per second, by probe and status code (hopscope_healthcheck_requests_total). They are kept out of every other panel.",
		unit:    unitReqps,
		queries: qs(query(sumRate(by("probe", "code"), sel(healthchecksTotal, podScope...), overTime), "{{probe}} {{code}}")),
	})
}

func telemetryDrops() anyPanel {
	return graph(panel{
		title:   "Telemetry records dropped/s",
		desc:    "Spans and log records per second the sidecar dropped because a sink (otlp, fluent, stdout) was slow, full or down, per pod and sink (hopscope_telemetry_dropped_total).",
		unit:    unitCps,
		queries: qs(query(sumRate(by("pod", "sink"), sel(droppedTotal, podScope...), overTime), "{{pod}} {{sink}}")),
	})
}
