package dashboards

import (
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// kube-state-metrics' HorizontalPodAutoscaler series (labels namespace,
// horizontalpodautoscaler; the target metrics also metric_name and
// metric_target_type) and cAdvisor's and kube-state-metrics' container
// series (labels namespace, pod, container).
const (
	hpaTargetMetric    = "kube_horizontalpodautoscaler_spec_target_metric"
	hpaDesiredReplicas = "kube_horizontalpodautoscaler_status_desired_replicas"
	hpaCurrentReplicas = "kube_horizontalpodautoscaler_status_current_replicas"
	hpaMinReplicas     = "kube_horizontalpodautoscaler_spec_min_replicas"
	hpaMaxReplicas     = "kube_horizontalpodautoscaler_spec_max_replicas"
	cfsPeriods         = "container_cpu_cfs_periods_total"
	cfsThrottled       = "container_cpu_cfs_throttled_periods_total"
	cpuUsage           = "container_cpu_usage_seconds_total"
	resourceRequests   = "kube_pod_container_resource_requests"
)

var (
	// serviceScope selects the chosen service's sidecars.
	serviceScope = []string{mCluster, mNamespace, mService}
	// hpaScope selects the chosen autoscalers in kube-state-metrics'
	// scrape.
	hpaScope = []string{mCluster, mNamespace, mHPA, mKSM}
	// containerScope selects, in the kubelet's cAdvisor scrape, the
	// containers of the chosen namespaces, not the pod-level cgroup nor
	// the pause container.
	containerScope = []string{mCluster, mNamespace, `container!=""`, `container!="POD"`, mCAdvisor}
)

// podLabels are the labels that name a pod across namespaces.
var podLabels = by("namespace", "pod")

func scalingDashboard(o Options) *dashboard.DashboardBuilder {
	d := newDashboard("hopscope-scaling", "hopscope / Scaling",
		"What the HorizontalPodAutoscaler sees and does: the requests per second per pod that prometheus-adapter serves as the custom metric hopscope_requests_per_second, the HPA's target and replicas (kube-state-metrics), and CPU throttling (cAdvisor). "+
			"The variables cAdvisor job and kube-state-metrics job hold the label matchers that pick those scrapes.").
		Variables(variables(
			[]variable{prometheusVar()},
			scopeVars(inflight, ""),
			[]variable{
				cadvisorVar(o),
				ksmVar(o),
				labelVar("hpa", "HPA", hpaMaxReplicas, []string{mCluster, mNamespace, mKSM}, "horizontalpodautoscaler"),
			},
		))

	d.WithRow(row("Load"))
	d.WithPanel(requestsPerPod())
	d.WithPanel(inflightPerPod())

	d.WithRow(row("Autoscaler"))
	d.WithPanel(hpaTargetVsCurrent())
	d.WithPanel(hpaReplicas())

	d.WithRow(row("CPU"))
	d.WithPanel(cpuThrottling())
	d.WithPanel(cpuUsageOverRequest())
	return d
}

// requestsPerSecondPerPod is the HPA's custom metric
// hopscope_requests_per_second, as prometheus-adapter computes it.
var requestsPerSecondPerPod = sumRate(podLabels, sel(requestsTotal, with(serviceScope, mInbound)...), overTime)

// servicePods keeps, in a vector by namespace and pod, the pods of the
// chosen service: those whose sidecar reports.
var servicePods = " and on (namespace, pod) group by (namespace, pod) (" + sel(inflight, serviceScope...) + ")"

func requestsPerPod() anyPanel {
	return graph(panel{
		title: "Requests/s per pod (hopscope_requests_per_second)",
		desc: "Inbound requests per second per pod (hopscope_requests_total, health checks excluded): " +
			"the custom metric hopscope_requests_per_second that prometheus-adapter serves to the HPA.",
		unit:    unitReqps,
		queries: qs(query(requestsPerSecondPerPod, "{{pod}}")),
	})
}

func inflightPerPod() anyPanel {
	return graph(panel{
		title:   "In-flight requests per pod",
		desc:    "Inbound requests in flight through each pod's sidecar (hopscope_inflight_requests).",
		unit:    unitShort,
		queries: qs(query(sumBy(podLabels, sel(inflight, with(serviceScope, mInbound)...)), "{{pod}}")),
	})
}

// hpaSeries drops kube-state-metrics' own labels (and duplicates from its
// replicas) from an HPA series.
func hpaSeries(metric string, labels ...string) string {
	return aggBy("max", with(by("namespace", "horizontalpodautoscaler"), labels...), sel(metric, hpaScope...))
}

func hpaTargetVsCurrent() anyPanel {
	return graph(panel{
		title: "HPA target vs current metric",
		desc: "The target of each autoscaler's metrics (kube_horizontalpodautoscaler_spec_target_metric) against the current value of hopscope_requests_per_second " +
			"as the HPA averages it: the mean over the chosen service's pods of their inbound requests per second (hopscope_requests_total).",
		unit: unitShort,
		queries: qs(
			query(hpaSeries(hpaTargetMetric, "metric_name", "metric_target_type"), "{{horizontalpodautoscaler}} {{metric_name}} target"),
			query("avg("+requestsPerSecondPerPod+")", "hopscope_requests_per_second current (average per pod)"),
		),
	})
}

func hpaReplicas() anyPanel {
	return graph(panel{
		title: "HPA replicas",
		desc: "Per autoscaler: the replicas it wants (kube_horizontalpodautoscaler_status_desired_replicas) and has " +
			"(kube_horizontalpodautoscaler_status_current_replicas), between its minimum and maximum (spec_min_replicas, spec_max_replicas).",
		unit: unitShort,
		queries: qs(
			query(hpaSeries(hpaDesiredReplicas), "{{horizontalpodautoscaler}} desired"),
			query(hpaSeries(hpaCurrentReplicas), "{{horizontalpodautoscaler}} current"),
			query(hpaSeries(hpaMinReplicas), "{{horizontalpodautoscaler}} min"),
			query(hpaSeries(hpaMaxReplicas), "{{horizontalpodautoscaler}} max"),
		),
	})
}

func cpuThrottling() anyPanel {
	return ratioGraph(panel{
		title: "CPU throttling ratio by pod",
		desc: "Share of CFS periods in which the pod's containers were throttled (container_cpu_cfs_throttled_periods_total over container_cpu_cfs_periods_total, cAdvisor), " +
			"for the pods of the chosen service. Throttling inflates latency and, with a CPU-based HPA, hides the load.",
		queries: qs(query(
			ratio(
				sumRate(podLabels, sel(cfsThrottled, containerScope...), overTime),
				sumRate(podLabels, sel(cfsPeriods, containerScope...), overTime))+servicePods,
			"{{pod}}")),
	})
}

func cpuUsageOverRequest() anyPanel {
	return graph(panel{
		title: "CPU usage / request by pod",
		desc: "CPU the pod's containers use (container_cpu_usage_seconds_total, cAdvisor) over the CPU they request " +
			"(kube_pod_container_resource_requests{resource=\"cpu\"}, kube-state-metrics), for the pods of the chosen service: what a CPU-based HPA compares to its target utilization.",
		unit: unitPercent,
		queries: qs(query(
			ratio(
				sumRate(podLabels, sel(cpuUsage, containerScope...), overTime),
				sumBy(podLabels, sel(resourceRequests, mCluster, mNamespace, `resource="cpu"`, mKSM)))+servicePods,
			"{{pod}}")),
	})
}
