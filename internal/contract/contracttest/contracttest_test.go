package contracttest

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hopscope/hopscope/internal/contract"
)

func TestCompare(t *testing.T) {
	want := []contract.Metric{
		{Name: "hopscope_a_total", Type: contract.Counter, Labels: []string{"x"}},
		{Name: "hopscope_b_seconds", Type: contract.Histogram, Labels: []string{"x"}},
		{Name: "hopscope_c", Type: contract.Gauge, Labels: []string{"sink"}},
	}
	register := func(r prometheus.Registerer, extra ...prometheus.Collector) {
		wrapped := prometheus.WrapRegistererWith(prometheus.Labels{"service": "s"}, r)
		wrapped.MustRegister(
			prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hopscope_a_total", Help: "a"}, []string{"x"}),
			prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "hopscope_b_seconds", Help: "b"}, []string{"x"}),
		)
		wrapped.MustRegister(extra...)
	}
	for _, tc := range []struct {
		name  string
		extra []prometheus.Collector
		err   []string
	}{
		{"exact", []prometheus.Collector{
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "hopscope_c", Help: "c, {x=\"y\"}", ConstLabels: prometheus.Labels{"sink": "a"}}, func() float64 { return 1 }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "hopscope_c", Help: "c, {x=\"y\"}", ConstLabels: prometheus.Labels{"sink": "b"}}, func() float64 { return 1 }),
		}, nil},
		{"labels", []prometheus.Collector{
			prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "hopscope_c", Help: "c"}, []string{"sink", "extra"}),
		}, []string{"hopscope_c has labels [extra service sink], the contract says [service sink]"}},
		{"missing", nil, []string{"not registered: hopscope_c"}},
		{"extra and mistyped", []prometheus.Collector{
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "hopscope_c", Help: "c", ConstLabels: prometheus.Labels{"sink": "a"}}, func() float64 { return 1 }),
			prometheus.NewHistogram(prometheus.HistogramOpts{Name: "hopscope_d_seconds", Help: "d"}),
		}, []string{"hopscope_c is a counter, the contract says gauge",
			"not in the contract (internal/contract/metrics.go): hopscope_d_seconds_bucket, hopscope_d_seconds_count, hopscope_d_seconds_sum"}},
	} {
		rec := &Recorder{}
		register(rec, tc.extra...)
		err := Compare(rec, want, "service")
		if len(tc.err) == 0 && err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		for _, e := range tc.err {
			if err == nil || !strings.Contains(err.Error(), e) {
				t.Errorf("%s: error %v, want one saying %q", tc.name, err, e)
			}
		}
	}
}

func TestSeriesOfASummary(t *testing.T) {
	rec := &Recorder{}
	rec.MustRegister(prometheus.NewSummary(prometheus.SummaryOpts{Name: "x_seconds", Help: "x"}))
	if got := strings.Join(rec.Series(), " "); got != "x_seconds x_seconds_count x_seconds_sum" {
		t.Errorf("series of a summary: %s", got)
	}
}
