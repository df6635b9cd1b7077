package collector

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hopscope/hopscope/internal/contract"
	"github.com/hopscope/hopscope/internal/contract/contracttest"
)

// TestRegistersTheContract builds the collector, its memory limiter on,
// on a recording registerer and checks that it registers exactly the
// contract's collector metrics, with their types.
func TestRegistersTheContract(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MemoryLimitMiB = 4096
	rec := &contracttest.Recorder{}
	if _, err := New(cfg, Options{Registerer: rec, Gatherer: prometheus.NewRegistry(),
		MemoryReader: func() uint64 { return 0 }}); err != nil {
		t.Fatal(err)
	}
	if err := contracttest.Compare(rec, contract.MetricsOf(contract.PartCollector)); err != nil {
		t.Error(err)
	}
}
