package sidecar

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/hopscope/hopscope/internal/testkit"
)

// TestDrainTimeoutCutsRequests: requests still running when --drain-timeout
// ends are cut by the sidecar, answered (when no header has left yet) and
// recorded as 503 sidecar_shutdown in the access log, the span and the
// metrics, never as a client's 499; Shutdown still flushes and returns nil,
// and a Warn line says how many were cut.
func TestDrainTimeoutCutsRequests(t *testing.T) {
	for _, tt := range []struct {
		name string
		// headersFirst: the app sends its headers and a first chunk,
		// then stalls, so the client has a 200 when the cut comes.
		headersFirst bool
	}{
		{name: "waiting for the app's headers"},
		{name: "mid-body", headersFirst: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			arrived := make(chan struct{}, 1)
			up, _ := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.headersFirst {
					io.WriteString(w, "first chunk")
					w.(http.Flusher).Flush()
				}
				arrived <- struct{}{}
				select { // far longer than the drain
				case <-time.After(10 * time.Second):
				case <-r.Context().Done():
				}
			}))
			sink := newOTLPSink(t)
			cfg := DefaultConfig()
			cfg.Listen, cfg.AdminListen = "127.0.0.1:0", "127.0.0.1:0"
			cfg.Upstream, cfg.Service, cfg.OTLPEndpoint = up, "shop", sink.url
			cfg.ShutdownGrace, cfg.DrainTimeout = 0, 300*time.Millisecond
			core, diag := observer.New(zapcore.InfoLevel)
			reg := prometheus.NewRegistry()
			logs := &testkit.SyncBuffer{}
			sc, err := New(cfg, Options{Registerer: reg, Gatherer: reg, AccessLogWriter: logs, Logger: zap.New(core)})
			if err != nil {
				t.Fatal(err)
			}
			if err := sc.Start(context.Background()); err != nil {
				t.Fatal(err)
			}

			type result struct {
				status int
				body   string
				err    error
			}
			got := make(chan result, 1)
			go func() {
				client := &http.Client{Timeout: 10 * time.Second}
				res, err := client.Get("http://" + sc.Addr().String() + "/orders/7")
				if err != nil {
					got <- result{err: err}
					return
				}
				b, err := io.ReadAll(res.Body)
				res.Body.Close()
				got <- result{status: res.StatusCode, body: string(b), err: err}
			}()
			select {
			case <-arrived:
			case <-time.After(10 * time.Second):
				t.Fatal("the request never reached the app")
			}

			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			start := time.Now()
			if err := sc.Shutdown(ctx); err != nil {
				t.Fatalf("Shutdown after cutting a request: %v (a cut is the drain's end, not an error)", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("Shutdown took %v with a 300ms drain", d)
			}

			var r result
			select {
			case r = <-got:
			case <-time.After(10 * time.Second):
				t.Fatal("the client never got an answer or a closed connection")
			}
			if tt.headersFirst {
				// The 200's headers had left: the body is cut short.
				if r.status != 200 || r.err == nil {
					t.Errorf("client: status %d, err %v, want a 200 whose body is cut", r.status, r.err)
				}
			} else {
				var body errorBody
				if r.err != nil || r.status != 503 || json.Unmarshal([]byte(r.body), &body) != nil || body.Error != ErrorSidecarShutdown {
					t.Errorf("client: status %d, body %q, err %v; want 503 %s", r.status, r.body, r.err, ErrorSidecarShutdown)
				}
			}

			// Access log: one line, status 503.
			lines := logs.Lines()
			if len(lines) != 1 {
				t.Fatalf("%d access lines, want 1: %q", len(lines), lines)
			}
			var rec struct{ Status int }
			if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil || rec.Status != StatusSidecarShutdown {
				t.Errorf("access line %s: status %d, want %d", lines[0], rec.Status, StatusSidecarShutdown)
			}
			// Span: 503, error.type sidecar_shutdown, status Error.
			spans := sink.Spans()
			if len(spans) != 1 {
				t.Fatalf("%d spans exported, want 1 (flushed after the cut)", len(spans))
			}
			a := attrs(spans[0])
			if a["http.response.status_code"] != "503" || a["error.type"] != ErrorSidecarShutdown ||
				spans[0].Status.GetCode() != tracepb.Status_STATUS_CODE_ERROR || spans[0].Status.GetMessage() != ErrorSidecarShutdown {
				t.Errorf("span: status_code %s, error.type %s, status %v", a["http.response.status_code"], a["error.type"], spans[0].Status)
			}
			// Metrics: code 503, no 499.
			m := sc.metrics
			if v := testCounter(m.requests, "inbound", "GET", "/orders/{id}", "503", ""); v != 1 {
				t.Errorf("hopscope_requests_total{code=503} = %v, want 1", v)
			}
			if v := testCounter(m.requests, "inbound", "GET", "/orders/{id}", "499", ""); v != 0 {
				t.Errorf("hopscope_requests_total{code=499} = %v: a cut counted as the client's", v)
			}
			// Diagnostics: one Warn with the count.
			warns := diag.FilterMessage("drain timeout: in-flight requests cut").All()
			if len(warns) != 1 || warns[0].Level != zapcore.WarnLevel || warns[0].ContextMap()["requests"] != int64(1) {
				t.Errorf("Warn lines: %+v", diag.All())
			}
		})
	}
}

