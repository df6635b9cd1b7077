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
	// maxServices is the distinct service values of both histograms.
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
	services      *route.Limit[string]
	kinds         *route.Limit[string]
	routes        *route.Limit[[2]string]
	targetOps     *route.Limit[[4]string]
	hopSeries     *route.Limit[[3]string]
	backendSeries *route.Limit[[4]string]
}

func newLabelLimits() *labelLimits {
	return &labelLimits{
		services:      route.NewLimit[string](maxServices),
		kinds:         route.NewLimit[string](maxBackendKinds),
		routes:        route.NewLimit[[2]string](maxRoutePairs),
		targetOps:     route.NewLimit[[4]string](maxTargetOps),
		hopSeries:     route.NewLimit[[3]string](maxHopSeries),
		backendSeries: route.NewLimit[[4]string](maxBackendSeries),
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
		{"service", l.services.Refused},
		{"backend", l.kinds.Refused},
		{"route", l.routes.Refused},
		{"target_operation", l.targetOps.Refused},
		{"hop_series", l.hopSeries.Refused},
		{"backend_series", l.backendSeries.Refused},
	} {
		cs = append(cs, prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        contract.MetricLabelOverflow,
			Help:        "Observations whose label value became \"other\" because the label's limit of distinct values was reached: label = service, backend (kind), route, target_operation, hop_series or backend_series (label sets of a histogram).",
			ConstLabels: prometheus.Labels{contract.LabelLabel: c.label},
		}, func() float64 { return float64(c.refused()) }))
	}
	return cs
}

// service is the service label: "unknown" when empty.
func (l *labelLimits) service(service string) string {
	if service == "" {
		service = "unknown"
	}
	return route.Value(l.services, labelValue(service))
}

// kind is the label of a backend kind, as a hop and as a backend.
func (l *labelLimits) kind(kind string) string {
	if kind == "" {
		kind = "unknown"
	}
	return route.Value(l.kinds, labelValue(kind))
}

// hop returns the labels of one hop observation; service is already
// capped (service), hop is a fixed hop name or a capped kind.
func (l *labelLimits) hop(service, rt, hop string) (string, string) {
	if rt == "" {
		rt = "unknown"
	}
	rt = labelValue(rt)
	if !l.routes.Admit([2]string{service, rt}) {
		rt = route.Other
	}
	if !l.hopSeries.Admit([3]string{service, rt, hop}) {
		return route.Other, route.Other
	}
	return service, rt
}

// backend returns the service, target and operation labels of one backend
// call observation; service and kind are already capped.
func (l *labelLimits) backend(service, kind, target, operation string) (string, string, string) {
	if target == "" {
		target = "unknown"
	}
	if operation == "" {
		operation = "unknown"
	}
	target, operation = labelValue(target), labelValue(operation)
	if !l.targetOps.Admit([4]string{service, kind, target, operation}) {
		target, operation = route.Other, route.Other
	}
	if !l.backendSeries.Admit([4]string{service, kind, target, operation}) {
		return route.Other, route.Other, route.Other
	}
	return service, target, operation
}
