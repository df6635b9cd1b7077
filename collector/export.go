package collector

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/hopscope/hopscope/collector/otlp"
	"github.com/hopscope/hopscope/correlate"
	"github.com/hopscope/hopscope/correlate/alb"
	"github.com/hopscope/hopscope/internal/contract"
	"github.com/hopscope/hopscope/internal/endpoint"
	"github.com/hopscope/hopscope/internal/otlpwire"
	"github.com/hopscope/hopscope/internal/tracectx"
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

// emitState is what the emitter knows of one trace. Once the trace is
// exported it keeps only what late records need: the ids of the spans
// received (a late span's parent, duplicates), the hops and backend calls
// already observed in the histograms and the spans already synthesized.
type emitState struct {
	key        [16]byte
	prev, next *emitState // in waiting or done
	last       int64      // unix nanoseconds of the last record
	held       []otlpwire.Held
	heldBytes  int                  // of held, counted in emitter.heldBytes
	ids        [][8]byte            // span ids received (only when exporting)
	idSet      map[[8]byte]struct{} // replaces ids past idSetAt
	otherHops  []uint64             // hashes of observed hops beyond hopBits (backend kinds)
	calls      []callCount          // backend calls observed, per label set
	hops       uint16               // observed hops, one bit per hopBits entry
	synth      uint16               // synthesized spans exported, one bit per synthBits entry
	done       bool                 // in e.done: exported, nothing new since
}

// idSetAt is the number of span ids past which a trace's ids move from a
// slice (8 bytes each) to a map (fast lookups for big traces).
const idSetAt = 32

// knows reports whether span id was received; e.mu is held.
func (st *emitState) knows(id [8]byte) bool {
	if st.idSet != nil {
		_, ok := st.idSet[id]
		return ok
	}
	for _, x := range st.ids {
		if x == id {
			return true
		}
	}
	return false
}

// addID notes span id, false when it was known already; e.mu is held.
func (st *emitState) addID(id [8]byte) bool {
	if st.knows(id) {
		return false
	}
	if st.idSet != nil {
		st.idSet[id] = struct{}{}
		return true
	}
	st.ids = append(st.ids, id)
	if len(st.ids) > idSetAt {
		st.idSet = make(map[[8]byte]struct{}, 2*len(st.ids))
		for _, x := range st.ids {
			st.idSet[x] = struct{}{}
		}
		st.ids = nil
	}
	return true
}

// callCount is how many backend calls of one label set (hashed) a trace
// has had observed.
type callCount struct {
	key uint64
	n   int
}

// stateList is an intrusive list of states, oldest at the head.
type stateList struct {
	head, tail *emitState
	n          int
}

func (l *stateList) pushBack(st *emitState) {
	st.prev, st.next = l.tail, nil
	if l.tail != nil {
		l.tail.next = st
	} else {
		l.head = st
	}
	l.tail = st
	l.n++
}

func (l *stateList) remove(st *emitState) {
	if st.prev != nil {
		st.prev.next = st.next
	} else {
		l.head = st.next
	}
	if st.next != nil {
		st.next.prev = st.prev
	} else {
		l.tail = st.prev
	}
	st.prev, st.next = nil, nil
	l.n--
}

// Hops and synthesized spans a trace can have, one bit each in
// emitState.hops and emitState.synth.
var (
	hopBits   = bitsOf(correlate.HopNames())
	synthBits = bitsOf([]string{"client", correlate.HopDNS, correlate.HopConnect, "request", correlate.HopDownload,
		correlate.HopLoadBalancer, correlate.HopIngress, correlate.HopService, correlate.HopApp})
)

func bitsOf(names []string) map[string]uint16 {
	if len(names) > 16 {
		panic("collector: more than 16 names for a uint16 bit set")
	}
	m := map[string]uint16{}
	for i, n := range names {
		m[n] = 1 << i
	}
	return m
}

