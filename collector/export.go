package collector

import (
	"bytes"
	"container/list"
	"context"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	"github.com/hopscope/hopscope/collector/otlp"
	"github.com/hopscope/hopscope/correlate"
	"github.com/hopscope/hopscope/internal/endpoint"
	"github.com/hopscope/hopscope/internal/otlpwire"
)

// spanSink sends one export request to the trace backend.
type spanSink interface {
	// Export sends an ExportTraceServiceRequest's protobuf bytes.
	Export(ctx context.Context, body []byte) error
	Close() error
}

func newSpanSink(raw string) (spanSink, error) {
	ep, err := endpoint.Parse(raw)
	if err != nil {
		return nil, err
	}
	if ep.GRPC {
		creds := insecure.NewCredentials()
		if ep.TLS {
			creds = credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS12})
		}
		conn, err := grpc.NewClient(ep.Target, grpc.WithTransportCredentials(creds))
		if err != nil {
			return nil, err
		}
		return &grpcSink{conn: conn}, nil
	}
	return &httpSink{url: ep.Target, client: &http.Client{Timeout: 10 * time.Second}}, nil
}

type httpSink struct {
	url    string
	client *http.Client
}

func (s *httpSink) Export(ctx context.Context, body []byte) error {
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	hreq.Header.Set("Content-Type", "application/x-protobuf")
	res, err := s.client.Do(hreq)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(res.Body, 200))
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("OTLP export to %s: %s: %s", s.url, res.Status, msg)
	}
	return nil
}

func (s *httpSink) Close() error { s.client.CloseIdleConnections(); return nil }

type grpcSink struct {
	conn *grpc.ClientConn
}

func (s *grpcSink) Export(ctx context.Context, body []byte) error {
	return s.conn.Invoke(ctx, "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
		&otlp.RawMessage{B: body}, &otlp.RawMessage{}, grpc.ForceCodecV2(otlp.RawCodec{}))
}

func (s *grpcSink) Close() error { return s.conn.Close() }

// emitState is what the emitter knows of one trace.
type emitState struct {
	id       string
	last     time.Time
	held     []otlpwire.Held
	known    map[[8]byte]bool // span ids received (kept only when exporting)
	flushed  bool
	dirty    bool
	observed map[string]bool // hops observed in the histograms
	calls    map[callKey]int // backend calls observed in the histograms, per label set
	synth    map[string]bool // synthesized spans exported
	elem     *list.Element
}

// emitter waits ExportDelay after a trace's last record, then observes the
// trace's hops in hopscope_hop_duration_seconds and exports its spans plus
// synthesized spans for the hops nobody instrumented. Records that arrive
// later (an ALB log five minutes late) add the hops and spans they bring.
type emitter struct {
	store  *correlate.Store
	m      *metrics
	sink   spanSink // nil: no export
	delay  time.Duration
	window time.Duration
	max    int
	labels *labelGuard
	// backendLabels bounds the backend histogram's label sets.
	backendLabels *backendGuard

	mu     sync.Mutex
	traces map[string]*emitState
	lru    *list.List // by last update, oldest at the front
}

func newEmitter(store *correlate.Store, m *metrics, sink spanSink, delay, window time.Duration, max int) *emitter {
	return &emitter{store: store, m: m, sink: sink, delay: delay, window: window, max: max, labels: newLabelGuard(2000), backendLabels: newBackendGuard(2000),
		traces: map[string]*emitState{}, lru: list.New()}
}

// touch notes a record of trace id, holding the spans that came with it.
// ids are the spans' ids, read once when the request was walked.
func (e *emitter) touch(now time.Time, id string, spans []otlpwire.Held, ids [][8]byte) []otlpwire.Held {
	e.mu.Lock()
	defer e.mu.Unlock()
	st, ok := e.traces[id]
	if !ok {
		st = &emitState{id: id, observed: map[string]bool{}, calls: map[callKey]int{}, synth: map[string]bool{}}
		st.elem = e.lru.PushBack(st)
		e.traces[id] = st
	} else {
		e.lru.MoveToBack(st.elem)
	}
	st.last = now
	for _, sid := range ids {
		if st.known == nil {
			st.known = map[[8]byte]bool{}
		}
		st.known[sid] = true
	}
	if st.flushed {
		st.dirty = true
		return spans // the trace is out already: its late spans go at once
	}
	st.held = append(st.held, spans...)
	return nil
}

