package backend

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Batch makes one span of the calls of a batch — a Redis pipeline: the
// commands a client wrote together, answered in order — as the semantic
// conventions describe batch operations: db.operation.name "BATCH " + the
// calls' operation when they share one, else "BATCH", and
// db.operation.batch.size. Every call is still timed on its own in the
// duration histogram; a span per command would cost the proxy most of a
// pipeline's throughput. The first call is begun with BeginHint (it is
// attributed), the others with BeginMember. A Batch is reused: the zero
// value is ready, and End makes it empty again. Not safe for concurrent
// use.
type Batch struct {
	first   Call
	firstOp Op
	n       int
	name    string // the calls' shared operation
	mixed   bool   // they do not share one
	errType string // the first call's error, if any
	end     time.Time
	// obs are the calls' observations, made after the span has ended
	// (Finish's rule: whoever sees a call counted finds its span).
	obs []batchObs
}

type batchObs struct {
	o       prometheus.Observer
	seconds float64
}

// BeginMember begins a call of the batch whose first call is first: it is
// tied to first's request, without asking the tracker again.
func (b *Backend) BeginMember(start time.Time, first Call) Call {
	return Call{b: b, start: start, parent: first.parent, tracestate: first.tracestate,
		attribution: first.attribution, reason: first.reason}
}

// Batches reports whether the calls of a batch are to make one span
// (Batch): spans are made, and not one for every call
// (Options.SpanEveryCall).
func (b *Backend) Batches() bool { return b.r.spans && !b.r.everyCall }

// Open reports whether calls were added since the last End.
func (bt *Batch) Open() bool { return bt.n > 0 }

// Add records that c, a call of the batch, ended at end with op.
func (bt *Batch) Add(c Call, end time.Time, op Op) {
	c.b.r.tracker.ended(c.req)
	bt.obs = append(bt.obs, batchObs{c.b.observer(op), end.Sub(c.start).Seconds()})
	if bt.n == 0 {
		bt.first, bt.firstOp, bt.name, bt.mixed, bt.errType = c, op, op.Name, false, ""
	} else if op.Name != bt.name {
		bt.mixed = true
	}
	if bt.errType == "" {
		bt.errType = op.Error
	}
	bt.n++
	bt.end = end
}

// End makes the batch's span, from its first call's start to its last
// call's end, then counts its calls, and empties the batch. A batch of
// one call is that call's own span.
func (bt *Batch) End() {
	if bt.n == 0 {
		return
	}
	if bt.n == 1 {
		bt.first.endSpan(bt.end, bt.firstOp, 0)
	} else {
		name := "BATCH"
		if !bt.mixed && bt.name != "" {
			name = "BATCH " + bt.name
		}
		bt.first.endSpan(bt.end, Op{Name: name, Namespace: bt.firstOp.Namespace, Error: bt.errType}, bt.n)
	}
	for i, o := range bt.obs {
		o.o.Observe(o.seconds)
		bt.obs[i] = batchObs{}
	}
	bt.obs = bt.obs[:0]
	bt.first, bt.firstOp, bt.n = Call{}, Op{}, 0
}