// hashStrings is FNV-1a over ss, each followed by a 0 byte.
func hashStrings(ss ...string) uint64 {
	h := uint64(14695981039346656037)
	for _, s := range ss {
		for i := 0; i < len(s); i++ {
			h ^= uint64(s[i])
			h *= 1099511628211
		}
		h *= 1099511628211 // a 0 byte between strings
	}
	return h
}

// emitter waits ExportDelay after a trace's last record, then observes the
// trace's hops in hopscope_hop_duration_seconds and exports its spans plus
// synthesized spans for the hops nobody instrumented. Records that arrive
// later (an ALB log five minutes late) add the hops and spans they bring,
// again after ExportDelay.
//
// Its state is bounded by max traces. Traces waiting for their delay are
// in waiting (by last record); exported ones stay in done (by export
// time) until their window ends, so that late records find what was
// exported. A new trace beyond max first makes the oldest exported trace
// be forgotten (hopscope_collector_export_evicted_total); only when more
// than max traces are waiting at once are the oldest exported before
// their delay, at the next tick (hopscope_collector_export_early_total) —
// the store itself holds no more than max traces either.
type emitter struct {
	store  *correlate.Store
	m      *metrics
	sink   spanSink // nil: no export
	delay  time.Duration
	window time.Duration
	max    int
	log    *zap.Logger
	clock  func() time.Time // for the export warnings' rate limit
	// albInput is true when ALB logs are an input (--alb-logs or an alb
	// --tail); albSeen when an ALB record came some other way (forward).
	albInput bool
	albSeen  atomic.Bool

	// maxHeldBytes bounds the bytes of the spans held for export across
	// all traces, maxHeldPerTrace the spans held per trace; spans past
	// either are not exported (counted in export_dropped_spans_total).
	maxHeldBytes    int64
	maxHeldPerTrace int

	mu        sync.Mutex
	heldBytes int64 // held by waiting traces and by the flush under way
	traces    map[[16]byte]*emitState
	odd       map[[16]byte]string // trace ids that are not 32 lowercase hex digits, by their key
	waiting   stateList           // by last record, oldest first
	done      stateList           // exported, by export time, oldest first

	// flushMu serialises flushes (the ticker's and Shutdown's): they
	// update the observed and synthesized bits outside mu.
	flushMu sync.Mutex

	warnMu   sync.Mutex
	warnAt   time.Time // last export warning
	failures int       // failed requests since
}

func newEmitter(store *correlate.Store, m *metrics, sink spanSink, delay, window time.Duration, max int) *emitter {
	return &emitter{store: store, m: m, sink: sink, delay: delay, window: window, max: max,
		maxHeldBytes: DefaultMaxExportBufferMiB << 20, maxHeldPerTrace: correlate.DefaultStoreConfig().MaxSpansPerTrace,
		log: zap.NewNop(), clock: time.Now, traces: map[[16]byte]*emitState{}, odd: map[[16]byte]string{}}
}

// configure gives the emitter the collector's logger and tells it whether
// ALB logs are an input.
func (e *emitter) configure(log *zap.Logger, cfg Config) {
	if log != nil {
		e.log = log
	}
	if cfg.MaxExportBufferMiB > 0 {
		e.maxHeldBytes = int64(cfg.MaxExportBufferMiB) << 20
	}
	e.albInput = cfg.ALBLogs != ""
	for _, spec := range cfg.Tail {
		if ts, err := ParseTail(spec); err == nil && ts.Format == FormatALB {
			e.albInput = true
		}
	}
}

// keyOf returns the map key of trace id: its 16 bytes, or for an id that
// is not 32 lowercase hex digits a hash of it (odd is true).
func keyOf(id string) (key [16]byte, odd bool) {
	if len(id) == 32 && tracectx.IsLowerHex(id) {
		hex.Decode(key[:], []byte(id))
		return key, false
	}
	h := fnv.New128a()
	h.Write([]byte(id))
	h.Sum(key[:0])
	return key, true
}