// due collects what is ready at now: traces whose last record is older
// than the delay, plus the oldest ones when more than max are held.
func (e *emitter) due(now time.Time, all bool) []*emitState {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []*emitState
	for el := e.lru.Front(); el != nil; {
		next := el.Next()
		st := el.Value.(*emitState)
		ready := all || now.Sub(st.last) >= e.delay || e.lru.Len()-len(out) > e.max
		if !ready {
			break
		}
		if st.flushed && !st.dirty {
			if all || now.Sub(st.last) >= e.window {
				e.lru.Remove(el)
				delete(e.traces, st.id)
			}
			el = next
			continue
		}
		out = append(out, st)
		el = next
	}
	return out
}

// run flushes due traces every tick until ctx ends.
func (e *emitter) run(ctx context.Context, tick time.Duration, now func() time.Time) {
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			e.flush(ctx, e.due(now(), false))
		}
	}
}

// flushAll emits everything (shutdown).
func (e *emitter) flushAll(ctx context.Context, now time.Time) {
	e.flush(ctx, e.due(now, true))
}

func (e *emitter) flush(ctx context.Context, states []*emitState) {
	if len(states) == 0 {
		return
	}
	var out []otlpwire.Held
	for _, st := range states {
		e.mu.Lock()
		held := st.held
		st.held, st.flushed, st.dirty = nil, true, false
		e.mu.Unlock()
		b, ok := e.store.Breakdown(st.id)
		if !ok {
			out = append(out, held...)
			continue
		}
		g, _ := e.store.Group(st.id)
		e.observe(st, b)
		out = append(out, e.synthesize(st, b, g, held)...)
	}
	e.export(ctx, out)
}

// observe records the hops not observed before for this trace.
func (e *emitter) observe(st *emitState, b correlate.Breakdown) {
	service, route := e.labels.labels(b.Service, b.Route, b.TraceID != "" && len(b.Hops) > 0)
	for _, h := range b.Hops {
		if st.observed[h.Hop] || h.Hop == correlate.HopOther {
			continue
		}
		st.observed[h.Hop] = true
		v := h.MS / 1000
		if v < 0 {
			v = 0
		}
		obs := e.m.hop.WithLabelValues(service, route, h.Hop)
		obs.(prometheus.ExemplarObserver).ObserveWithExemplar(v, prometheus.Labels{"trace_id": b.TraceID})
	}
	// Calls have no identity of their own in the breakdown, and late
	// records move their offsets: count them per label set and observe
	// only those beyond what an earlier flush observed.
	seen := map[callKey]int{}
	for _, c := range b.Backends {
		outcome := "ok"
		if c.Error {
			outcome = "error"
		}
		attribution := string(c.Attribution)
		if attribution == "" {
			attribution = string(correlate.AttributionInferred)
		}
		k := callKey{c.Kind, c.Target, c.Operation, attribution, outcome}
		seen[k]++
		if seen[k] <= st.calls[k] {
			continue
		}
		st.calls[k] = seen[k]
		target, op := e.backendLabels.labels(service, c.Kind, c.Target, c.Operation)
		obs := e.m.backend.WithLabelValues(service, c.Kind, target, op, attribution, outcome)
		obs.(prometheus.ExemplarObserver).ObserveWithExemplar(max(c.MS, 0)/1000, prometheus.Labels{"trace_id": b.TraceID})
	}
}

// callKey is the label set of a backend call: late records rebuild the
// breakdown, and a call already observed must not count twice.
type callKey struct {
	kind, target, operation, attribution, outcome string
}

func (e *emitter) export(ctx context.Context, spans []otlpwire.Held) {
	if e.sink == nil || len(spans) == 0 {
		return
	}
	body := otlpwire.AppendRequest(nil, spans)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := e.sink.Export(ctx, body); err != nil {
		e.m.exportErrors.Inc()
		return
	}
	e.m.exported.Add(float64(len(spans)))
}

// synthScopeBytes marks the spans the collector made up from logs and
// beacons (an InstrumentationScope message).
var synthScopeBytes, _ = proto.Marshal(&commonpb.InstrumentationScope{Name: "github.com/hopscope/hopscope/collector", Version: "synthesized"})

