package dashboards

import (
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"

	"github.com/hopscope/hopscope/internal/contract"
)

// The collector's histogram of backend calls (PostgreSQL, Redis, HTTP
// APIs, ...): labels service, backend (the kind), target, operation,
// attribution (exact, inferred, ambiguous) and outcome (ok, error); its
// exemplars carry trace_id.
const (
	backendBucket = contract.MetricBackendCallDuration + "_bucket"
	backendCount  = contract.MetricBackendCallDuration + "_count"
)

// backendScope selects the chosen service's calls to the chosen backends.
// The namespace label is the collector's (its scrape's), not the app's.
var backendScope = []string{mCluster, mAppNamespace, mAppService, mBackend}

// failedCall keeps the calls that failed.
const failedCall = `outcome="error"`

func backendsDashboard(Options) *dashboard.DashboardBuilder {
	d := newDashboard("hopscope-backends", "hopscope / Backends",
		"The calls apps make to their backends (PostgreSQL, Redis, HTTP APIs, ...), from the collector's joined breakdowns (hopscope_backend_call_duration_seconds): rate, errors, latency and how each call was tied to its request.").
		Variables(variables(
			[]variable{prometheusVar(), jaegerVar()},
			appScopeVars(backendCount, ""),
			[]variable{
				labelVar("backend", "Backend", backendCount, []string{mCluster, mAppNamespace, mAppService}, "backend"),
				labelVar("proxy", "Sidecar backend proxy", proxyConnections, []string{mCluster, mNamespace, mService}, "backend"),
			},
		))

	d.WithRow(row("Calls"))
	d.WithPanel(backendCallRate())
	d.WithPanel(backendErrorRatio())

	d.WithRow(row("Latency"))
	for _, p := range percentiles {
		d.WithPanel(backendLatency(p.q, p.name))
	}

	d.WithRow(row("Attribution"))
	d.WithPanel(attributionMix())
	d.WithPanel(attributionByBackend())

	d.WithRow(row("Targets"))
	d.WithPanel(backendTargets())

	d.WithRow(row("Sidecar backend proxies"))
	d.WithPanel(proxyLatency())
	d.WithPanel(proxyConnectionsPanel())
	d.WithPanel(proxyPolicies())
	d.WithPanel(proxyCircuits())
	return d
}

// The sidecar's backend proxies' own metrics (sidecar/backend): their
// backend label is the configured backend's name (db, cache, stripe,
// egress), chosen with the proxy variable.
const (
	proxyBucket      = contract.MetricBackendDuration + "_bucket"
	proxyConnections = contract.MetricBackendConnections
	proxyRetries     = contract.MetricBackendRetries
	proxyLimited     = contract.MetricBackendRateLimited
	proxyDecodeErrs  = contract.MetricBackendDecodeErrors
	proxyCircuit     = contract.MetricBackendCircuitState
)

// proxyScope selects the chosen service's sidecars' chosen proxies.
var proxyScope = []string{mCluster, mNamespace, mService, mProxy}

func proxyLatency() anyPanel {
	return graph(panel{
		title:   "Proxied call p95 by backend and operation",
		desc:    "The p95 of the queries, commands and requests the sidecars' backend proxies relayed, by configured backend and operation (hopscope_backend_duration_seconds).",
		unit:    unitSeconds,
		queries: qs(query(quantile(0.95, by("backend", "operation"), sel(proxyBucket, proxyScope...), overTime), "{{backend}} {{operation}}")),
	})
}

func proxyConnectionsPanel() anyPanel {
	return graph(panel{
		title: "Proxy connections and decode failures",
		desc: "Client connections open through each backend proxy, decoded (calls timed) or relayed opaque (TLS passthrough, CONNECT tunnels, streams the proxy stopped following) " +
			"(hopscope_backend_connections), and connections per second the proxy stopped decoding (hopscope_backend_decode_errors_total).",
		unit: unitShort,
		queries: qs(
			query(sumBy(by("backend", "state"), sel(proxyConnections, proxyScope...)), "{{backend}} {{state}}"),
			query(sumRate(by("backend"), sel(proxyDecodeErrs, proxyScope...), overTime), "{{backend}} decode failures/s"),
		),
	})
}

func proxyPolicies() anyPanel {
	return graph(panel{
		title: "Retries and rate-limited calls/s",
		desc:  "HTTP backends' retries (hopscope_backend_retries_total) and calls refused by their rate limit (hopscope_backend_rate_limited_total), per second.",
		unit:  unitOps,
		queries: qs(
			query(sumRate(by("backend"), sel(proxyRetries, proxyScope...), overTime), "{{backend}} retries"),
			query(sumRate(by("backend"), sel(proxyLimited, proxyScope...), overTime), "{{backend}} rate-limited"),
		),
	})
}

