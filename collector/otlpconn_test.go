package collector

import (
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/hopscope/hopscope/collector/otlp"
	"github.com/hopscope/hopscope/internal/testkit"
)

// TestOTLPHTTPSlowBodiesCounted replays issue 19 item 9: 1,100 slow-body
// connections to OTLP/HTTP (under a 1,024 descriptor limit they made
// /healthz time out). The receiver holds at most
// otlp.DefaultMaxHTTPConnections of them, the rest are closed and counted,
// and /healthz answers.
func TestOTLPHTTPSlowBodiesCounted(t *testing.T) {
	c := startCollector(t, nil)
	const conns = 1100
	for range conns {
		sc, err := net.DialTimeout("tcp", c.OTLPHTTPAddr().String(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer sc.Close()
		fmt.Fprintf(sc, "POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\nContent-Length: 100000\r\n\r\n0123")
	}
	want := float64(conns - otlp.DefaultMaxHTTPConnections)
	testkit.Eventually(t, "the connections beyond the cap counted", waitLimit, func() bool {
		return testutilCounter(c.m.rejected.WithLabelValues(SrcOTLP, "conn_limit")) == want
	})
	cl := &http.Client{Timeout: 2 * time.Second}
	res, err := cl.Get("http://" + c.HTTPAddr().String() + "/healthz")
	if err != nil {
		t.Fatalf("/healthz: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("/healthz: %d", res.StatusCode)
	}
}
