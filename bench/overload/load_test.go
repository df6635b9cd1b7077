package main

import (
	"context"
	"encoding/binary"
	"net/http"
	"net/http/httptest"
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

// TestTemplateRequests: every request is a valid export of the template's
// spans whose traces carry the request's number: new traces each time, the
// same spans in each trace.
func TestTemplateRequests(t *testing.T) {
	tmpl, err := newTemplate(3, 2)
	if err != nil {
		t.Fatal(err)
	}
	if tmpl.spans != 9 {
		t.Fatalf("%d spans, want 9", tmpl.spans)
	}
	for _, n := range []uint64{1, 0xfeed} {
		var req coltracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(tmpl.request(n), &req); err != nil {
			t.Fatal(err)
		}
		spans := req.ResourceSpans[0].ScopeSpans[0].Spans
		traces := map[string]int{}
		for _, sp := range spans {
			if got := binary.BigEndian.Uint64(sp.TraceId); got != n {
				t.Fatalf("request %d: trace id %x", n, sp.TraceId)
			}
			traces[string(sp.TraceId)]++
		}
		if len(spans) != 9 || len(traces) != 3 {
			t.Fatalf("request %d: %d spans in %d traces", n, len(spans), len(traces))
		}
	}
}

// TestMetricsReader: the series the report needs, from a collector's
// exposition; -1 when the scrape fails.
func TestMetricsReader(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte(`# HELP x
go_memstats_heap_alloc_bytes 1e+06
hopscope_collector_memory_heap_bytes 2.5e+08
hopscope_collector_memory_refusing 1
hopscope_collector_received_total{source="forward"} 7
hopscope_collector_received_total{source="otlp"} 123456
hopscope_collector_rejected_total{reason="memory_limit",source="otlp"} 42
hopscope_collector_rejected_total{reason="memory_limit",source="rum"} 5
`))
	}))
	defer srv.Close()
	m := &metricsReader{url: srv.URL, client: srv.Client()}
	heap, refusing, received, rejected := m.read(context.Background())
	if heap != 2.5e8 || refusing != 1 || received != 123456 || rejected != 42 {
		t.Errorf("read %v %v %v %v", heap, refusing, received, rejected)
	}
	m.url = "http://127.0.0.1:1/metrics"
	if heap, _, _, _ := m.read(context.Background()); heap != -1 {
		t.Errorf("failed scrape: heap %v, want -1", heap)
	}
}
