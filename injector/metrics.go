package injector

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	requests *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hopscope_injector_requests_total",
			Help: "Admission requests answered, by result: injected, skipped (not asked, already injected, or not injectable) or error.",
		}, []string{"result"}),
	}
	if err := reg.Register(m.requests); err != nil {
		return nil, err
	}
	for _, r := range []string{resultInjected, resultSkipped, resultError} {
		m.requests.WithLabelValues(r)
	}
	return m, nil
}
