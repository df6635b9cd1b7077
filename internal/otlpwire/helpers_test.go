package otlpwire

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
)

// captureClient is an otlptrace.Client that keeps what the stock transform
// (otlptrace's internal tracetransform) hands it.
type captureClient struct {
	got []*tracepb.ResourceSpans
	// marshal makes UploadTraces proto.Marshal the request into buf (reused),
	// as otlptracehttp does, instead of keeping it.
	marshal bool
	buf     []byte
}

func (*captureClient) Start(context.Context) error { return nil }
func (*captureClient) Stop(context.Context) error  { return nil }

func (c *captureClient) UploadTraces(_ context.Context, rs []*tracepb.ResourceSpans) error {
	if c.marshal {
		var err error
		c.buf, err = proto.MarshalOptions{}.MarshalAppend(c.buf[:0], &coltracepb.ExportTraceServiceRequest{ResourceSpans: rs})
		return err
	}
	c.got = rs
	return nil
}

// stockRequest is what the stock otlptrace exporter would send for spans.
func stockRequest(t testing.TB, spans []sdktrace.ReadOnlySpan) *coltracepb.ExportTraceServiceRequest {
	t.Helper()
	c := &captureClient{}
	exp := otlptrace.NewUnstarted(c)
	if err := exp.ExportSpans(context.Background(), spans); err != nil {
		t.Fatalf("stock ExportSpans: %v", err)
	}
	return &coltracepb.ExportTraceServiceRequest{ResourceSpans: c.got}
}

func decode(t testing.TB, b []byte) *coltracepb.ExportTraceServiceRequest {
	t.Helper()
	var req coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(b, &req); err != nil {
		t.Fatalf("proto.Unmarshal of our bytes: %v", err)
	}
	return &req
}

// sortResourceSpans puts ResourceSpans in a canonical order: the stock
// transform emits them in map order.
func sortResourceSpans(req *coltracepb.ExportTraceServiceRequest) {
	key := func(rs *tracepb.ResourceSpans) []byte {
		k, err := proto.MarshalOptions{Deterministic: true}.Marshal(rs.GetResource())
		if err != nil {
			panic(err)
		}
		return append(k, rs.GetSchemaUrl()...)
	}
	slices.SortStableFunc(req.ResourceSpans, func(a, b *tracepb.ResourceSpans) int {
		return bytes.Compare(key(a), key(b))
	})
}

// clearLinkTraceState removes what the stock transform does not send,
// after checking it is what the source spans had.
func clearLinkTraceState(t testing.TB, req *coltracepb.ExportTraceServiceRequest, spans []sdktrace.ReadOnlySpan) {
	t.Helper()
	want := map[string]string{} // link trace id + span id → trace state
	for _, s := range spans {
		if s == nil {
			continue
		}
		for _, l := range s.Links() {
			tid, sid := l.SpanContext.TraceID(), l.SpanContext.SpanID()
			want[string(tid[:])+string(sid[:])] = l.SpanContext.TraceState().String()
		}
	}
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			for _, sp := range ss.Spans {
				for _, l := range sp.Links {
					k := string(l.TraceId) + string(l.SpanId)
					if w, ok := want[k]; !ok || l.TraceState != w {
						t.Errorf("link %x/%x: trace_state %q, want %q", l.TraceId, l.SpanId, l.TraceState, w)
					}
					l.TraceState = ""
				}
			}
		}
	}
}

// diff is a readable account of how got and want differ.
func diff(got, want proto.Message) string {
	opts := prototext.MarshalOptions{Multiline: true}
	g := strings.Split(opts.Format(got), "\n")
	w := strings.Split(opts.Format(want), "\n")
	for i := range max(len(g), len(w)) {
		gl, wl := line(g, i), line(w, i)
		if gl != wl {
			lo := max(0, i-8)
			return fmt.Sprintf("first difference at line %d:\n--- got\n%s\n--- want\n%s",
				i+1, strings.Join(g[lo:min(len(g), i+4)], "\n"), strings.Join(w[lo:min(len(w), i+4)], "\n"))
		}
	}
	return "(text forms identical)"
}

func line(ls []string, i int) string {
	if i < len(ls) {
		return ls[i]
	}
	return "<EOF>"
}

// countSpans is the number of spans in req.
func countSpans(req *coltracepb.ExportTraceServiceRequest) int {
	n := 0
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			n += len(ss.Spans)
		}
	}
	return n
}

// record runs f against a fresh provider built with opts and returns the
// spans it ended, in order.
func record(f func(tp trace.TracerProvider), opts ...sdktrace.TracerProviderOption) []sdktrace.ReadOnlySpan {
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(append(opts, sdktrace.WithSpanProcessor(sr))...)
	f(tp)
	_ = tp.Shutdown(context.Background())
	return sr.Ended()
}
