package dashboards

import (
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"

	"github.com/hopscope/hopscope/internal/contract"
)

// The collector's per-hop histogram: the exclusive time of each hop of a
// request (dns, connect, tls, edge_network, loadbalancer, ingress, service,
// sidecar, app, the backends, download), by service and route; its
// exemplars carry trace_id.
const (
	hopBucket = contract.MetricHopDuration + "_bucket"
	hopSum    = contract.MetricHopDuration + "_sum"
	hopCount  = contract.MetricHopDuration + "_count"
)

// hopScope selects the chosen service and route by the app's labels
// (the namespace label is the collector's, from its scrape).
var hopScope = []string{mCluster, mAppNamespace, mAppService, mRoute}

func breakdownDashboard(Options) *dashboard.DashboardBuilder {
	d := newDashboard("hopscope-breakdown", "hopscope / Request latency breakdown",
		"Where a request's time goes, hop by hop (DNS, connect, TLS, network, load balancer, ingress, sidecar, app, backends, download), from the collector's joined breakdowns (hopscope_hop_duration_seconds).").
		Variables(variables(
			[]variable{prometheusVar(), jaegerVar()},
			appScopeVars(hopCount, hopCount),
		))

	d.WithRow(row("Latency per hop"))
	for _, p := range percentiles {
		d.WithPanel(hopQuantilePanel(p.q, p.name))
	}

	d.WithRow(row("Share of time"))
	d.WithPanel(hopShareBars())
	d.WithPanel(hopShareOverTime())

	d.WithRow(row("Slowest requests"))
	d.WithPanel(slowestRequests())

	d.WithRow(row("Per-hop summary"))
	d.WithPanel(hopTable())
	return d
}

// hopQuantilePanel stacks each hop's q-quantile.
func hopQuantilePanel(q float64, name string) anyPanel {
	return stacked(panel{
		title: name + " per hop (stacked)",
		desc: "The " + name + " of each hop's time (hopscope_hop_duration_seconds), stacked. " +
			"Each hop's " + name + " is computed on its own: the stack approximates, and usually exceeds, the " + name + " of whole requests.",
		unit: unitSeconds,
		w:    8,
		queries: qs(query(
			quantile(q, by(contract.LabelHop), sel(hopBucket, hopScope...), overTime),
			"{{hop}}")),
	})
}

// hopShare is each hop's part of the time all requests spent, over window.
func hopShare(window string) string {
	return ratio(
		sumRate(by(contract.LabelHop), sel(hopSum, hopScope...), window),
		"on () group_left () "+sumRate(nil, sel(hopSum, hopScope...), window))
}

func hopShareBars() anyPanel {
	return bars(panel{
		title: "Share of time per hop",
		desc: "Each hop's part of the total time the selected requests spent over the dashboard's time range: " +
			"sum of rate(hopscope_hop_duration_seconds_sum) by hop over the sum for all hops.",
		unit:    unitPercent,
		w:       8,
		h:       9,
		queries: qs(instant(hopShare(wholeRange), "{{hop}}")),
	}).Max(1)
}

func hopShareOverTime() anyPanel {
	return stacked100(panel{
		title: "Share of time per hop over time",
		desc: "Each hop's part of the total time the selected requests spent, over time: " +
			"rate(hopscope_hop_duration_seconds_sum) by hop, stacked to 100%.",
		unit: unitPercent,
		w:    16,
		h:    9,
		queries: qs(query(
			sumRate(by(contract.LabelHop), sel(hopSum, hopScope...), overTime),
			"{{hop}}")),
	})
}

// slowestRequests shows the exemplars of the hop histogram: each dot is
// one request's hop, and its trace_id opens the trace in Jaeger.
func slowestRequests() anyPanel {
	return withTraceLinks(graph(panel{
		title: "Slowest requests (exemplars)",
		desc: "The p99 of each hop (hopscope_hop_duration_seconds), with the exemplars Prometheus kept: " +
			"each dot is one request's hop; the highest are the slowest. Click a dot and follow its trace_id link to open the trace in Jaeger.",
		unit: unitSeconds,
		w:    24,
		h:    10,
		queries: qs(query(
			quantile(0.99, by(contract.LabelHop), sel(hopBucket, hopScope...), overTime),
			"p99 {{hop}}").Exemplar(true)),
	}))
}

// hopTable lists, per hop, its percentiles and rate over the time range.
func hopTable() anyPanel {
	buckets := sel(hopBucket, hopScope...)
	return tableOf(panel{
		title: "Hop by hop",
		desc: "Per hop, over the dashboard's time range: p50, p95 and p99 of its time and how often it was observed per second " +
			"(hopscope_hop_duration_seconds; a hop missing from a request's breakdown is not counted).",
		w: 24,
		h: 10,
		queries: qs(
			tableQuery(quantile(0.5, by(contract.LabelHop), buckets, wholeRange)),
			tableQuery(quantile(0.95, by(contract.LabelHop), buckets, wholeRange)),
			tableQuery(quantile(0.99, by(contract.LabelHop), buckets, wholeRange)),
			tableQuery(sumRate(by(contract.LabelHop), sel(hopCount, hopScope...), wholeRange)),
		),
	}, []column{
		{"A", "p50", unitSeconds},
		{"B", "p95", unitSeconds},
		{"C", "p99", unitSeconds},
		{"D", "observed/s", unitReqps},
	}, "p99")
}
