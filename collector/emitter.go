package collector

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/hopscope/hopscope/correlate"
	"github.com/hopscope/hopscope/correlate/alb"
	"github.com/hopscope/hopscope/internal/otlpwire"
)

// emitter is what the collector does with a trace when the store says it
// is due (correlate.Hooks): ExportDelay after its last record it observes
// the trace's hops in hopscope_hop_duration_seconds and queues its spans
// plus synthesized spans for the hops nobody instrumented; the ticker's
// flush sends the queue. Records that arrive later (an ALB log five
// minutes late) add the hops and spans they bring, again after
// ExportDelay.
//
// It keeps no table of its own: each trace's export state (traceState)
// lives in the store's entry, under the store's one window, maximum and
// eviction order. A new trace beyond --max-traces first makes the trace
// exported longest ago be forgotten
// (hopscope_collector_export_evicted_total); only when every trace held
// is still waiting is the oldest exported before its delay
// (hopscope_collector_export_early_total).
type emitter struct {
	store *correlate.Store[traceState]
	m     *metrics
	sink  spanSink // nil: no export
	log   *zap.Logger
	clock func() time.Time // for the export warnings' rate limit
	// exemplars rate-limits the histograms' exemplars (observe.go).
	exemplars exemplarGate
	// albInput is true when ALB logs are an input (--alb-logs or an alb
	// --tail); albSeen when an ALB record came some other way (forward).
	albInput bool
	albSeen  atomic.Bool

	// maxHeldBytes bounds the bytes of the spans held for export across
	// all traces, maxHeldPerTrace the spans held per trace; spans past
	// either are not exported (counted in export_dropped_spans_total).
	maxHeldBytes    int64
	maxHeldPerTrace int
	// heldBytes are held by waiting traces, the queue and the flush under
	// way.
	heldBytes atomic.Int64

	// qmu guards the queue the due hook fills (under the store's lock)
	// and the flush takes.
	qmu sync.Mutex
	q   batch

	// flushMu serialises flushes (the ticker's and Shutdown's).
	flushMu sync.Mutex

	warnMu   sync.Mutex
	warnAt   time.Time // last export warning
	failures int       // failed requests since
}

// batch is what due traces left to send: their spans, how many traces
// and the bytes of held spans (released from emitter.heldBytes once sent).
type batch struct {
	spans     []otlpwire.Held
	traces    int
	heldBytes int64
}

func newEmitter(m *metrics, sink spanSink) *emitter {
	return &emitter{m: m, sink: sink,
		maxHeldBytes: DefaultMaxExportBufferMiB << 20, maxHeldPerTrace: correlate.DefaultStoreConfig().MaxSpansPerTrace,
		log: zap.NewNop(), clock: time.Now}
}

// hooks are the store's calls into the emitter.
func (e *emitter) hooks() correlate.Hooks[traceState] {
	return correlate.Hooks[traceState]{
		Due:     e.onDue,
		Evicted: func(correlate.TraceID, *traceState) { e.m.exportEvicted.Inc() },
	}
}

// newTraceStore makes the store the emitter's hooks are called by.
func (e *emitter) newTraceStore(cfg correlate.StoreConfig) (*correlate.Store[traceState], error) {
	s, err := correlate.NewStore(cfg, e.hooks())
	e.store = s
	return s, err
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
	e.albInput = cfg.ALBLogs != "" || cfg.ALBS3URL != ""
	for _, spec := range cfg.Tail {
		if ts, err := ParseTail(spec); err == nil && ts.Format == FormatALB {
			e.albInput = true
		}
	}
}

// add files the spans of trace id (ids are their span ids, read once
// when the request was walked) and their records in the store. weight is
// the trace's adjusted count read from the spans (0: none): the first
// known is kept.
func (e *emitter) add(now time.Time, id correlate.TraceID, recs []correlate.Record, spans []otlpwire.Held, ids [][8]byte, weight float64) (late int) {
	return e.store.AddTrace(now, id, recs, func(st *traceState) {
		if st.weight == 0 {
			st.weight = weight
		}
		e.hold(st, spans, ids)
	})
}

// hold keeps the spans that came with a trace's records (a span whose id
// the trace already had is a duplicate and dropped); the store's lock is
// held. The spans wait for the trace's export, also when the trace was
// exported before: a late sidecar span is then hung under the hops
// synthesized for it.
func (e *emitter) hold(st *traceState, spans []otlpwire.Held, ids [][8]byte) {
	// The spans kept are copied out of their request (otlpwire.Compact),
	// within the bounds: per trace, and of the bytes held in all. Each
	// span is counted with its resource and scope, which Compact may
	// share: what it holds is at most what was counted.
	var full, over int
	var keep []otlpwire.Held
	budget := e.maxHeldBytes - e.heldBytes.Load()
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
		e.heldBytes.Add(int64(n))
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

// onDue is the store's Due hook (its lock held): the trace's hops are
// observed and its spans, with those synthesized, queued for the flush.
func (e *emitter) onDue(d correlate.Due[traceState]) {
	st := d.State
	if d.Early {
		e.m.exportEarly.Inc()
	}
	held, n := st.held, st.heldBytes
	st.held, st.heldBytes = nil, 0
	out := held
	if d.Breakdown != nil {
		e.observe(st, *d.Breakdown)
		if e.sink != nil {
			if d.Group.LB != nil && d.Group.LB.Kind == alb.Kind {
				e.albSeen.Store(true)
			}
			out = e.synthesize(st, *d.Breakdown, d.Group, held)
		}
	}
	e.qmu.Lock()
	e.q.spans = append(e.q.spans, out...)
	e.q.traces++
	e.q.heldBytes += int64(n)
	e.qmu.Unlock()
}

// due makes what is ready at now due (all: every waiting trace) and
// takes the queue, with what traces evicted early queued before.
func (e *emitter) due(now time.Time, all bool) batch {
	e.store.Due(now, all)
	e.qmu.Lock()
	defer e.qmu.Unlock()
	b := e.q
	e.q = batch{}
	return b
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
		if n := e.store.Stats().Waiting; n > 0 {
			e.log.Warn("shutdown limit reached: traces not exported", zap.Int("traces", n), zap.Error(ctx.Err()))
		}
		return
	}
	e.flush(ctx, e.due(now, true))
}

// flush sends a batch; the end of ctx ends the request in flight and
// fails those not yet sent, each request being bounded by exportTimeout
// besides.
func (e *emitter) flush(ctx context.Context, b batch) {
	if b.traces == 0 {
		return
	}
	// The spans taken stay counted in heldBytes until sent or given up,
	// so that a slow export holds new spans back instead of doubling the
	// memory held.
	defer e.heldBytes.Add(-b.heldBytes)
	e.flushMu.Lock()
	defer e.flushMu.Unlock()
	if err := ctx.Err(); err != nil {
		// Cut while waiting for the flush before.
		e.exportFailed(fmt.Errorf("%d traces not exported, shutting down: %w", b.traces, err), 0, 0)
		return
	}
	e.export(ctx, b.spans)
}
