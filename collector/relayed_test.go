package collector

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	"google.golang.org/protobuf/proto"

	"github.com/hopscope/hopscope/collector/relay"
	"github.com/hopscope/hopscope/correlate"
	"github.com/hopscope/hopscope/internal/testkit"
)

// TestRelayToOwner: with --gateway-endpoint, a line this replica parses
// is joined by the replica the gateway routes its trace id to, under the
// source that took it in, and not here; a line without a trace id stays
// here. The gateway is stood in for by a pass-through of /v1/traces to
// the owner's OTLP/HTTP receiver (test/e2e's TestScaleOutRecords runs the real
// one, routing by trace id over three replicas).
func TestRelayToOwner(t *testing.T) {
	owner := startCollector(t, nil)
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resp, err := http.Post("http://"+owner.OTLPHTTPAddr().String()+r.URL.Path, r.Header.Get("Content-Type"), r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	}))
	defer gw.Close()
	line, err := os.ReadFile(filepath.Join("testdata", "recorded", "ingress_retries", "ingress.log"))
	if err != nil {
		t.Fatal(err)
	}
	// The taker tails an ingress log, as from a hostPath.
	logPath := filepath.Join(t.TempDir(), "ingress.log")
	if err := os.WriteFile(logPath, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	taker := startCollector(t, func(c *Config) {
		c.GatewayEndpoint = gw.URL
		c.Tail = []string{FormatIngressNginxJSON + ":" + logPath}
	})
	appendLine := func(l string) {
		f, err := os.OpenFile(logPath, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteString(l); err != nil {
			t.Fatal(err)
		}
	}
	appendLine(string(line))
	id, _ := correlate.TraceIDFromXRayRoot("1-67891233-abcdef012345678912345678")
	testkit.Eventually(t, "the owner has the relayed line's trace", waitLimit, func() bool {
		_, ok := owner.store.View(id)
		return ok
	}, func() string {
		return fmt.Sprintf("no trace on the owner; taker sent %v failed %v received %v; owner rejected %v",
			testutil.ToFloat64(taker.relayM.Counter(SrcIngress, relay.OutcomeSent)), testutil.ToFloat64(taker.relayM.Counter(SrcIngress, relay.OutcomeFailed)),
			testutil.ToFloat64(taker.m.received.WithLabelValues(SrcIngress)), testutil.ToFloat64(owner.m.rejected.WithLabelValues(SrcOTLP, "malformed")))
	})
	b, _ := owner.store.View(id)
	if got := testutil.ToFloat64(owner.m.received.WithLabelValues(SrcIngress)); got != 1 {
		t.Errorf("owner received %v ingress records, want 1", got)
	}
	if len(b.Tries) != 2 {
		b2, _ := json.Marshal(b)
		t.Errorf("the owner's breakdown lacks the line's two upstream tries: %s", b2)
	}
	if _, ok := taker.store.View(id); ok {
		t.Error("the replica that took the line in joined it too")
	}
	if got := testutil.ToFloat64(taker.relayM.Counter(SrcIngress, relay.OutcomeSent)); got != 1 {
		t.Errorf("taker relayed %v, want 1 sent", got)
	}
	// A line with only a request id of another form is joined here.
	appendLine(strings.Replace(string(line), `"http_x_amzn_trace_id":"Root=1-67891233-abcdef012345678912345678"`, `"http_x_amzn_trace_id":""`, 1))
	testkit.Eventually(t, "the unroutable line is joined where it was read", waitLimit, func() bool {
		return taker.store.Stats().Pending == 1
	}, func() string { return fmt.Sprintf("%d pending", taker.store.Stats().Pending) })
	if got := testutil.ToFloat64(taker.relayM.Counter(SrcIngress, relay.OutcomeUnroutable)); got != 1 {
		t.Errorf("unroutable %v, want 1", got)
	}
}

// TestRelayedSpansChecked: a span carrying a relayed record is joined as
// that record, under its source, and not counted or kept as a span; one
// whose record does not decode, or that names a source that does not
// relay, is refused and counted, the rest of its request kept.
func TestRelayedSpansChecked(t *testing.T) {
	c := startCollector(t, nil)
	good, _ := relay.Encode([]relay.Item{
		{Source: SrcIngress, Record: &correlate.IngressLog{Keys: correlate.Keys{TraceID: "0af7651916cd43dd8448eb211c80319c"},
			Start: time.Unix(1795687200, 0), RequestTime: time.Millisecond}},
		{Source: "made-up", Record: &correlate.IngressLog{Keys: correlate.Keys{TraceID: "1af7651916cd43dd8448eb211c80319c"},
			Start: time.Unix(1795687200, 0), RequestTime: time.Millisecond}},
		{Source: SrcRUM, Record: &correlate.BrowserTiming{Keys: correlate.Keys{TraceID: "2af7651916cd43dd8448eb211c80319c"},
			Start: time.Unix(1795687200, 0), Total: time.Millisecond}},
	}, time.Now())
	var req coltracepb.ExportTraceServiceRequest
	_ = proto.Unmarshal(good, &req)
	spans := req.ResourceSpans[0].ScopeSpans[0].Spans
	for i, sp := range spans {
		id := mustTraceID(t, []string{"0af7651916cd43dd8448eb211c80319c", "1af7651916cd43dd8448eb211c80319c", "2af7651916cd43dd8448eb211c80319c"}[i])
		sp.TraceId = id[:]
	}
	spans[2].Attributes[1].Value.Value = &commonpb.AnyValue_StringValue{StringValue: "not JSON"}
	body, _ := proto.Marshal(&req)
	resp, err := http.Post("http://"+c.OTLPHTTPAddr().String()+"/v1/traces", "application/x-protobuf", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s", resp.Status)
	}
	if got := testutil.ToFloat64(c.m.received.WithLabelValues(SrcIngress)); got != 1 {
		t.Errorf("received %v relayed ingress records, want 1", got)
	}
	if got := testutil.ToFloat64(c.m.received.WithLabelValues(SrcOTLP)); got != 0 {
		t.Errorf("received %v OTLP spans, want none: relayed records are not spans", got)
	}
	if got := testutil.ToFloat64(c.m.rejected.WithLabelValues(SrcOTLP, "malformed")); got != 2 {
		t.Errorf("rejected %v, want the forged source and the bad body", got)
	}
	if got := testutil.ToFloat64(c.m.received.WithLabelValues("made-up")); got != 0 {
		t.Error("a forged source became a label value")
	}
	if _, ok := c.store.View(mustTraceID(t, "0af7651916cd43dd8448eb211c80319c")); !ok {
		t.Error("the relayed record's trace is not held")
	}
}
