package collector

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// offlineCollector is a collector with no listener but the internal API.
func offlineCollector(t *testing.T, edit func(*Config)) *Collector {
	t.Helper()
	cfg := DefaultConfig()
	cfg.OTLPGRPCListen, cfg.OTLPHTTPListen, cfg.ForwardListen, cfg.RUMListen, cfg.HTTPListen = "", "", "", "", "127.0.0.1:0"
	if edit != nil {
		edit(&cfg)
	}
	reg := prometheus.NewRegistry()
	c, err := New(cfg, Options{Registerer: reg, Gatherer: reg})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestGatewayLogLines: lines of the Envoy and Traefik formats, as a
// --tail of each format reads them, are received under the ingress source;
// a malformed one is refused and counted in
// hopscope_collector_rejected_total{source="ingress",reason="malformed"}.
func TestGatewayLogLines(t *testing.T) {
	for _, tt := range []struct {
		format, good, bad string
	}{
		{FormatEnvoy,
			`[2016-04-15T20:17:00.310Z] "POST /api/v1/locations HTTP/2" 204 - 154 0 226 100 "10.0.35.28" "nsq2http" "cc21d9b0-cf5c-432b-8c7e-98aeb7988cd2" "locations" "tcp://10.0.2.1:80"`,
			`[2016-04-15T20:17:00.310Z] "POST /api/v1/locations HTTP/2" 204 - 154 0 fast 100 "10.0.35.28" "nsq2http" "cc21d9b0" "locations" "tcp://10.0.2.1:80"`},
		{FormatEnvoyJSON, `{"duration":"37","x-request-id":"r1","traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}`, `{"duration":"soon"}`},
		{FormatTraefikJSON, `{"Duration":37000000,"request_X-Request-Id":"r2"}`, `{"Duration":37000000,"DownstreamStatus":"OK"}`},
	} {
		t.Run(tt.format, func(t *testing.T) {
			if _, err := ParseTail(tt.format + ":/var/log/x.log"); err != nil {
				t.Fatal(err)
			}
			c := offlineCollector(t, nil)
			consumeLine(c, tt.format, SrcIngress, "x.log", 1, tt.good)
			consumeLine(c, tt.format, SrcIngress, "x.log", 2, tt.bad)
			if n := testutilCounter(c.m.received.WithLabelValues(SrcIngress)); n != 1 {
				t.Errorf("received{ingress} = %v, want 1", n)
			}
			if n := testutilCounter(c.m.rejected.WithLabelValues(SrcIngress, "malformed")); n != 1 {
				t.Errorf("rejected{ingress,malformed} = %v, want 1", n)
			}
		})
	}
}
