package sidecar

import (
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/hopscope/hopscope/internal/testkit"
)

// harness runs a real Sidecar on loopback in front of a test upstream.
type harness struct {
	t     *testing.T
	sc    *Sidecar
	reg   *prometheus.Registry
	logs  *testkit.SyncBuffer
	url   string // inbound base URL
	admin string // admin base URL
}

func startSidecar(t *testing.T, upstream string, mutate func(*Config)) *harness {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.AdminListen = "127.0.0.1:0"
	cfg.Upstream = upstream
	cfg.Service = "shop"
	cfg.ShutdownGrace = 0
	cfg.DrainTimeout = 5 * time.Second
	if mutate != nil {
		mutate(&cfg)
	}
	reg := prometheus.NewRegistry()
	logs := &testkit.SyncBuffer{}
	sc, err := New(cfg, Options{Registerer: reg, Gatherer: reg, AccessLogWriter: logs})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := sc.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	h := &harness{t: t, sc: sc, reg: reg, logs: logs,
		url: "http://" + sc.Addr().String(), admin: "http://" + sc.AdminAddr().String()}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		_ = sc.Shutdown(ctx)
	})
	return h
}

// shutdown drains the sidecar now (flushing logs and spans).
func (h *harness) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := h.sc.Shutdown(ctx); err != nil {
		h.t.Fatalf("Shutdown: %v", err)
	}
}

// counter returns the value of a counter with the given labels.
func (h *harness) counter(vec *prometheus.CounterVec, labels ...string) float64 {
	return testutil.ToFloat64(vec.WithLabelValues(labels...))
}

// getStatus GETs url and returns the status, the body read and closed
// (an unclosed body holds its connection and the goroutines behind it).
func getStatus(t *testing.T, url string) int {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}

// upstream starts an HTTP/1.1 test app on loopback.
func upstream(t *testing.T, h http.Handler) (url string, conns *connCounter) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns = &connCounter{}
	srv := &http.Server{Handler: h, ConnState: conns.track, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		srv.Close()
	})
	return "http://" + ln.Addr().String(), conns
}

type connCounter struct {
	mu  sync.Mutex
	new int
}

func (c *connCounter) track(_ net.Conn, s http.ConnState) {
	if s == http.StateNew {
		c.mu.Lock()
		c.new++
		c.mu.Unlock()
	}
}

func (c *connCounter) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.new
}

// deadAddr returns a loopback address nobody listens on.
func deadAddr(t *testing.T) string { return testkit.ClosedAddr(t) }

// blackhole returns the address of a listener that accepts connections and
// never answers, like a sink whose process hangs.
func blackhole(t *testing.T) string { return testkit.BlackHole(t) }

// otlpSink is a minimal OTLP/HTTP trace receiver: the sidecar's real
// exporter sends protobuf to it and tests read the spans back.
type otlpSink struct {
	mu    sync.Mutex
	spans []*tracepb.Span
	res   [][]byte
	url   string
}

func newOTLPSink(t *testing.T) *otlpSink {
	s := &otlpSink{}
	u, _ := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil || r.URL.Path != "/v1/traces" {
			http.Error(w, "bad", http.StatusBadRequest)
			return
		}
		var req coltracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(body, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		for _, rs := range req.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				s.spans = append(s.spans, ss.Spans...)
			}
		}
		s.res = append(s.res, body)
		s.mu.Unlock()
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.Write(out)
	}))
	s.url = u
	return s
}

func (s *otlpSink) Spans() []*tracepb.Span {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*tracepb.Span(nil), s.spans...)
}

// attrs flattens a span's attributes to strings.
func attrs(sp *tracepb.Span) map[string]string {
	m := map[string]string{}
	for _, kv := range sp.Attributes {
		switch v := kv.Value.Value.(type) {
		case *commonpb.AnyValue_StringValue:
			m[kv.Key] = v.StringValue
		case *commonpb.AnyValue_IntValue:
			m[kv.Key] = strconv.FormatInt(v.IntValue, 10)
		case *commonpb.AnyValue_DoubleValue:
			m[kv.Key] = strconv.FormatFloat(v.DoubleValue, 'f', -1, 64)
		case *commonpb.AnyValue_BoolValue:
			m[kv.Key] = strconv.FormatBool(v.BoolValue)
		}
	}
	return m
}
