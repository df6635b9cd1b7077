package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// template is one OTLP export request, encoded once; every send writes a
// fresh request number into the first 8 bytes of each trace id, so that
// every request brings new traces, at no encoding cost.
type template struct {
	body    []byte
	offsets []int // of the trace ids' bytes in body
	spans   int
}

func kv(k, v string) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
}

// newTemplate encodes traces traces of a sidecar server span and children
// PostgreSQL client spans each: spans the collector files in its store
// and holds for export, the work it exists for.
func newTemplate(traces, children int) (*template, error) {
	var spans []*tracepb.Span
	now := uint64(time.Now().UnixNano())
	var tids [][]byte
	for i := range traces {
		tid := make([]byte, 16)
		// A marker to find it by; the first 8 bytes are overwritten.
		copy(tid, "hopscope")
		binary.BigEndian.PutUint64(tid[8:], 0x5eed_0000_0000_0000|uint64(i+1))
		tids = append(tids, tid)
		root := binary.BigEndian.AppendUint64(nil, uint64(i+1)<<8)
		spans = append(spans, &tracepb.Span{TraceId: tid, SpanId: root, Name: "GET /orders/{id}", Kind: tracepb.Span_SPAN_KIND_SERVER,
			StartTimeUnixNano: now, EndTimeUnixNano: now + 12e6,
			Attributes: []*commonpb.KeyValue{kv("hopscope.component", "sidecar"), kv("http.request.method", "GET"),
				kv("http.route", "/orders/{id}"), kv("http.response.status_code", "200"), kv("hopscope.request_id", fmt.Sprintf("req-%d", i))}})
		for c := range children {
			sid := binary.BigEndian.AppendUint64(nil, uint64(i+1)<<8|uint64(c+1))
			spans = append(spans, &tracepb.Span{TraceId: tid, SpanId: sid, ParentSpanId: root, Name: "SELECT orders", Kind: tracepb.Span_SPAN_KIND_CLIENT,
				StartTimeUnixNano: now + 1e6, EndTimeUnixNano: now + 3e6,
				Attributes: []*commonpb.KeyValue{kv("db.system.name", "postgresql"), kv("db.operation.name", "SELECT"),
					kv("server.address", "orders-db"), kv("db.query.text", "SELECT * FROM orders WHERE id = $1")}})
		}
	}
	req := &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
		Resource:   &resourcepb.Resource{Attributes: []*commonpb.KeyValue{kv("service.name", "shop"), kv("k8s.namespace.name", "shop")}},
		ScopeSpans: []*tracepb.ScopeSpans{{Scope: &commonpb.InstrumentationScope{Name: "hopscope"}, Spans: spans}},
	}}}
	body, err := proto.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("encoding the request template: %w", err)
	}
	t := &template{body: body, spans: len(spans)}
	for _, tid := range tids {
		for from := 0; ; {
			i := bytes.Index(body[from:], tid)
			if i < 0 {
				break
			}
			t.offsets = append(t.offsets, from+i)
			from += i + len(tid)
		}
	}
	if len(t.offsets) != len(spans) {
		return nil, fmt.Errorf("request template: found %d trace ids for %d spans", len(t.offsets), len(spans))
	}
	return t, nil
}

// request returns the body of request number n: a copy of the template
// with n in every trace id.
func (t *template) request(n uint64) []byte {
	b := bytes.Clone(t.body)
	for _, o := range t.offsets {
		binary.BigEndian.PutUint64(b[o:], n)
	}
	return b
}

// outcome counts what became of the requests sent.
type outcome struct {
	sent, ok, refused, failed, skipped atomic.Int64
	spansOK                            atomic.Int64
}

// outcomeSnap is outcome at one moment.
type outcomeSnap struct {
	Sent    int64 `json:"sent"`
	OK      int64 `json:"ok"`
	Refused int64 `json:"refused"`
	Failed  int64 `json:"failed"`
	Skipped int64 `json:"skipped"`
	SpansOK int64 `json:"spans_ok"`
}

func (o *outcome) snap() outcomeSnap {
	return outcomeSnap{o.sent.Load(), o.ok.Load(), o.refused.Load(), o.failed.Load(), o.skipped.Load(), o.spansOK.Load()}
}

// generator sends OTLP/HTTP export requests to url.
type generator struct {
	url    string
	tmpl   *template
	client *http.Client
	seq    atomic.Uint64
	out    outcome
	// inflight bounds the requests under way (the collector's OTLP/HTTP
	// connection limit is 512); a request due beyond it is skipped.
	inflight chan struct{}
	wg       sync.WaitGroup
}

func newGenerator(url string, tmpl *template, maxInFlight int) *generator {
	tr := &http.Transport{MaxIdleConns: maxInFlight, MaxIdleConnsPerHost: maxInFlight, MaxConnsPerHost: maxInFlight,
		IdleConnTimeout: 30 * time.Second, DisableCompression: true}
	return &generator{url: url, tmpl: tmpl, client: &http.Client{Transport: tr, Timeout: 60 * time.Second},
		inflight: make(chan struct{}, maxInFlight)}
}

// send posts one request and counts its outcome: 200 ok, 429 or 503
// refused (the sender would retry later; this one does not, so that the
// offered load stays what it is), anything else failed.
func (g *generator) send(ctx context.Context) {
	g.out.sent.Add(1)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.url, bytes.NewReader(g.tmpl.request(g.seq.Add(1))))
	if err != nil {
		g.out.failed.Add(1)
		return
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	res, err := g.client.Do(req)
	if err != nil {
		if !errors.Is(err, context.Canceled) {
			g.out.failed.Add(1)
		}
		return
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	switch res.StatusCode {
	case http.StatusOK:
		g.out.ok.Add(1)
		g.out.spansOK.Add(int64(g.tmpl.spans))
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		g.out.refused.Add(1)
	default:
		g.out.failed.Add(1)
	}
}

// closedLoop keeps workers requests under way, each sent as the previous
// one is answered, until phase ends: what the collector can take.
func (g *generator) closedLoop(ctx, phase context.Context, workers int) {
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for phase.Err() == nil {
				g.send(ctx)
			}
		}()
	}
	wg.Wait()
}

// openLoop sends requests at rate per second, whatever the answers, until
// phase ends; a request due while every in-flight slot is taken is skipped
// (counted), so that a stalled collector does not stall the schedule.
// Requests run under ctx: those under way when the phase ends go on.
func (g *generator) openLoop(ctx, phase context.Context, rate float64) {
	start := time.Now()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	var due int64
	for {
		select {
		case <-phase.Done():
			return
		case <-tick.C:
		}
		want := int64(time.Since(start).Seconds() * rate)
		for ; due < want; due++ {
			select {
			case g.inflight <- struct{}{}:
				g.wg.Add(1)
				go func() {
					defer g.wg.Done()
					defer func() { <-g.inflight }()
					g.send(ctx)
				}()
			default:
				g.out.skipped.Add(1)
			}
		}
	}
}
