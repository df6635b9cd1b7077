package sidecar

import (
	"compress/gzip"
	"context"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.opentelemetry.io/otel/sdk/resource"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/hopscope/hopscope/collector/consumer"
	"github.com/hopscope/hopscope/collector/otlp"
	"github.com/hopscope/hopscope/internal/endpoint"
	"github.com/hopscope/hopscope/internal/otlpwire"
	"github.com/hopscope/hopscope/internal/testkit"
)

// noEnv is an environment without any variable.
func noEnv(string) (string, bool) { return "", false }

// otlpEnvVars are the exporter variables the tests clear first.
var otlpEnvVars = func() (out []string) {
	for _, name := range []string{"ENDPOINT", "PROTOCOL", "HEADERS", "COMPRESSION", "TIMEOUT", "CERTIFICATE"} {
		out = append(out, "OTEL_EXPORTER_OTLP_"+name, "OTEL_EXPORTER_OTLP_TRACES_"+name)
	}
	return out
}()

// exportRequest is what an OTLP/HTTP request brought.
type exportRequest struct {
	path, tenant, encoding string
	spans                  int
}

// otlpHTTPRecorder is an OTLP/HTTP trace receiver that notes each
// request's path, X-Tenant header and Content-Encoding, and decodes its
// spans (gunzipped when gzip).
type otlpHTTPRecorder struct {
	mu   sync.Mutex
	reqs []exportRequest
}

func (o *otlpHTTPRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	data, err := io.ReadAll(body)
	var req coltracepb.ExportTraceServiceRequest
	if err == nil {
		err = proto.Unmarshal(data, &req)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	n := 0
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			n += len(ss.Spans)
		}
	}
	o.mu.Lock()
	o.reqs = append(o.reqs, exportRequest{path: r.URL.Path, tenant: r.Header.Get("X-Tenant"), encoding: r.Header.Get("Content-Encoding"), spans: n})
	o.mu.Unlock()
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Write(out)
}

func (o *otlpHTTPRecorder) take() []exportRequest {
	o.mu.Lock()
	defer o.mu.Unlock()
	r := o.reqs
	o.reqs = nil
	return r
}

