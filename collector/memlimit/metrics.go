package memlimit

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hopscope/hopscope/internal/contract"
)

// Collectors are the Limiter's metrics, read at each scrape, for the host
// to register on its registerer:
// hopscope_collector_memory_limit_bytes{limit="soft"|"hard"},
// hopscope_collector_memory_heap_bytes (at the last check),
// hopscope_collector_memory_refusing (1 while refusing),
// hopscope_collector_memory_refusal_periods_total and
// hopscope_collector_memory_forced_gc_total. The refusals themselves are
// counted by the receivers (hopscope_collector_rejected_total
// {reason="memory_limit"}).
func (l *Limiter) Collectors() []prometheus.Collector {
	limit := func(which string, v uint64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        contract.MetricMemoryLimit,
			Help:        "The memory limiter's limits of the heap in use: from soft on input is refused (--memory-limit-mib minus --memory-spike-mib), at hard a GC is also forced at every check (--memory-limit-mib).",
			ConstLabels: prometheus.Labels{contract.LabelLimit: which},
		}, func() float64 { return float64(v) })
	}
	return []prometheus.Collector{
		limit("soft", l.soft),
		limit("hard", l.cfg.LimitBytes),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: contract.MetricMemoryHeap,
			Help: "Heap in use (bytes of heap objects, live or not yet swept) at the memory limiter's last check.",
		}, func() float64 { return float64(l.heap.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: contract.MetricMemoryRefusing,
			Help: "1 while the memory limiter refuses input (the heap is above the soft limit), else 0.",
		}, func() float64 {
			if l.refusing.Load() {
				return 1
			}
			return 0
		}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: contract.MetricMemoryRefusalPeriods,
			Help: "Times the memory limiter started refusing input.",
		}, func() float64 { return float64(l.periods.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: contract.MetricMemoryForcedGC,
			Help: "Garbage collections the memory limiter forced.",
		}, func() float64 { return float64(l.gcs.Load()) }),
	}
}