// synthesize returns the held spans plus spans for the measured intervals
// nobody exported, chained outermost first; an entry sidecar span without
// a known parent is re-parented under the innermost synthesized hop so the
// whole path is one tree in Jaeger.
func (e *emitter) synthesize(st *emitState, b correlate.Breakdown, g correlate.Group, held []otlpwire.Held) []otlpwire.Held {
	tid, err := hex.DecodeString(b.TraceID)
	if err != nil || len(tid) != 16 {
		return held
	}
	var entry *correlate.SidecarSpan
	for i := range g.Sidecars {
		s := &g.Sidecars[i]
		if entry == nil || s.Duration > entry.Duration {
			entry = s
		}
	}
	// Anchor the waterfall on the sidecar's clock when there is one: the
	// real spans (sidecar, app, backends) carry it.
	anchor := b.Start
	for _, iv := range b.Spans {
		if iv.Name == correlate.HopSidecar && entry != nil {
			anchor = entry.Start.Add(-msToDuration(iv.StartOffsetMS))
		}
	}
	lbService := "loadbalancer"
	if g.LB != nil {
		lbService = g.LB.Kind
	}
	resources := map[string][]byte{}
	resFor := func(service string) []byte {
		if r, ok := resources[service]; ok {
			return r
		}
		r, _ := proto.Marshal(&resourcepb.Resource{Attributes: []*commonpb.KeyValue{strKV("service.name", service), strKV("hopscope.synthetic", "true")}})
		resources[service] = r
		return r
	}
	hold := func(service string, sp *tracepb.Span) otlpwire.Held {
		raw, _ := proto.Marshal(sp)
		return otlpwire.Held{Resource: resFor(service), Scope: synthScopeBytes, Span: raw}
	}
	serviceOf := map[string]string{
		"client": "browser", correlate.HopDNS: "browser", correlate.HopConnect: "browser", "request": "browser", correlate.HopDownload: "browser",
		correlate.HopLoadBalancer: lbService, correlate.HopIngress: "ingress-nginx", correlate.HopService: "ingress-nginx",
	}
	parentOf := map[string][]string{
		correlate.HopDNS: {"client"}, correlate.HopConnect: {"client"}, "request": {"client"}, correlate.HopDownload: {"client"},
		correlate.HopLoadBalancer: {"request", "client"},
		correlate.HopIngress:      {correlate.HopLoadBalancer, "request", "client"},
		correlate.HopService:      {correlate.HopIngress, correlate.HopLoadBalancer, "request", "client"},
	}
	present := map[string]bool{}
	for _, iv := range b.Spans {
		present[iv.Name] = true
	}
	innermost := ""
	for _, name := range []string{correlate.HopService, correlate.HopIngress, correlate.HopLoadBalancer, "request", "client"} {
		if present[name] {
			innermost = name
			break
		}
	}
	out := held
	for _, iv := range b.Spans {
		svc, ok := serviceOf[iv.Name]
		if !ok || st.synth[iv.Name] {
			continue
		}
		st.synth[iv.Name] = true
		sp := &tracepb.Span{
			TraceId:           tid,
			SpanId:            synthID(b.TraceID, iv.Name),
			Name:              iv.Name,
			Kind:              tracepb.Span_SPAN_KIND_INTERNAL,
			StartTimeUnixNano: uint64(anchor.Add(msToDuration(iv.StartOffsetMS)).UnixNano()),
			EndTimeUnixNano:   uint64(anchor.Add(msToDuration(iv.StartOffsetMS + iv.MS)).UnixNano()),
			Attributes: []*commonpb.KeyValue{strKV("hopscope.hop", iv.Name), strKV("hopscope.source", iv.Source),
				{Key: "hopscope.duration_ms", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: iv.MS}}}},
		}
		if iv.Name == "client" {
			sp.Kind = tracepb.Span_SPAN_KIND_CLIENT
		}
		for _, p := range parentOf[iv.Name] {
			if present[p] {
				sp.ParentSpanId = synthID(b.TraceID, p)
				break
			}
		}
		out = append(out, hold(svc, sp))
	}
	// Hang the entry sidecar span under the innermost synthesized hop when
	// its own parent is unknown (the ingress and the ALB export no spans).
	if entry != nil && innermost != "" {
		for i, h := range out {
			v, err := otlpwire.ParseSpan(h.Span)
			if err != nil || hex.EncodeToString(v.SpanID) != entry.SpanID {
				continue
			}
			if len(v.ParentSpanID) == 8 && st.known[[8]byte(v.ParentSpanID)] {
				continue
			}
			var sp tracepb.Span
			if proto.Unmarshal(h.Span, &sp) != nil {
				continue
			}
			if len(sp.ParentSpanId) > 0 {
				sp.Links = append(sp.Links, &tracepb.Span_Link{TraceId: tid, SpanId: sp.ParentSpanId})
			}
			sp.ParentSpanId = synthID(b.TraceID, innermost)
			if raw, err := proto.Marshal(&sp); err == nil {
				out[i].Span = raw
			}
		}
	}
	// The app's time as the sidecar measured it, when the app exported no
	// server span of its own under the sidecar.
	if entry != nil && !st.synth[correlate.HopApp] {
		hasChild := false
		for _, h := range held {
			if v, err := otlpwire.ParseSpan(h.Span); err == nil && hex.EncodeToString(v.ParentSpanID) == entry.SpanID && v.Kind == kindServer {
				hasChild = true
			}
		}
		for _, iv := range b.Spans {
			if iv.Name != correlate.HopApp || hasChild {
				continue
			}
			st.synth[correlate.HopApp] = true
			sid, _ := hex.DecodeString(entry.SpanID)
			out = append(out, hold(entry.Service, &tracepb.Span{
				TraceId: tid, SpanId: synthID(b.TraceID, correlate.HopApp), ParentSpanId: sid, Name: "app",
				Kind:              tracepb.Span_SPAN_KIND_INTERNAL,
				StartTimeUnixNano: uint64(anchor.Add(msToDuration(iv.StartOffsetMS)).UnixNano()),
				EndTimeUnixNano:   uint64(anchor.Add(msToDuration(iv.StartOffsetMS + iv.MS)).UnixNano()),
				Attributes:        []*commonpb.KeyValue{strKV("hopscope.hop", "app"), strKV("hopscope.source", "sidecar")},
			}))
		}
	}
	return out
}

