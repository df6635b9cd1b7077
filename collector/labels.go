package collector

import (
	"strings"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hopscope/hopscope/internal/contract"
	"github.com/hopscope/hopscope/internal/route"
)

// Limits of the collector's histogram labels, every one of which is fed
// from input anyone reaching a receiver can send (service.name, http.route,
// db.system, server.address, a log's path): past each, a new value is
// counted as "other" (route.Limit, as the sidecar caps its route label)
// and the refusal in hopscope_collector_label_overflow_total{label}.
const (
	// maxNamespaces is the distinct k8s_namespace_name values of both
	// histograms.
	maxNamespaces = 200
	// maxServices is the distinct (namespace, service) pairs of both
	// histograms.
	maxServices = 500
	// maxBackendKinds is the distinct backend kinds (db.system,
	// rpc.system, ...): the hop label of backend hops and the backend
	// label.
	maxBackendKinds = 32
	// maxRoutePairs is the (service, route) pairs of the hop histogram;
	// past it a new route of a service is "other".
	maxRoutePairs = 1000
	// maxTargetOps is the (service, backend, target, operation) sets of
	// the backend histogram; past it target and operation are "other".
	maxTargetOps = 500
	// maxHopSeries and maxBackendSeries bound the label sets of each
	// histogram whatever the mix: past them a new set is counted with
	// every label but the hop (backend kind, attribution, outcome) "other".
	// At most 5000+43 hop series then (10 fixed hops, 32 kinds and
	// "other") and (600+33)×6 backend series (attribution × outcome).
	maxHopSeries     = 5000
	maxBackendSeries = 600
	// maxLabelBytes is the longest label value taken from input: longer
	// ones are cut (at a rune boundary). Together with the limits above it
	// keeps /metrics within a few tens of MB whatever is sent.
	maxLabelBytes = 128
)

// labelValue makes v a valid label value: invalid UTF-8 (which the
// Prometheus client refuses with a panic) becomes U+FFFD, and the value
// is cut to maxLabelBytes.
func labelValue(v string) string {
	if len(v) <= maxLabelBytes && utf8.ValidString(v) {
		return v
	}
	v = strings.ToValidUTF8(v, "\uFFFD")
	if len(v) <= maxLabelBytes {
		return v
	}
	cut := maxLabelBytes
	for cut > 0 && !utf8.RuneStart(v[cut]) {
		cut--
	}
	return v[:cut]
}

// labelLimits caps the labels of hopscope_hop_duration_seconds and
// hopscope_backend_call_duration_seconds.
type labelLimits struct {
	namespaces    *route.Limit[string]
	services      *route.Limit[[2]string]
	kinds         *route.Limit[string]
	routes        *route.Limit[[3]string]
	targetOps     *route.Limit[[5]string]
	hopSeries     *route.Limit[[4]string]
	backendSeries *route.Limit[[5]string]
}

// app is the (namespace, service) a series describes, each capped.
type app struct{ namespace, service string }

func newLabelLimits() *labelLimits {
	return &labelLimits{
		namespaces:    route.NewLimit[string](maxNamespaces),
		services:      route.NewLimit[[2]string](maxServices),
		kinds:         route.NewLimit[string](maxBackendKinds),
		routes:        route.NewLimit[[3]string](maxRoutePairs),
		targetOps:     route.NewLimit[[5]string](maxTargetOps),
		hopSeries:     route.NewLimit[[4]string](maxHopSeries),
		backendSeries: route.NewLimit[[5]string](maxBackendSeries),
	}
}

// collectors are hopscope_collector_label_overflow_total, one counter per
// limit, read at each scrape.
func (l *labelLimits) collectors() []prometheus.Collector {
	var cs []prometheus.Collector
	for _, c := range []struct {
		label   string
		refused func() uint64
	}{
		{"namespace", l.namespaces.Refused},
		{"service", l.services.Refused},
		{"backend", l.kinds.Refused},
		{"route", l.routes.Refused},
		{"target_operation", l.targetOps.Refused},
		{"hop_series", l.hopSeries.Refused},
		{"backend_series", l.backendSeries.Refused},
	} {
		cs = append(cs, prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        contract.MetricLabelOverflow,
			Help:        "Observations whose label value became \"other\" because the label's limit of distinct values was reached: label = namespace, service, backend (kind), route, target_operation, hop_series or backend_series (label sets of a histogram).",
			ConstLabels: prometheus.Labels{contract.LabelLabel: c.label},
		}, func() float64 { return float64(c.refused()) }))
	}
	return cs
}

// app is the namespace and service labels: the service "unknown" when
// empty, the namespace left empty (no label) outside Kubernetes. Past its
// limit a namespace is "other"; past theirs, a pair's service is.
func (l *labelLimits) app(namespace, service string) app {
	if service == "" {
		service = "unknown"
	}
	a := app{labelValue(namespace), labelValue(service)}
	if a.namespace != "" {
		a.namespace = route.Value(l.namespaces, a.namespace)
	}
	if !l.services.Admit([2]string{a.namespace, a.service}) {
		a.service = route.Other
	}
	return a
}

// kind is the label of a backend kind, as a hop and as a backend.
func (l *labelLimits) kind(kind string) string {
	if kind == "" {
		kind = "unknown"
	}
	return route.Value(l.kinds, labelValue(kind))
}

// hop returns the labels of one hop observation; a is already capped
// (app), hop is a fixed hop name or a capped kind.
func (l *labelLimits) hop(a app, rt, hop string) (app, string) {
	if rt == "" {
		rt = "unknown"
	}
	rt = labelValue(rt)
	if !l.routes.Admit([3]string{a.namespace, a.service, rt}) {
		rt = route.Other
	}
	if !l.hopSeries.Admit([4]string{a.namespace, a.service, rt, hop}) {
		return app{route.Other, route.Other}, route.Other
	}
	return a, rt
}

// backend returns the service, target and operation labels of one backend
// call observation; a and kind are already capped.
func (l *labelLimits) backend(a app, kind, target, operation string) (app, string, string) {
	if target == "" {
		target = "unknown"
	}
	if operation == "" {
		operation = "unknown"
	}
	target, operation = labelValue(target), labelValue(operation)
	if !l.targetOps.Admit([5]string{a.namespace, a.service, kind, target, operation}) {
		target, operation = route.Other, route.Other
	}
	if !l.backendSeries.Admit([5]string{a.namespace, a.service, kind, target, operation}) {
		return app{route.Other, route.Other}, route.Other, route.Other
	}
	return a, target, operation
}