// idOf is st's trace id as the store knows it; e.mu is held.
func (e *emitter) idOf(st *emitState) string {
	if id, ok := e.odd[st.key]; ok {
		return id
	}
	return hex.EncodeToString(st.key[:])
}

// touch notes a record of trace id, holding the spans that came with it
// (a span whose id the trace already had is a duplicate and dropped). ids
// are the spans' ids, read once when the request was walked. The spans
// wait for the trace's export, also when the trace was exported before:
// a late sidecar span is then hung under the hops synthesized for it.
func (e *emitter) touch(now time.Time, id string, spans []otlpwire.Held, ids [][8]byte) {
	key, odd := keyOf(id)
	if !odd {
		id = "" // the key says it all
	}
	e.touchKey(now, key, id, spans, ids)
}

// touchKey is touch for a trace id already in key form (OTLP spans carry
// it as 16 bytes); odd is the id when it is not 32 lowercase hex digits.
func (e *emitter) touchKey(now time.Time, key [16]byte, odd string, spans []otlpwire.Held, ids [][8]byte) {
	e.mu.Lock()
	defer e.mu.Unlock()
	st, ok := e.traces[key]
	switch {
	case !ok:
		for len(e.traces) >= e.max && e.done.head != nil {
			e.forget(e.done.head)
			e.m.exportEvicted.Inc()
		}
		st = &emitState{key: key}
		e.traces[key] = st
		if odd != "" {
			e.odd[key] = odd
		}
		e.waiting.pushBack(st)
	case st.done:
		e.done.remove(st)
		st.done = false
		e.waiting.pushBack(st)
	default:
		e.waiting.remove(st)
		e.waiting.pushBack(st)
	}
	st.last = now.UnixNano()
	// The spans kept are copied out of their request (otlpwire.Compact),
	// within the bounds: per trace, and of the bytes held in all. Each
	// span is counted with its resource and scope, which Compact may
	// share: what it holds is at most what was counted.
	var full, over int
	var keep []otlpwire.Held
	budget := e.maxHeldBytes - e.heldBytes
	for i, sp := range spans {
		if i < len(ids) && !st.addID(ids[i]) {
			continue
		}
		n := int64(len(sp.Resource) + len(sp.ResourceSchema) + len(sp.Scope) + len(sp.ScopeSchema) + len(sp.Span))
		switch {
		case len(st.held)+len(keep) >= e.maxHeldPerTrace:
			full++
		case n > budget:
			over++
		default:
			keep = append(keep, sp)
			budget -= n
		}
	}
	if len(keep) > 0 {
		kept, n := otlpwire.Compact(keep)
		st.held = append(st.held, kept...)
		st.heldBytes += n
		e.heldBytes += int64(n)
	}
	if full > 0 {
		e.m.exportDropped.WithLabelValues("trace_full").Add(float64(full))
	}
	if over > 0 {
		e.m.exportDropped.WithLabelValues("buffer_full").Add(float64(over))
	}
	for i := len(spans); i < len(ids); i++ {
		st.addID(ids[i])
	}
}

// forget drops an exported trace's state; e.mu is held.
func (e *emitter) forget(st *emitState) {
	e.done.remove(st)
	delete(e.traces, st.key)
	delete(e.odd, st.key)
}

// dueTrace is one trace to flush: its state, its trace id and the spans
// taken from it.
type dueTrace struct {
	st        *emitState
	id        string
	held      []otlpwire.Held
	heldBytes int // released from emitter.heldBytes once flushed
}

