package sidecar

import (
	"io"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hopscope/hopscope/internal/contract"
	"github.com/hopscope/hopscope/internal/contract/contracttest"
	"github.com/hopscope/hopscope/sidecar/backend"
)

// TestMetricsRegisterTheContract builds the sidecar on a recording
// registerer and checks that it registers exactly the contract's sidecar
// metrics, with their types; with a backend proxy, the backend's too.
// Nothing listens before Start.
func TestMetricsRegisterTheContract(t *testing.T) {
	for _, tc := range []struct {
		name     string
		backends []backend.Config
		want     []contract.Metric
	}{
		{"no backends", nil, contract.MetricsOf(contract.PartSidecar)},
		{"a backend", []backend.Config{{Name: "api", Kind: backend.KindHTTP, Listen: "127.0.0.1:0", Target: "http://127.0.0.1:1"}},
			contract.MetricsOf(contract.PartSidecar, contract.PartBackend)},
	} {
		cfg := DefaultConfig()
		cfg.Backends = tc.backends
		rec := &contracttest.Recorder{}
		sc, err := New(cfg, Options{Registerer: rec, Gatherer: prometheus.NewRegistry(), AccessLogWriter: io.Discard})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if err := contracttest.Compare(rec, tc.want, contract.LabelService); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		sc.Close()
	}
}