// exportOne makes a tracer provider as the sidecar does (the process's
// environment read), ends one span, shuts the provider down and returns
// the dropped counter.
func exportOne(t *testing.T, flag string) prometheus.Counter {
	t.Helper()
	dropped := prometheus.NewCounter(prometheus.CounterOpts{Name: "dropped"})
	c := DefaultConfig()
	c.OTLPEndpoint = flag
	tp, err := newTracerProvider(&c, resource.Empty(), dropped, prometheus.NewCounter(prometheus.CounterOpts{Name: "truncated"}), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, span := tp.Tracer("t").Start(context.Background(), "GET /")
	span.End()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	_ = tp.Shutdown(ctx)
	return dropped
}

// setEnv clears every exporter variable, then sets env, for the test.
func setEnv(t *testing.T, env map[string]string) {
	t.Helper()
	for _, k := range otlpEnvVars {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
}

// TestOTLPEnvOnHTTP (issue 12 item 5): the OpenTelemetry SDK's exporter
// variables reach the sidecar's OTLP/HTTP export, which is hopscope's own
// encoder and read none of them: the endpoint (general: a base to which
// v1/traces is appended; per signal: used as is; --otlp-endpoint over
// both), headers, gzip, the timeout and a CA certificate, the _TRACES_
// variant over the general one each. An in-process OTLP/HTTP server on
// loopback checks the path, the header and the encoding of what arrives.
func TestOTLPEnvOnHTTP(t *testing.T) {
	rec := &otlpHTTPRecorder{}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	tlsSrv := httptest.NewTLSServer(rec)
	t.Cleanup(tlsSrv.Close)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsSrv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	dead := "http://" + deadAddr(t)

	tests := []struct {
		name string
		flag string
		env  map[string]string
		want *exportRequest // nil: nothing arrives, the span is dropped
	}{
		{name: "general endpoint, headers, gzip",
			env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": srv.URL + "/base/", "OTEL_EXPORTER_OTLP_HEADERS": "x-tenant=acme",
				"OTEL_EXPORTER_OTLP_COMPRESSION": "gzip"},
			want: &exportRequest{path: "/base/v1/traces", tenant: "acme", encoding: "gzip", spans: 1}},
		{name: "general endpoint without a path",
			env:  map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": srv.URL},
			want: &exportRequest{path: "/v1/traces", spans: 1}},
		{name: "traces endpoint as is, over the general one; traces compression over the general one",
			env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": dead, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": srv.URL + "/custom/spans",
				"OTEL_EXPORTER_OTLP_COMPRESSION": "none", "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION": "gzip",
				"OTEL_EXPORTER_OTLP_TRACES_HEADERS": "x-tenant=traces"},
			want: &exportRequest{path: "/custom/spans", tenant: "traces", encoding: "gzip", spans: 1}},
		{name: "--otlp-endpoint over the variables, which still set the rest",
			flag: srv.URL, env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": dead, "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip"},
			want: &exportRequest{path: "/v1/traces", encoding: "gzip", spans: 1}},
		{name: "https verified with the certificate",
			env:  map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": tlsSrv.URL + "/v1/traces", "OTEL_EXPORTER_OTLP_CERTIFICATE": caFile},
			want: &exportRequest{path: "/v1/traces", spans: 1}},
		{name: "https without it: refused, counted",
			env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": tlsSrv.URL + "/v1/traces"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setEnv(t, tt.env)
			rec.take()
			dropped := exportOne(t, tt.flag)
			got := rec.take()
			if tt.want == nil {
				if len(got) != 0 || testutil.ToFloat64(dropped) != 1 {
					t.Errorf("received %+v, %v dropped; want nothing and 1", got, testutil.ToFloat64(dropped))
				}
				return
			}
			if len(got) != 1 || got[0] != *tt.want || testutil.ToFloat64(dropped) != 0 {
				t.Errorf("received %+v, %v dropped; want [%+v] and 0", got, testutil.ToFloat64(dropped), *tt.want)
			}
		})
	}

	// OTEL_EXPORTER_OTLP_TIMEOUT bounds an export: against a collector
	// that accepts and never answers the span is given up (and counted)
	// within it, not after the 5 s default.
	t.Run("timeout", func(t *testing.T) {
		setEnv(t, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://" + blackhole(t), "OTEL_EXPORTER_OTLP_TIMEOUT": "100"})
		dropped := prometheus.NewCounter(prometheus.CounterOpts{Name: "dropped"})
		c := DefaultConfig()
		tp, err := newTracerProvider(&c, resource.Empty(), dropped, prometheus.NewCounter(prometheus.CounterOpts{Name: "truncated"}), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tp.Shutdown(context.Background())
		_, span := tp.Tracer("t").Start(context.Background(), "GET /")
		span.End()
		testkit.Eventually(t, "the span given up within OTEL_EXPORTER_OTLP_TIMEOUT", 3*time.Second, func() bool {
			return testutil.ToFloat64(dropped) == 1
		})
	})
}

// TestOTLPEnvOnGRPC: the same variables choose and reach OTLP/gRPC
// (OTEL_EXPORTER_OTLP_PROTOCOL=grpc), to the collector's receiver.
func TestOTLPEnvOnGRPC(t *testing.T) {
	var received atomic.Int64
	cfg := otlp.DefaultConfig()
	cfg.GRPCListen, cfg.HTTPListen = "127.0.0.1:0", ""
	recv, err := otlp.New(cfg, consumer.Func(func(_ context.Context, in consumer.Input) error {
		return otlpwire.Walk(in.OTLP, func(*otlpwire.Resource, *otlpwire.Scope, *otlpwire.Span) error { received.Add(1); return nil })
	}))
	if err != nil {
		t.Fatal(err)
	}
	if err := recv.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = recv.Shutdown(context.Background()) })
	for _, env := range []map[string]string{
		{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://" + recv.GRPCAddr().String(), "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
			"OTEL_EXPORTER_OTLP_COMPRESSION": "gzip"},
		{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://" + recv.GRPCAddr().String(), "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
			"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "3000"},
	} {
		setEnv(t, env)
		before := received.Load()
		dropped := exportOne(t, "")
		if got := received.Load() - before; got != 1 || testutil.ToFloat64(dropped) != 0 {
			t.Errorf("%v: %d spans received, %v dropped; want 1 and 0", env, got, testutil.ToFloat64(dropped))
		}
	}
}