// due takes what is ready at now: traces whose last record is at least
// the delay old (all: every waiting trace), plus the oldest ones while
// more than max are waiting. They move to done; exported traces whose
// window ended, and the oldest beyond max, are forgotten.
func (e *emitter) due(now time.Time, all bool) []dueTrace {
	e.mu.Lock()
	defer e.mu.Unlock()
	t := now.UnixNano()
	for st := e.done.head; st != nil && t-st.last >= int64(e.window); st = e.done.head {
		e.forget(st)
	}
	var out []dueTrace
	for st := e.waiting.head; st != nil; st = e.waiting.head {
		ripe := all || t-st.last >= int64(e.delay)
		if !ripe && e.waiting.n <= e.max {
			break
		}
		if !ripe {
			e.m.exportEarly.Inc()
		}
		out = append(out, dueTrace{st: st, id: e.idOf(st), held: st.held, heldBytes: st.heldBytes})
		st.held, st.heldBytes = nil, 0
		e.waiting.remove(st)
		e.done.pushBack(st)
		st.done = true
	}
	for len(e.traces) > e.max && e.done.head != nil {
		e.forget(e.done.head)
		e.m.exportEvicted.Inc()
	}
	return out
}

// knows reports whether trace st received span id.
func (e *emitter) knows(st *emitState, id []byte) bool {
	if len(id) != 8 {
		return false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return st.knows([8]byte(id))
}

// run flushes due traces every tick until ctx ends. A flush under way
// when ctx ends finishes what it took, its requests bounded by hard
// (cancelled when the shutdown's own limit ends: Collector.Shutdown), so
// that the shutdown flush waiting for it is not kept past that limit.
func (e *emitter) run(ctx, hard context.Context, tick time.Duration, now func() time.Time) {
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			e.flush(hard, e.due(now(), false))
		}
	}
}

// flushAll emits everything (shutdown): bounded by ctx, whose end stops
// the requests still to send (counted as failed). With ctx already ended
// nothing is taken: the traces are given up, and the number logged.
func (e *emitter) flushAll(ctx context.Context, now time.Time) {
	if ctx.Err() != nil {
		e.mu.Lock()
		n := e.waiting.n
		e.mu.Unlock()
		if n > 0 {
			e.log.Warn("shutdown limit reached: traces not exported", zap.Int("traces", n), zap.Error(ctx.Err()))
		}
		return
	}
	e.flush(ctx, e.due(now, true))
}

// flush emits due traces; the end of ctx ends the request in flight and
// fails those not yet sent, each request being bounded by exportTimeout
// besides.
func (e *emitter) flush(ctx context.Context, due []dueTrace) {
	if len(due) == 0 {
		return
	}
	// The spans taken stay counted in heldBytes until sent or given up,
	// so that a slow export holds new spans back instead of doubling the
	// memory held.
	defer func() {
		n := 0
		for _, d := range due {
			n += d.heldBytes
		}
		e.mu.Lock()
		e.heldBytes -= int64(n)
		e.mu.Unlock()
	}()
	e.flushMu.Lock()
	defer e.flushMu.Unlock()
	if err := ctx.Err(); err != nil {
		// Cut while waiting for the flush before: building the spans
		// would only delay the shutdown.
		e.exportFailed(fmt.Errorf("%d traces not exported, shutting down: %w", len(due), err), 0, 0)
		return
	}
	var out []otlpwire.Held
	for _, d := range due {
		b, ok := e.store.Emit(d.id)
		if !ok {
			out = append(out, d.held...)
			continue
		}
		e.observe(d.st, b)
		if e.sink == nil {
			continue // nothing to export: no spans to make
		}
		g, _ := e.store.Group(d.id)
		if g.LB != nil && g.LB.Kind == alb.Kind {
			e.albSeen.Store(true)
		}
		out = append(out, e.synthesize(d.st, b, g, d.held)...)
	}
	e.export(ctx, out)
}

