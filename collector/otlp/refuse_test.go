package otlp

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hopscope/hopscope/internal/testkit"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// TestRefuseMemoryLimit: while Config.Refuse reports true, OTLP/HTTP
// answers 429 with Retry-After before reading the body (a large body that
// never comes gets its answer at once; a small one sent whole is
// discarded and the connection kept for the retry) and OTLP/gRPC
// RESOURCE_EXHAUSTED with RetryInfo before reading the message (one too
// large is refused as memory_limit, not too_large); nothing reaches the
// consumer and each refusal is counted as memory_limit.
func TestRefuseMemoryLimit(t *testing.T) {
	var c captured
	var rs rejects
	var refusing atomic.Bool
	refusing.Store(true)
	r := start(t, &c, func(cfg *Config) { cfg.OnReject = rs.note; cfg.Refuse = refusing.Load; cfg.MaxRequestBytes = 1 << 20 })

	t.Run("http", func(t *testing.T) {
		conn, err := net.DialTimeout("tcp", r.HTTPAddr().String(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		br := bufio.NewReader(conn)
		ask := func(req string) *http.Response {
			t.Helper()
			if _, err := io.WriteString(conn, req); err != nil {
				t.Fatal(err)
			}
			res, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") != "1" {
				t.Errorf("%d, Retry-After %q; want 429, 1", res.StatusCode, res.Header.Get("Retry-After"))
			}
			return res
		}
		// Whole and small: answered, the connection kept.
		if res := ask("POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\nContent-Length: 1000\r\n\r\n" + strings.Repeat("x", 1000)); res.Close {
			t.Error("connection closed after a small body")
		}
		// 16 MiB announced, 10 bytes sent: answered before the rest.
		if res := ask("POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\nContent-Length: 16777216\r\n\r\n0123456789"); !res.Close {
			t.Error("connection kept after an unread large body")
		}
	})
	t.Run("grpc", func(t *testing.T) {
		cc := rawGRPC(t, r)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		// 2 MiB, past MaxRequestBytes: read, it would be refused as
		// too_large; refused first, it is not read.
		err := cc.Invoke(ctx, "/opentelemetry.proto.collector.trace.v1.TraceService/Export", &RawMessage{B: make([]byte, 2<<20)}, &RawMessage{})
		st := status.Convert(err)
		if st.Code() != codes.ResourceExhausted {
			t.Fatalf("%v, want ResourceExhausted", err)
		}
		var delay time.Duration
		for _, d := range st.Details() {
			if ri, ok := d.(*errdetails.RetryInfo); ok {
				delay = ri.GetRetryDelay().AsDuration()
			}
		}
		if delay != time.Second {
			t.Errorf("RetryInfo delay %v, want 1s (details %v)", delay, st.Details())
		}
	})
	if n := len(c.get()); n != 0 {
		t.Errorf("%d spans consumed while refusing", n)
	}
	if got := rs.get("memory_limit"); got != 3 || len(rs.snapshot()) != 1 {
		t.Errorf("refusals counted %v, want memory_limit: 3", rs.snapshot())
	}
}

// TestRefusedSendersRetry: the OpenTelemetry SDK's exporters, retrying as
// they do by default, deliver once the refusal ends: each is refused once
// (the refusal is lifted when it is counted), waits the second it is told
// and sends again.
func TestRefusedSendersRetry(t *testing.T) {
	var c captured
	var refusing atomic.Bool
	var refused atomic.Int32
	r := start(t, &c, func(cfg *Config) {
		cfg.Refuse = refusing.Load
		cfg.OnReject = func(reason string) {
			if reason == "memory_limit" {
				refused.Add(1)
				refusing.Store(false)
			}
		}
	})
	ctx := context.Background()
	for _, proto := range []string{"http", "grpc"} {
		t.Run(proto, func(t *testing.T) {
			var exp sdktrace.SpanExporter
			var err error
			if proto == "http" {
				exp, err = otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL("http://"+r.HTTPAddr().String()+"/v1/traces"),
					otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: true, InitialInterval: 10 * time.Millisecond, MaxInterval: time.Second, MaxElapsedTime: 10 * time.Second}))
			} else {
				exp, err = otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(r.GRPCAddr().String()), otlptracegrpc.WithInsecure(),
					otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig{Enabled: true, InitialInterval: 10 * time.Millisecond, MaxInterval: time.Second, MaxElapsedTime: 10 * time.Second}))
			}
			if err != nil {
				t.Fatal(err)
			}
			defer exp.Shutdown(ctx)
			refusing.Store(true)
			before, refusedBefore := len(c.get()), refused.Load()
			start := time.Now()
			err = exp.ExportSpans(ctx, tracetest.SpanStubs{{Name: proto, SpanContext: trace.NewSpanContext(trace.SpanContextConfig{
				TraceID: trace.TraceID{9}, SpanID: trace.SpanID{proto[0]}, TraceFlags: trace.FlagsSampled})}}.Snapshots())
			if err != nil {
				t.Fatalf("export after a refusal: %v", err)
			}
			if n := len(c.get()) - before; n != 1 || refused.Load()-refusedBefore != 1 {
				t.Fatalf("%d spans delivered after %d refusals, want 1 after 1", n, refused.Load()-refusedBefore)
			}
			if waited := time.Since(start); waited < 900*time.Millisecond {
				t.Errorf("resent after %v: the exporter did not wait the second it was told", waited)
			}
		})
	}
}

