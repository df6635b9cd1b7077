package httpegress

import (
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/hopscope/hopscope/sidecar/backend"
	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// BenchmarkGET compares a GET straight to a target with the same GET
// through a kind http listener, at the same concurrency (RunParallel,
// GOMAXPROCS goroutines). Spans are made by an SDK tracer and dropped, as
// if sampled out after recording; the allocations include the client's
// and the target's.
func BenchmarkGET(b *testing.B) {
	body := []byte(`{"id":"ch_1","amount":4200,"currency":"eur","status":"succeeded"}`)
	tgt := target(b, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	})
	tp := sdktrace.NewTracerProvider()
	b.Cleanup(func() { tp.Shutdown(context.Background()) })
	rec, err := backend.NewRecorder(backend.Options{Tracer: tp.Tracer("bench"), Tracker: backend.NewTracker(), Registerer: prometheus.NewRegistry()})
	if err != nil {
		b.Fatal(err)
	}
	e := &env{t: b, rec: rec}
	_, addr := e.backendProxy(backend.Config{Target: tgt.URL}, Options{})

	for _, c := range []struct{ name, url string }{
		{"direct", tgt.URL + "/v1/charges/ch_1"},
		{"proxied", "http://" + addr + "/v1/charges/ch_1"},
	} {
		b.Run(c.name, func(b *testing.B) {
			tr := &http.Transport{MaxIdleConnsPerHost: 256, DisableCompression: true}
			defer tr.CloseIdleConnections()
			cl := &http.Client{Transport: tr}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := cl.Get(c.url)
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						b.Errorf("status %d", resp.StatusCode)
						return
					}
				}
			})
		})
	}
}