// observe records the hops not observed before for this trace.
func (e *emitter) observe(st *emitState, b correlate.Breakdown) {
	lim := e.m.limits
	service := lim.service(b.Service)
	for _, h := range b.Hops {
		if h.Hop == correlate.HopOther {
			continue
		}
		if bit, ok := hopBits[h.Hop]; ok {
			if st.hops&bit != 0 {
				continue
			}
			st.hops |= bit
		} else {
			k := hashStrings(h.Hop)
			if slices.Contains(st.otherHops, k) {
				continue
			}
			st.otherHops = append(st.otherHops, k)
		}
		v := h.MS / 1000
		if v < 0 {
			v = 0
		}
		hop := h.Hop
		if _, fixed := hopBits[hop]; !fixed {
			hop = lim.kind(hop) // a backend kind: db.system, rpc.system, …
		}
		svc, route := lim.hop(service, b.Route, hop)
		obs := e.m.hop.WithLabelValues(svc, route, hop)
		obs.(prometheus.ExemplarObserver).ObserveWithExemplar(v, prometheus.Labels{"trace_id": b.TraceID})
	}
	// Calls have no identity of their own in the breakdown, and late
	// records move their offsets: count them per label set and observe
	// only those beyond what an earlier flush observed.
	seen := map[uint64]int{}
	for _, c := range b.Backends {
		outcome := "ok"
		if c.Error {
			outcome = "error"
		}
		attribution := string(c.Attribution)
		if attribution == "" {
			attribution = string(correlate.AttributionInferred)
		}
		k := hashStrings(c.Kind, c.Target, c.Operation, attribution, outcome)
		seen[k]++
		i := slices.IndexFunc(st.calls, func(x callCount) bool { return x.key == k })
		if i < 0 {
			st.calls = append(st.calls, callCount{key: k})
			i = len(st.calls) - 1
		}
		if seen[k] <= st.calls[i].n {
			continue
		}
		st.calls[i].n = seen[k]
		kind := lim.kind(c.Kind)
		svc, target, op := lim.backend(service, kind, c.Target, c.Operation)
		obs := e.m.backend.WithLabelValues(svc, kind, target, op, attribution, outcome)
		obs.(prometheus.ExemplarObserver).ObserveWithExemplar(max(c.MS, 0)/1000, prometheus.Labels{"trace_id": b.TraceID})
	}
}

// Export requests are split so that none comes near the 4 MiB a gRPC
// server accepts by default (Jaeger's and the OpenTelemetry Collector's
// OTLP receivers): at most maxExportBytes encoded, a quarter of it, and at
// most maxExportSpans spans, the OpenTelemetry Collector batch
// processor's default batch; whichever comes first. A span bigger than
// maxExportBytes on its own goes alone.
const (
	maxExportBytes = 1 << 20
	maxExportSpans = 8192
)

// exportWarnEvery rate-limits the warning logged for failed exports.
const exportWarnEvery = 10 * time.Second

// exportTimeout bounds one export request.
const exportTimeout = 10 * time.Second

// export sends spans in requests of bounded size; each failed request is
// counted (and logged, rate-limited) on its own. The end of ctx ends the
// request in flight and fails those not yet sent.
func (e *emitter) export(ctx context.Context, spans []otlpwire.Held) {
	if e.sink == nil || len(spans) == 0 {
		return
	}
	parent := ctx
	batches := splitExport(spans, maxExportBytes, maxExportSpans)
	for i, batch := range batches {
		if err := parent.Err(); err != nil {
			e.exportFailed(fmt.Errorf("not sent, shutting down: %w", err), len(batch), 0)
			e.m.exportDropped.WithLabelValues("export_failed").Add(float64(len(batch)))
			continue
		}
		body := otlpwire.AppendRequest(nil, batch)
		rctx, cancel := context.WithTimeout(parent, exportTimeout)
		err := e.sink.Export(rctx, body)
		cancel()
		if err != nil {
			e.exportFailed(err, len(batch), len(body))
			e.m.exportDropped.WithLabelValues("export_failed").Add(float64(len(batch)))
			if !endpointDown(err) {
				continue // this request's own fault (too large, say)
			}
			// The endpoint is down or a black hole: the rest of this
			// flush is given up at once rather than each request waiting
			// its own timeout (the spans would wait, and new ones be
			// refused, for batches × exportTimeout).
			var rest int
			for _, b := range batches[i+1:] {
				rest += len(b)
			}
			if rest > 0 {
				e.m.exportDropped.WithLabelValues("export_failed").Add(float64(rest))
				e.exportFailed(fmt.Errorf("%d more requests not sent after: %w", len(batches)-i-1, err), rest, 0)
			}
			return
		}
		e.m.exported.Add(float64(len(batch)))
	}
}

