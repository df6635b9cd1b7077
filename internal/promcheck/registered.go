package promcheck

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/hopscope/hopscope/internal/contract"
	"github.com/hopscope/hopscope/internal/contract/contracttest"
)

// Series returns every series name the sidecar and the collector expose on
// /metrics (with the _bucket, _sum and _count series of histograms and
// summaries), mapped to the part that exposes it: "sidecar" (its backend
// proxies' metrics included), "collector", or "process" for the Go and
// process collectors that `hopscope` serves beside them. The hopscope
// series come from the contract (internal/contract), which the sidecar's,
// the backends' and the collector's own tests hold their registrations to;
// the Go and process series from registering those collectors on a
// recorder.
func Series() (map[string]string, error) {
	out := map[string]string{}
	for _, m := range contract.Metrics() {
		part := string(m.Part)
		if m.Part == contract.PartBackend {
			part = string(contract.PartSidecar) // served on the sidecar's /metrics
		}
		for _, n := range m.Series() {
			out[n] = part
		}
	}
	rec := &contracttest.Recorder{}
	if err := rec.Register(collectors.NewGoCollector()); err != nil {
		return nil, fmt.Errorf("listing the Go collector's metrics: %w", err)
	}
	if err := rec.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return nil, fmt.Errorf("listing the process collector's metrics: %w", err)
	}
	for _, n := range rec.Series() {
		out[n] = "process"
	}
	return out, nil
}
