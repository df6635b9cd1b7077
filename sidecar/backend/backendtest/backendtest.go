// Package backendtest holds what the backend proxies' tests share: reading
// back the hopscope_backend_* series a Recorder exported, serving a
// handler on loopback, an echo server.
package backendtest

import (
	"context"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Series returns the series of metric name whose labels include labels.
// A registry that cannot be gathered is a broken test: it panics.
func Series(g prometheus.Gatherer, name string, labels map[string]string) []*dto.Metric {
	mfs, err := g.Gather()
	if err != nil {
		panic(fmt.Sprintf("gathering metrics: %v", err))
	}
	var out []*dto.Metric
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue next
				}
			}
			out = append(out, m)
		}
	}
	return out
}

// Value is a gauge's or counter's value, or a histogram's sample count; -1
// for other types.
func Value(m *dto.Metric) float64 {
	switch {
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	return -1
}

// Server is what Serve needs of a backend.Server (an interface, so that
// the backend package's own tests may use this package too).
type Server interface {
	Start() error
	Shutdown(context.Context) error
	Addr() net.Addr
}

// Serve starts srv (a backend.Server listening on 127.0.0.1:0), stops it
// when the test ends, and returns its address.
func Serve(t testing.TB, srv Server) string {
	t.Helper()
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return srv.Addr().String()
}

// Echo is a TCP server on a free loopback port that sends back every byte
// it gets, closed when the test ends; it returns its address.
func Echo(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	return ln.Addr().String()
}
