// Package backendtest holds what the backend proxies' tests share: reading
// back the hopscope_backend_* series a Recorder exported.
package backendtest

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Series returns the series of metric name whose labels include labels.
// A registry that cannot be gathered is a broken test: it panics.
func Series(g prometheus.Gatherer, name string, labels map[string]string) []*dto.Metric {
	mfs, err := g.Gather()
	if err != nil {
		panic(fmt.Sprintf("gathering metrics: %v", err))
	}
	var out []*dto.Metric
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue next
				}
			}
			out = append(out, m)
		}
	}
	return out
}

// Value is a gauge's or counter's value, or a histogram's sample count; -1
// for other types.
func Value(m *dto.Metric) float64 {
	switch {
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	return -1
}
