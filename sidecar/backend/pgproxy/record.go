package pgproxy

import (
	"sync"
	"time"

	"github.com/hopscope/hopscope/internal/contract"
	"github.com/hopscope/hopscope/sidecar/backend"
	"go.opentelemetry.io/otel/attribute"
)

const (
	// recordDelay is how long finished calls gather before they are
	// recorded together: a span processor woken once per burst rather
	// than once per call. A call carries its own start and end, so the
	// delay changes nothing recorded.
	recordDelay = 2 * time.Millisecond
	// maxQueued bounds the calls waiting to be recorded; past it a
	// connection records its own calls at once.
	maxQueued = 16384
)

// recorder records the proxy's finished calls in bursts, off the relay
// goroutines. Its goroutine runs only while there are calls to record.
type recorder struct {
	mu      sync.Mutex
	queue   []finished
	spare   []finished
	running bool
}

// add queues calls to be recorded; false when the queue is full (the
// caller records them itself).
func (r *recorder) add(calls []finished) bool {
	r.mu.Lock()
	if len(r.queue)+len(calls) > maxQueued {
		r.mu.Unlock()
		return false
	}
	r.queue = append(r.queue, calls...)
	start := !r.running
	r.running = true
	r.mu.Unlock()
	if start {
		go r.drain()
	}
	return true
}

func (r *recorder) drain() {
	for {
		time.Sleep(recordDelay)
		r.mu.Lock()
		batch := r.queue
		if len(batch) == 0 {
			r.running = false
			r.mu.Unlock()
			return
		}
		r.queue = r.spare[:0]
		r.mu.Unlock()
		for i := range batch {
			record(&batch[i])
			batch[i] = finished{}
		}
		r.mu.Lock()
		r.spare = batch[:0]
		r.mu.Unlock()
	}
}

// record ends one call: its histogram observation and span.
func record(d *finished) {
	op := backend.Op{Name: d.kind, Text: d.text, Error: d.sqlstate, Namespace: d.namespace, Summary: d.summary}
	if d.severity != "" {
		op.Attrs = []attribute.KeyValue{
			attribute.String(contract.AttrDBResponseStatusCode, d.sqlstate),
			attribute.String(AttrSeverity, d.severity),
		}
	}
	if d.kind == KindConnect && d.auth != "" {
		op.Attrs = append(op.Attrs, attribute.String(contract.AttrDBAuthMethod, d.auth))
	}
	if d.kind == KindConnect && d.tls != "" {
		op.Attrs = append(op.Attrs, attribute.String(contract.AttrTLSProtocolVersion, d.tls))
	}
	d.call.Finish(d.end, op)
}