// TestClientGoneIsStill499: a client that leaves during the drain, before
// it times out, is the client's doing: 499 as ever.
func TestClientGoneDuringDrainIs499(t *testing.T) {
	arrived := make(chan struct{}, 1)
	up, _ := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-r.Context().Done()
	}))
	h := startSidecar(t, up, func(c *Config) { c.DrainTimeout = 5 * time.Second })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, "GET", h.url+"/wait", nil)
		_, err := http.DefaultClient.Do(req)
		done <- err
	}()
	<-arrived
	shut := make(chan error, 1)
	go func() {
		sctx, scancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer scancel()
		shut <- h.sc.Shutdown(sctx)
	}()
	testkit.Eventually(t, "the sidecar draining", 10*time.Second, h.sc.draining.Load)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("client: %v", err)
	}
	if err := <-shut; err != nil {
		t.Fatal(err)
	}
	if v := h.counter(h.sc.metrics.requests, "inbound", "GET", "/wait", "499", ""); v != 1 {
		t.Errorf("499 counted %v times", v)
	}
	if l := h.logs.Lines(); len(l) != 1 || !strings.Contains(l[0], `"status":499`) {
		t.Errorf("access log %q", l)
	}
}

func testCounter(vec *prometheus.CounterVec, labels ...string) float64 {
	h := harness{}
	return h.counter(vec, labels...)
}

// TestShutdownFlushBudgets: with the OTLP endpoint a black hole, Shutdown
// still flushes every access-log record and returns nil within its flush
// budget: spans and access logs each get their own flushTimeout, side by
// side, and spans left over are a Warn, not an error (issue 19, item 6).
func TestShutdownFlushBudgets(t *testing.T) {
	defer func(d time.Duration) { flushTimeout = d }(flushTimeout)
	flushTimeout = 300 * time.Millisecond
	hole := blackhole(t)
	up, _ := upstream(t, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	core, logs := observer.New(zapcore.WarnLevel)
	cfg := DefaultConfig()
	cfg.Listen, cfg.AdminListen, cfg.Upstream, cfg.Service = "127.0.0.1:0", "127.0.0.1:0", up, "shop"
	cfg.ShutdownGrace, cfg.OTLPEndpoint = 0, "http://"+hole
	reg := prometheus.NewRegistry()
	out := &testkit.SyncBuffer{}
	sc, err := New(cfg, Options{Registerer: reg, Gatherer: reg, AccessLogWriter: out, Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	const requests = 600 // more than one export batch
	for range requests {
		res, err := http.Get("http://" + sc.Addr().String() + "/x")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
	start := time.Now()
	if err := sc.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Shutdown took %v with a flush budget of %v", took, flushTimeout)
	}
	if n := len(out.Lines()); n != requests {
		t.Errorf("%d access-log lines flushed, want %d", n, requests)
	}
	if logs.FilterMessage("spans not flushed").Len() != 1 {
		t.Errorf("no Warn about the spans left: %v", logs.All())
	}
}
