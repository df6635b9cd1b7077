package collector

import (
	"context"
	"fmt"
	"slices"

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
	type traceSpans struct {
		recs   []correlate.Record
		held   []otlpwire.Held
		ids    [][8]byte
		weight float64 // adjusted count of the first span with a threshold
	}
	byTrace := map[correlate.TraceID]*traceSpans{}
	var n, bad, badTh int
	var relayed []relay.Item
	var badRelayed int
	var relayErr error
	hold := c.sink != nil
	var arena recordArena // the records live until em.add has filed them
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
		ts := byTrace[id]
		if ts == nil {
			ts = &traceSpans{}
			byTrace[id] = ts
		}
		if len(sp.TraceState) > 0 {
			w, invalid := spanWeight(sp.TraceState)
			if invalid {
				badTh++
			} else if w > 0 && ts.weight == 0 {
				ts.weight = w
			}
		}
		if hold {
			ts.held = append(ts.held, otlpwire.Held{Resource: res.Raw, ResourceSchema: res.SchemaURL,
				Scope: scope.Raw, ScopeSchema: scope.SchemaURL, Span: sp.Raw})
			ts.ids = append(ts.ids, [8]byte(sp.SpanID))
		}
		if gw.Add(res, sp) {
			return nil // a gateway's span: Results maps it
		}
		if rec := spanRecord(c.strs, &arena, res, sp); rec != nil {
			ts.recs = append(ts.recs, rec)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, r := range gw.Results(body) {
		ts := byTrace[r.TraceID]
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
	for id, ts := range byTrace {
		if late := c.em.add(now, id, ts.recs, ts.held, ts.ids, ts.weight); late > 0 {
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
