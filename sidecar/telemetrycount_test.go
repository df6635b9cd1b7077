package sidecar

import (
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hopscope/hopscope/internal/testkit"
)

// TestTelemetryAccounted: at any moment every span ended is sent, queued
// or dropped (hopscope_telemetry_sent_total + _queued + _dropped_total),
// whether the OTLP endpoint takes spans, is down or is a black hole; so an
// operator can tell a slow sink (queued grows) from a lost one.
func TestTelemetryAccounted(t *testing.T) {
	app, _ := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok")) }))
	for _, tc := range []struct {
		name     string
		endpoint func(t *testing.T) string
		sent     bool // all sent in the end
	}{
		{"delivered", func(t *testing.T) string { return newOTLPSink(t).url }, true},
		{"down", func(t *testing.T) string { return "http://" + deadAddr(t) }, false},
		{"black hole", func(t *testing.T) string { return "http://" + blackhole(t) }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := startSidecar(t, app, func(c *Config) { c.OTLPEndpoint = tc.endpoint(t) })
			const n = 300
			for range n {
				resp, err := http.Get(h.url + "/x")
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			value := func(name string) float64 {
				mfs, err := h.reg.Gather()
				if err != nil {
					t.Fatal(err)
				}
				for _, mf := range mfs {
					if mf.GetName() != name {
						continue
					}
					for _, m := range mf.Metric {
						for _, l := range m.Label {
							if l.GetName() == "sink" && l.GetValue() == SinkOTLP {
								if m.Counter != nil {
									return m.Counter.GetValue()
								}
								return m.Gauge.GetValue()
							}
						}
					}
				}
				t.Fatalf("no %s{sink=otlp}", name)
				return 0
			}
			check := func(when string) (sent, queued, dropped float64) {
				// Read in this order: a span moves from queued to sent or
				// dropped, never back, so it is counted at least once.
				queued = value("hopscope_telemetry_queued")
				sent = value("hopscope_telemetry_sent_total")
				dropped = testutil.ToFloat64(h.sc.metrics.dropped.WithLabelValues(SinkOTLP))
				if sent+queued+dropped < n {
					t.Errorf("%s: sent %v + queued %v + dropped %v < %d spans ended", when, sent, queued, dropped, n)
				}
				return
			}
			check("at once")
			testkit.Eventually(t, "every span sent or dropped", 10*time.Second, func() bool {
				sent, queued, dropped := check("while waiting")
				return queued == 0 && sent+dropped == n
			})
			sent, _, dropped := check("in the end")
			if tc.sent && sent != n || !tc.sent && dropped != n {
				t.Errorf("sent %v, dropped %v of %d", sent, dropped, n)
			}
		})
	}
}
