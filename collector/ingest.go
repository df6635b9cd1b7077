package collector

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/hopscope/hopscope/collector/consumer"
	"github.com/hopscope/hopscope/collector/otlp"
	"github.com/hopscope/hopscope/collector/relay"
	"github.com/hopscope/hopscope/correlate"
	"github.com/hopscope/hopscope/internal/otlpwire"
)

// Consume is the collector's side of the receivers' one contract
// (consumer.Consumer): an OTLP request is walked for its spans, a record
// filed in the store, an input that could not be read refused as
// malformed, counted under the receiver's source.
func (c *Collector) Consume(ctx context.Context, in consumer.Input) error {
	switch {
	case in.Source == otlp.Source:
		return c.consumeOTLP(ctx, in.OTLP)
	case in.Err != nil:
		c.reject(in.Source, "malformed", in.Where, 1, in.Err)
	case in.Record != nil:
		c.addRecord(in.Source, in.Where, in.Record)
	}
	return nil
}

// consumeOTLP walks an export request's bytes: sidecar and backend spans
// are filed as records, and every span is held (as the bytes it came in)
// for export when an export endpoint is set. The trace id stays binary:
// each trace's records and spans go to the store at once.
func (c *Collector) consumeOTLP(_ context.Context, body []byte) error {
	now := c.now()
	g := groupingPool.Get().(*grouping)
	defer g.release()
	byTrace := g.byTrace
	var n, bad, badTh int
	var relayed []relay.Item
	var badRelayed int
	var relayErr error
	hold := c.sink != nil
	arena := &g.arena // the records live until em.add has filed them
	gw := c.gateways.NewBatch()
	err := otlpwire.Walk(body, func(res *otlpwire.Resource, scope *otlpwire.Scope, sp *otlpwire.Span) error {
		if len(sp.TraceID) != 16 || len(sp.SpanID) != 8 || correlate.TraceID(sp.TraceID).IsZero() {
			bad++
			return nil
		}
		if relay.IsRelayed(sp) {
			// A record another replica relayed to this one (relayed.go):
			// joined as a record, never exported as a span.
			if it, err := relay.FromSpan(sp); err != nil {
				badRelayed++
				if relayErr == nil {
					relayErr = err
				}
			} else {
				relayed = append(relayed, it)
			}
			return nil
		}
		n++
		id := correlate.TraceID(sp.TraceID)
		t, ok := byTrace[id]
		if !ok {
			t = len(g.traces)
			g.traces = append(g.traces, traceSpans{id: id})
			byTrace[id] = t
		}
		ts := &g.traces[t] // until the next append to g.traces
		if len(sp.TraceState) > 0 {
			w, invalid := spanWeight(sp.TraceState)
			if invalid {
				badTh++
			} else if w > 0 && ts.weight == 0 {
				ts.weight = w
			}
		}
		if hold {
			g.heldItems = append(g.heldItems, heldItem{trace: t, held: otlpwire.Held{Resource: res.Raw, ResourceSchema: res.SchemaURL,
				Scope: scope.Raw, ScopeSchema: scope.SchemaURL, Span: sp.Raw}, id: [8]byte(sp.SpanID)})
			ts.nheld++
		}
		if gw.Add(res, sp) {
			return nil // a gateway's span: Results maps it
		}
		if rec := spanRecord(c.strs, arena, res, sp); rec != nil {
			g.recItems = append(g.recItems, recItem{trace: t, rec: rec})
			ts.nrecs++
		}
		return nil
	})
	if err != nil {
		return err
	}
	g.layOut()
	traces := g.traces
	for _, r := range gw.Results(body) {
		t, ok := byTrace[r.TraceID]
		if !ok {
			continue // not a trace of this request's: cannot be
		}
		ts := &traces[t]
		// A client span of the gateway's service that was not known to
		// be a gateway's when it was walked (the server span matched by
		// a span attribute came later) is a try, not a backend call.
		ts.recs = slices.DeleteFunc(ts.recs, func(rec correlate.Record) bool {
			b, ok := rec.(*correlate.BackendCall)
			return ok && slices.Contains(r.TrySpanIDs, b.SpanID)
		})
		c.enrich(r.Ingress)
		ts.recs = append(ts.recs, r.Ingress)
	}
	if bad > 0 {
		c.reject(SrcOTLP, "bad_ids", "", bad, fmt.Errorf("%d spans with a trace id not 16 bytes (or all zero) or a span id not 8", bad))
	}
	c.m.received.WithLabelValues(SrcOTLP).Add(float64(n))
	if badTh > 0 {
		c.m.thInvalid.Add(float64(badTh))
	}
	c.addRelayed(relayed, badRelayed, relayErr)
	for i := range traces {
		ts := &traces[i]
		if late := c.em.add(now, ts.id, ts.recs, ts.held, ts.ids, ts.weight); late > 0 {
			c.m.late.Add(float64(late))
		}
	}
	return nil
}