// TestResolveExport: what each variable gives, and the errors and
// warnings naming the variable.
func TestResolveExport(t *testing.T) {
	tests := []struct {
		name    string
		flag    string
		env     map[string]string
		ok      bool
		want    endpoint.OTLP
		gzip    bool
		timeout time.Duration
		warn    string // in the warning; "" = none
		err     string // in the error; "" = none
	}{
		{name: "nothing set: no export"},
		{name: "flag", flag: "grpc://c:4317", ok: true, want: endpoint.OTLP{GRPC: true, Target: "c:4317"}, timeout: exportTimeout},
		{name: "general http", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://c:4318/otlp"},
			ok: true, want: endpoint.OTLP{TLS: true, Target: "https://c:4318/otlp/v1/traces"}, timeout: exportTimeout},
		{name: "per signal without a path", env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318"},
			ok: true, want: endpoint.OTLP{Target: "http://c:4318/"}, timeout: exportTimeout},
		{name: "grpc over https", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
			ok: true, want: endpoint.OTLP{GRPC: true, TLS: true, Target: "c:4317"}, timeout: exportTimeout},
		{name: "gzip and timeout", flag: "http://c:4318", env: map[string]string{"OTEL_EXPORTER_OTLP_COMPRESSION": "gzip", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "2500"},
			ok: true, want: endpoint.OTLP{Target: "http://c:4318/v1/traces"}, gzip: true, timeout: 2500 * time.Millisecond},
		{name: "http/json refused", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json"},
			err: "OTEL_EXPORTER_OTLP_ENDPOINT: OTEL_EXPORTER_OTLP_TRACES_PROTOCOL is \"http/json\""},
		{name: "not a URL", env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "c:4318"}, err: "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: want an http:// or https:// URL"},
		{name: "bad flag", flag: "tcp://c", err: "--otlp-endpoint: unknown scheme"},
		{name: "bad timeout and compression warned, defaults kept", flag: "http://c:4318",
			env: map[string]string{"OTEL_EXPORTER_OTLP_TIMEOUT": "5s", "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION": "zstd"},
			ok:  true, want: endpoint.OTLP{Target: "http://c:4318/v1/traces"}, timeout: exportTimeout,
			warn: "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION: \"zstd\" is not gzip or none; not compressing\nOTEL_EXPORTER_OTLP_TIMEOUT: \"5s\" is not a positive number of milliseconds"},
		{name: "missing certificate warned", flag: "https://c:4318", env: map[string]string{"OTEL_EXPORTER_OTLP_CERTIFICATE": "/nonexistent/ca.pem"},
			ok: true, want: endpoint.OTLP{TLS: true, Target: "https://c:4318/v1/traces"}, timeout: exportTimeout,
			warn: "OTEL_EXPORTER_OTLP_CERTIFICATE: open /nonexistent/ca.pem"},
	}
	for _, tt := range tests {
		env := func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok }
		s, ok, warn, err := resolveExport(tt.flag, env)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.err)
			}
			continue
		}
		if err != nil || ok != tt.ok || s.endpoint != tt.want || s.gzip != tt.gzip || (tt.ok && s.timeout != tt.timeout) {
			t.Errorf("%s: %+v %v %v; want %+v gzip %v timeout %v ok %v", tt.name, s, ok, err, tt.want, tt.gzip, tt.timeout, tt.ok)
		}
		if (warn == nil) != (tt.warn == "") || (warn != nil && !strings.Contains(warn.Error(), tt.warn)) {
			t.Errorf("%s: warning %v, want %q", tt.name, warn, tt.warn)
		}
	}
}