// endpointDown reports whether an export error says the endpoint as a
// whole is unreachable or not answering (timeouts, refused connections,
// gRPC Unavailable or DeadlineExceeded), rather than refusing one request.
func endpointDown(err error) bool {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.As(err, &ne) && ne.Timeout():
		return true
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded:
		return true
	}
	return false
}

// exportFailed counts a failed request and logs it at Warn at most once
// per exportWarnEvery, with the number of failures since the last line.
func (e *emitter) exportFailed(err error, spans, bytes int) {
	e.m.exportErrors.Inc()
	e.warnMu.Lock()
	e.failures++
	now := e.clock()
	if !e.warnAt.IsZero() && now.Sub(e.warnAt) < exportWarnEvery {
		e.warnMu.Unlock()
		return
	}
	n := e.failures
	e.failures, e.warnAt = 0, now
	e.warnMu.Unlock()
	e.log.Warn("OTLP span export failed", zap.Int("failures", n), zap.Duration("log_interval", exportWarnEvery),
		zap.Int("spans", spans), zap.Int("bytes", bytes), zap.Error(err))
}

// splitExport cuts spans into batches whose ExportTraceServiceRequest is
// at most maxBytes (estimated from above: each span's and each new
// resource and scope group's bytes with their framing) and at most
// maxSpans long.
func splitExport(spans []otlpwire.Held, maxBytes, maxSpans int) [][]otlpwire.Held {
	var out [][]otlpwire.Held
	start, size := 0, 0
	groups := map[string]map[string]bool{} // resource → scopes in the batch
	for i, h := range spans {
		n := 1 + protowire.SizeBytes(len(h.Span))
		scopes, ok := groups[string(h.Resource)]
		if !ok {
			// ResourceSpans framing (up to 1+5 bytes), the resource and
			// its schema URL.
			n += 6 + protowire.SizeBytes(len(h.Resource)) + protowire.SizeBytes(len(h.ResourceSchema)) + 2
		}
		if !scopes[string(h.Scope)] {
			n += 6 + protowire.SizeBytes(len(h.Scope)) + protowire.SizeBytes(len(h.ScopeSchema)) + 2
		}
		if i > start && (size+n > maxBytes || i-start >= maxSpans) {
			out = append(out, spans[start:i:i])
			start, size = i, 0
			clear(groups)
			n = 1 + protowire.SizeBytes(len(h.Span)) +
				6 + protowire.SizeBytes(len(h.Resource)) + protowire.SizeBytes(len(h.ResourceSchema)) + 2 +
				6 + protowire.SizeBytes(len(h.Scope)) + protowire.SizeBytes(len(h.ScopeSchema)) + 2
			scopes = nil
		}
		if scopes == nil {
			scopes = map[string]bool{}
			groups[string(h.Resource)] = scopes
		}
		scopes[string(h.Scope)] = true
		size += n
	}
	if start < len(spans) {
		out = append(out, spans[start:])
	}
	return out
}

// synthScopeBytes marks the spans the collector made up from logs and
// beacons (an InstrumentationScope message).
var synthScopeBytes, _ = proto.Marshal(&commonpb.InstrumentationScope{Name: "github.com/hopscope/hopscope/collector", Version: "synthesized"})