func proxyCircuits() anyPanel {
	return graph(panel{
		title:   "Circuit breaker state",
		desc:    "Per HTTP backend and pod, the circuit breaker's state (hopscope_backend_circuit_state): 0 closed, 1 half-open (one trial call), 2 open (calls refused with 503).",
		unit:    unitShort,
		queries: qs(query(aggBy("max", by("backend", "pod"), sel(proxyCircuit, proxyScope...)), "{{backend}} {{pod}}")),
	})
}

// callLabels split calls by backend kind and operation.
var callLabels = by("backend", "operation")

// callLegend names a backend and operation.
const callLegend = "{{backend}} {{operation}}"

func backendCallRate() anyPanel {
	return graph(panel{
		title:   "Calls/s by backend and operation",
		desc:    "Backend calls per second, by backend kind and operation (hopscope_backend_call_duration_seconds_count).",
		unit:    unitOps,
		queries: qs(query(sumRate(callLabels, sel(backendCount, backendScope...), overTime), callLegend)),
	})
}

func backendErrorRatio() anyPanel {
	return ratioGraph(panel{
		title:   "Error ratio by backend and operation",
		desc:    "Share of backend calls that failed (hopscope_backend_call_duration_seconds_count{outcome=\"error\"} over all), by backend kind and operation.",
		queries: qs(query(failureRatio(callLabels, backendCount, backendScope, []string{failedCall}, overTime), callLegend)),
	})
}

// backendLatency shows a quantile of the call duration; the p99 panel also
// shows the exemplars, linked to their traces.
func backendLatency(q float64, name string) anyPanel {
	p := panel{
		title:   name + " latency by backend and operation",
		desc:    "The " + name + " of the backend calls' duration, by backend kind and operation (hopscope_backend_call_duration_seconds).",
		unit:    unitSeconds,
		w:       8,
		queries: qs(query(quantile(q, callLabels, sel(backendBucket, backendScope...), overTime), callLegend)),
	}
	if q < 0.99 {
		return graph(p)
	}
	p.desc += " The dots are exemplars: click one and follow its trace_id link to open the trace in Jaeger."
	p.queries[0].Exemplar(true)
	return withTraceLinks(graph(p))
}

func attributionMix() anyPanel {
	return stacked100(panel{
		title: "Attribution mix",
		desc: "How backend calls were tied to their inbound request, stacked to 100% (hopscope_backend_call_duration_seconds_count by attribution): " +
			"exact (the trace context travelled with the call), inferred (the only request in flight in the pod) or ambiguous.",
		unit:    unitPercent,
		queries: qs(query(sumRate(by("attribution"), sel(backendCount, backendScope...), overTime), "{{attribution}}")),
	})
}

func attributionByBackend() anyPanel {
	count := sel(backendCount, backendScope...)
	return bars(panel{
		title: "Attribution by backend",
		desc: "Per backend kind, the share of its calls over the dashboard's time range that were attributed exactly, inferred or ambiguous " +
			"(hopscope_backend_call_duration_seconds_count by backend and attribution).",
		unit: unitPercent,
		queries: qs(instant(ratio(
			sumRate(by("backend", "attribution"), count, wholeRange),
			"on (backend) group_left () "+sumRate(by("backend"), count, wholeRange)),
			"{{backend}} {{attribution}}")),
	}).Max(1)
}

// backendTargets lists, per backend, target and operation, the call rate,
// p95 and error ratio over the time range.
func backendTargets() anyPanel {
	labels := by("backend", "target", "operation")
	return tableOf(panel{
		title: "Calls by target",
		desc: "Per backend kind, target and operation, over the dashboard's time range: calls per second, p95 duration and share of failed calls " +
			"(hopscope_backend_call_duration_seconds).",
		w: 24,
		h: 10,
		queries: qs(
			tableQuery(sumRate(labels, sel(backendCount, backendScope...), wholeRange)),
			tableQuery(quantile(0.95, labels, sel(backendBucket, backendScope...), wholeRange)),
			tableQuery(failureRatio(labels, backendCount, backendScope, []string{failedCall}, wholeRange)),
		),
	}, []column{
		{"A", "calls/s", unitOps},
		{"B", "p95", unitSeconds},
		{"C", "error ratio", unitPercent},
	}, "calls/s")
}
