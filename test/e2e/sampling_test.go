//go:build e2e

package e2e

import (
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hopscope/hopscope/collector"
	"github.com/hopscope/hopscope/internal/contract"
	"github.com/hopscope/hopscope/internal/testkit"
	"github.com/hopscope/hopscope/sidecar"
)

// TestSamplingSidecarToCollector: a real sidecar sampling at 0.25
// (parentbased_traceidratio) exports over OTLP/HTTP to a real collector
// only the traces it keeps, each span's trace_state carrying ot=th:c; the
// collector counts each of their breakdowns 4 times in the hop histogram,
// so its _count equals the requests the sidecar's complete metrics count.
// The trace ids are chosen (--trace-id-from-request-id) so that 2 of 8 are
// kept: their low 56 bits at or above 0xc0000000000000.
func TestSamplingSidecarToCollector(t *testing.T) {
	creg := prometheus.NewRegistry()
	ccfg := loopbackCollectorConfig()
	ccfg.ExportDelay = 300 * time.Millisecond
	col := runCollector(t, ccfg, collector.Options{Registerer: creg, Gatherer: creg, FlushTick: 20 * time.Millisecond})

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	app := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })}
	go app.Serve(ln)
	t.Cleanup(func() { app.Close() })
	scfg := sidecar.DefaultConfig()
	scfg.Listen, scfg.AdminListen, scfg.Upstream, scfg.Service = "127.0.0.1:0", "127.0.0.1:0", "http://"+ln.Addr().String(), "shop"
	scfg.OTLPEndpoint = "http://" + col.OTLPHTTPAddr().String()
	scfg.AccessLog, scfg.ShutdownGrace, scfg.Routes = "off", 0, []string{"/orders/{id}"}
	scfg.TraceIDFromRequestID = true
	scfg.TracesSampler, scfg.TracesSamplerArg = sidecar.SamplerParentBasedTraceIDRatio, "0.25"
	sc, sreg := runSidecar(t, scfg)

	ids := []string{
		"4bf92f3577b34da65ec0000000000000", // kept: at the threshold
		"4bf92f3577b34da65ebfffffffffffff",
		"4bf92f3577b34da65effffffffffffff", // kept
		"4bf92f3577b34da65e00000000000001",
		"4bf92f3577b34da65e40000000000000",
		"4bf92f3577b34da65e80000000000000",
		"4bf92f3577b34da65e12345678901234",
		"4bf92f3577b34da65e7fffffffffffff",
	}
	for _, id := range ids {
		req, _ := http.NewRequest(http.MethodGet, "http://"+sc.Addr().String()+"/orders/7", nil)
		req.Header.Set("X-Request-ID", id)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
	sum := func(reg *prometheus.Registry, name string, match func(map[string]string) bool) float64 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		var n float64
		for _, mf := range mfs {
			if mf.GetName() != name {
				continue
			}
			for _, m := range mf.Metric {
				labels := map[string]string{}
				for _, l := range m.Label {
					labels[l.GetName()] = l.GetValue()
				}
				if !match(labels) {
					continue
				}
				if h := m.GetHistogram(); h != nil {
					n += float64(h.GetSampleCount())
				} else {
					n += m.GetCounter().GetValue()
				}
			}
		}
		return n
	}
	all := func(map[string]string) bool { return true }
	sidecarHop := func(l map[string]string) bool { return l[contract.LabelHop] == "sidecar" }
	testkit.Eventually(t, "both kept traces' breakdowns observed", 20*time.Second, func() bool {
		return sum(creg, contract.MetricHopDuration, sidecarHop) >= 8
	})
	if got := sum(sreg, contract.MetricRequests, all); got != float64(len(ids)) {
		t.Errorf("the sidecar counted %v requests, want %d: its metrics are complete", got, len(ids))
	}
	if got := sum(creg, contract.MetricCollectorReceived, func(l map[string]string) bool { return l[contract.LabelSource] == "otlp" }); got != 2 {
		t.Errorf("the collector received %v spans, want the 2 kept", got)
	}
	if got := sum(creg, contract.MetricHopDuration, sidecarHop); got != float64(len(ids)) {
		t.Errorf("hop sidecar _count %v, want %d (2 breakdowns × 4)", got, len(ids))
	}
	if got := sum(creg, contract.MetricSamplingThresholdInvalid, all); got != 0 {
		t.Errorf("%v thresholds unreadable", got)
	}
}