func msToDuration(ms float64) time.Duration { return time.Duration(ms * float64(time.Millisecond)) }

func strKV(k, v string) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
}

// synthID derives a synthesized span's id from the trace id and hop, so a
// late record's span finds its parent among those exported earlier.
func synthID(traceID, name string) []byte {
	h := fnv.New64a()
	h.Write([]byte(traceID))
	h.Write([]byte{'/'})
	h.Write([]byte(name))
	id := h.Sum(nil)
	if id[0] == 0 {
		id[0] = 1
	}
	return id
}

// labelGuard bounds the service/route label pairs of the hop histograms.
type labelGuard struct {
	mu    sync.Mutex
	max   int
	known map[[2]string]bool
}

func newLabelGuard(max int) *labelGuard { return &labelGuard{max: max, known: map[[2]string]bool{}} }

func (l *labelGuard) labels(service, route string, _ bool) (string, string) {
	if service == "" {
		service = "unknown"
	}
	if route == "" {
		route = "unknown"
	}
	k := [2]string{service, route}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.known[k] {
		return service, route
	}
	if len(l.known) >= l.max {
		return service, "other"
	}
	l.known[k] = true
	return service, route
}

// backendGuard bounds the (service, backend, target, operation) label sets
// of the backend histogram: past max, new targets and operations are
// counted as "other".
type backendGuard struct {
	mu    sync.Mutex
	max   int
	known map[[4]string]bool
}

func newBackendGuard(max int) *backendGuard {
	return &backendGuard{max: max, known: map[[4]string]bool{}}
}

func (g *backendGuard) labels(service, kind, target, operation string) (string, string) {
	if target == "" {
		target = "unknown"
	}
	if operation == "" {
		operation = "unknown"
	}
	k := [4]string{service, kind, target, operation}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.known[k] {
		return target, operation
	}
	if len(g.known) >= g.max {
		return "other", "other"
	}
	g.known[k] = true
	return target, operation
}