// synthesize returns the held spans plus spans for the measured intervals
// nobody exported, chained outermost first; an entry sidecar span without
// a known parent is re-parented under the innermost synthesized hop so the
// whole path is one tree in Jaeger.
//
// A request that came through an ALB whose log has not arrived yet (ALB
// writes its logs every 5 minutes) has its loadbalancer span's id
// reserved: the ids are derived from trace id and hop (synthID), so the
// ingress span (or the entry sidecar span) is parented to it now, and the
// loadbalancer span exported when the ALB line arrives fills that place.
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
	// real spans (sidecar, app, backends) carry it. Else on the ingress's,
	// so that a loadbalancer span exported later encloses the ingress span
	// exported now.
	anchor := b.Start
	anchored := false
	for _, iv := range b.Spans {
		if iv.Name == correlate.HopSidecar && entry != nil {
			anchor, anchored = entry.Start.Add(-msToDuration(iv.StartOffsetMS)), true
		}
	}
	for _, iv := range b.Spans {
		if iv.Name == correlate.HopIngress && g.Ingress != nil && !anchored {
			anchor = g.Ingress.Start.Add(-msToDuration(iv.StartOffsetMS))
		}
	}
	lbService := contract.HopLoadBalancer
	if g.LB != nil {
		lbService = g.LB.Kind
	}
	resources := map[string][]byte{}
	resFor := func(service string) []byte {
		if r, ok := resources[service]; ok {
			return r
		}
		r, _ := proto.Marshal(&resourcepb.Resource{Attributes: []*commonpb.KeyValue{strKV(contract.AttrServiceName, service), strKV(contract.AttrSynthetic, "true")}})
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
	if e.expectALB(g, entry) {
		present[correlate.HopLoadBalancer] = true // reserved for the ALB line to come
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
		if !ok || st.synth&synthBits[iv.Name] != 0 {
			continue
		}
		st.synth |= synthBits[iv.Name]
		sp := &tracepb.Span{
			TraceId:           tid,
			SpanId:            synthID(b.TraceID, iv.Name),
			Name:              iv.Name,
			Kind:              tracepb.Span_SPAN_KIND_INTERNAL,
			StartTimeUnixNano: uint64(anchor.Add(msToDuration(iv.StartOffsetMS)).UnixNano()),
			EndTimeUnixNano:   uint64(anchor.Add(msToDuration(iv.StartOffsetMS + iv.MS)).UnixNano()),
			Attributes: []*commonpb.KeyValue{strKV(contract.AttrHop, iv.Name), strKV(contract.AttrSource, iv.Source),
				{Key: contract.AttrDurationMS, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: iv.MS}}}},
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
			if e.knows(st, v.ParentSpanID) {
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
	if entry != nil && st.synth&synthBits[correlate.HopApp] == 0 {
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
			st.synth |= synthBits[correlate.HopApp]
			sid, _ := hex.DecodeString(entry.SpanID)
			out = append(out, hold(entry.Service, &tracepb.Span{
				TraceId: tid, SpanId: synthID(b.TraceID, correlate.HopApp), ParentSpanId: sid, Name: contract.HopApp,
				Kind:              tracepb.Span_SPAN_KIND_INTERNAL,
				StartTimeUnixNano: uint64(anchor.Add(msToDuration(iv.StartOffsetMS)).UnixNano()),
				EndTimeUnixNano:   uint64(anchor.Add(msToDuration(iv.StartOffsetMS + iv.MS)).UnixNano()),
				Attributes:        []*commonpb.KeyValue{strKV(contract.AttrHop, contract.HopApp), strKV(contract.AttrSource, correlate.SourceSidecar)},
			}))
		}
	}
	return out
}

// expectALB reports whether the trace came through an ALB whose log line
// has not joined it yet but can: ALB logs are an input, and the ingress
// line or the entry sidecar span carries the X-Amzn-Trace-Id Root the ALB
// made, whose trace id is this trace's (the ALB line joins by it).
func (e *emitter) expectALB(g correlate.Group, entry *correlate.SidecarSpan) bool {
	if g.LB != nil || !(e.albInput || e.albSeen.Load()) {
		return false
	}
	if g.Ingress != nil && g.Ingress.XRayRoot != "" {
		return correlate.TraceIDFromXRayRoot(g.Ingress.XRayRoot) == g.TraceID
	}
	return entry != nil && entry.XRayRoot != "" && correlate.TraceIDFromXRayRoot(entry.XRayRoot) == g.TraceID
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