// reject counts n refused inputs of source in
// hopscope_collector_rejected_total (reason: a fixed word, never error
// text) and logs why, rate-limited per source. where names the input
// (file:line, forward tag or peer), err the cause.
func (c *Collector) reject(source, reason, where string, n int, err error) {
	c.m.rejected.WithLabelValues(source, reason).Add(float64(n))
	c.rejects.note(c.now(), source, reason, where, err)
}

// addRecord files one record from a log or beacon. source is the receiver
// that took it in (hopscope_collector_received_total counts each record
// once, under it); where names the input for the rejection log.
func (c *Collector) addRecord(source, where string, rec correlate.Record) {
	now := c.now()
	c.enrich(rec)
	r, err := c.store.Add(now, rec)
	if err != nil {
		c.reject(source, "no_key", where, 1, err)
		return
	}
	c.m.received.WithLabelValues(source).Inc()
	if r.Pending {
		return
	}
	if r.Late {
		c.m.late.Inc()
	}
}

// grouping is consumeOTLP's scratch for sorting a request's spans by
// trace: the spans are listed as they come (recItems, heldItems), each
// naming its trace by index, and laid out trace by trace once the walk is
// done (layOut), in one slice per kind instead of append growing three
// slices per trace. Nothing of it outlives the request (the store copies
// the records it files, the emitter the spans and ids it holds), so it is
// pooled, emptied of its references to the request between uses.
type grouping struct {
	byTrace   map[correlate.TraceID]int // index in traces
	traces    []traceSpans
	recItems  []recItem
	heldItems []heldItem
	allRecs   []correlate.Record
	allHeld   []otlpwire.Held
	allIDs    [][8]byte
	arena     recordArena
}

// traceSpans is what one request brought for one trace.
type traceSpans struct {
	id     correlate.TraceID
	recs   []correlate.Record
	held   []otlpwire.Held
	ids    [][8]byte
	weight float64 // adjusted count of the first span with a threshold
	// nrecs and nheld count the trace's items during the walk.
	nrecs, nheld int
}

type recItem struct {
	trace int
	rec   correlate.Record
}

type heldItem struct {
	trace int
	held  otlpwire.Held
	id    [8]byte
}

var groupingPool = sync.Pool{New: func() any { return &grouping{byTrace: map[correlate.TraceID]int{}} }}

// maxPooledSpans bounds what a pooled grouping keeps room for: one after
// a larger request is dropped rather than kept.
const maxPooledSpans = 1 << 16

// layOut gives each trace its items, in the order they came, in its own
// part of one slice per kind (capped there: an append past it, the
// gateway's ingress record, takes a slice of its own).
func (g *grouping) layOut() {
	g.allRecs = slices.Grow(g.allRecs[:0], len(g.recItems))[:len(g.recItems)]
	g.allHeld = slices.Grow(g.allHeld[:0], len(g.heldItems))[:len(g.heldItems)]
	g.allIDs = slices.Grow(g.allIDs[:0], len(g.heldItems))[:len(g.heldItems)]
	for i, offRecs, offHeld := 0, 0, 0; i < len(g.traces); i++ {
		ts := &g.traces[i]
		ts.recs = g.allRecs[offRecs : offRecs : offRecs+ts.nrecs]
		ts.held = g.allHeld[offHeld : offHeld : offHeld+ts.nheld]
		ts.ids = g.allIDs[offHeld : offHeld : offHeld+ts.nheld]
		offRecs, offHeld = offRecs+ts.nrecs, offHeld+ts.nheld
	}
	for _, it := range g.recItems {
		ts := &g.traces[it.trace]
		ts.recs = append(ts.recs, it.rec)
	}
	for _, it := range g.heldItems {
		ts := &g.traces[it.trace]
		ts.held, ts.ids = append(ts.held, it.held), append(ts.ids, it.id)
	}
}

// release empties g of the request (its records and the bytes its spans
// point into) and pools it, unless it grew past maxPooledSpans.
func (g *grouping) release() {
	if cap(g.recItems) > maxPooledSpans || cap(g.heldItems) > maxPooledSpans || cap(g.traces) > maxPooledSpans ||
		g.arena.sidecars.records()+g.arena.backends.records() > maxPooledSpans {
		return
	}
	g.arena.reset()
	clear(g.byTrace)
	clear(g.traces)
	clear(g.recItems)
	clear(g.heldItems)
	clear(g.allRecs)
	clear(g.allHeld)
	g.traces, g.recItems, g.heldItems = g.traces[:0], g.recItems[:0], g.heldItems[:0]
	g.allRecs, g.allHeld, g.allIDs = g.allRecs[:0], g.allHeld[:0], g.allIDs[:0]
	groupingPool.Put(g)
}