// TestRefuseAfterRead: a request whose body or message was read while
// refusing began is refused then, before the consumer, which would hold it
// (the second Refuse call of the request reports true), and counted once.
func TestRefuseAfterRead(t *testing.T) {
	var c captured
	var rs rejects
	var calls atomic.Int32
	r := start(t, &c, func(cfg *Config) {
		cfg.OnReject = rs.note
		cfg.Refuse = func() bool { return calls.Add(1)%2 == 0 } // the second ask of each request
	})
	body := exportBody(t)
	res, err := http.Post("http://"+r.HTTPAddr().String()+"/v1/traces", "application/x-protobuf", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") != "1" {
		t.Errorf("OTLP/HTTP: %d, Retry-After %q; want 429, 1", res.StatusCode, res.Header.Get("Retry-After"))
	}
	cc := rawGRPC(t, r)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = cc.Invoke(ctx, "/opentelemetry.proto.collector.trace.v1.TraceService/Export", &RawMessage{B: body}, &RawMessage{})
	if status.Code(err) != codes.ResourceExhausted {
		t.Errorf("OTLP/gRPC: %v, want ResourceExhausted", err)
	}
	if n := len(c.get()); n != 0 {
		t.Errorf("%d spans consumed", n)
	}
	if got := rs.get("memory_limit"); got != 2 || len(rs.snapshot()) != 1 || calls.Load() != 4 {
		t.Errorf("refusals counted %v after %d asks, want memory_limit: 2 after 4", rs.snapshot(), calls.Load())
	}
}

// exportBody is an ExportTraceServiceRequest of one span.
func exportBody(t *testing.T) []byte {
	t.Helper()
	b, err := proto.Marshal(&coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{ScopeSpans: []*tracepb.ScopeSpans{{
		Spans: []*tracepb.Span{{TraceId: bytes.Repeat([]byte{1}, 16), SpanId: bytes.Repeat([]byte{2}, 8), Name: "x"}}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestMaxInFlightBytes: requests whose bytes, with those of the requests
// under way, pass MaxInFlightBytes are refused as by Refuse (429,
// RESOURCE_EXHAUSTED, memory_limit); one larger than the bound alone goes
// through, and the bytes come back when a request ends, however it ends.
func TestMaxInFlightBytes(t *testing.T) {
	var c captured
	var rs rejects
	r := start(t, &c, func(cfg *Config) { cfg.OnReject = rs.note; cfg.MaxInFlightBytes = 1000 })
	body := exportBody(t)
	// Padded with an unknown field (15), which the walk skips.
	pad := func(n int) []byte {
		return append(bytes.Clone(body), append(protowire.AppendVarint([]byte{0x7a}, uint64(n)), make([]byte, n)...)...)
	}
	big := pad(1935)
	post := func(b []byte) int {
		t.Helper()
		res, err := http.Post("http://"+r.HTTPAddr().String()+"/v1/traces", "application/x-protobuf", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if code := post(big); code != http.StatusOK {
		t.Fatalf("a request larger than the bound, alone: %d", code)
	}
	// A body of 800 bytes that stalls after 10 holds 800 bytes.
	conn, err := net.DialTimeout("tcp", r.HTTPAddr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(conn, "POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\nContent-Length: 800\r\n\r\n0123456789")
	testkit.Eventually(t, "the stalled body's 800 bytes in flight", 5*time.Second, func() bool { return r.inFlight.n.Load() == 800 },
		func() string { return fmt.Sprintf("%d bytes in flight", r.inFlight.n.Load()) })
	if code := post(pad(300)); code != http.StatusTooManyRequests {
		t.Errorf("a request of %d bytes beside 800 in flight: %d, want 429", len(pad(300)), code)
	}
	cc := rawGRPC(t, r)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const method = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
	if err := cc.Invoke(ctx, method, &RawMessage{B: pad(300)}, &RawMessage{}); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("gRPC message beside 800 bytes in flight: %v, want ResourceExhausted", err)
	}
	if got := rs.get("memory_limit"); got != 2 {
		t.Errorf("refusals counted %v, want memory_limit: 2", rs.snapshot())
	}
	conn.Close() // the stalled request ends (read_error): its bytes come back
	testkit.Eventually(t, "no bytes in flight after every request ended", 5*time.Second, func() bool { return r.inFlight.n.Load() == 0 },
		func() string { return fmt.Sprintf("%d bytes in flight", r.inFlight.n.Load()) })
	if code := post(body); code != http.StatusOK {
		t.Errorf("after: %d", code)
	}
	if err := cc.Invoke(ctx, method, &RawMessage{B: body}, &RawMessage{}); err != nil {
		t.Errorf("gRPC after: %v", err)
	}
}
