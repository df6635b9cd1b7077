package relay

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hopscope/hopscope/internal/contract"
)

// Outcomes of hopscope_collector_relayed_total.
const (
	// OutcomeSent: taken by the gateway, which routes it to its owner
	// (what the gateway then fails to deliver it counts, as a span, in
	// otelcol_exporter_send_failed_spans).
	OutcomeSent = "sent"
	// OutcomeUnroutable: no trace id could be derived; joined here.
	OutcomeUnroutable = "unroutable"
	// OutcomeQueueFull: the queue was full; joined here.
	OutcomeQueueFull = "queue_full"
	// OutcomeFailed: the gateway did not take its batch; joined here.
	OutcomeFailed = "failed"
)

// Metrics are the relay's metrics. The collector registers them whether
// or not it relays, so that its /metrics lists the same names in every
// mode.
type Metrics struct {
	relayed *prometheus.CounterVec
}

// NewMetrics registers the relay's metrics on reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{relayed: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: contract.MetricCollectorRelayed,
		Help: "Records from log lines, ALB logs and beacons sent to the replica that owns their trace through the scale-out gateway (outcome sent), or joined by the replica that took them in (unroutable, queue_full, failed).",
	}, []string{contract.LabelSource, contract.LabelOutcome})}
	if reg != nil {
		if err := reg.Register(m.relayed); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Counter is the counter of source and outcome, for tests and the
// collector's own checks.
func (m *Metrics) Counter(source, outcome string) prometheus.Counter {
	return m.relayed.WithLabelValues(source, outcome)
}
