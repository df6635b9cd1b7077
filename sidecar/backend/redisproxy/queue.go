package redisproxy

import (
	"sync"

	"go.opentelemetry.io/otel/attribute"

	"github.com/hopscope/hopscope/internal/contract"
	"github.com/hopscope/hopscope/sidecar/backend"
)

// maxPending bounds the commands sent and not yet answered on one
// connection; past it the proxy stops decoding rather than grow.
const maxPending = 1 << 18

// Why the command side queues no more commands.
const (
	openQueue   uint8 = iota
	closeEnded        // the app's stream ended (or the relay to the server failed)
	closeStop         // MONITOR, SYNC, PSYNC: the rest is relayed untimed
	closeFailed       // decoding stopped: a violation, CLIENT REPLY OFF|SKIP…
)

// pending is a command sent and not yet answered.
type pending struct {
	call  backend.Call
	op    uint16
	kind  uint8
	nargs int32
	db    int32 // a SELECT's index, else -1
	setup bool  // sent at connection start: HELLO, AUTH, SELECT, CLIENT before any other command
	batch uint8 // batchFirst, batchMember, batchLast bits: its place in a pipeline (0: alone)
}

// A pending command's place in a pipeline: the commands one read of the
// app's stream completed, answered by one span (backend.Batch).
const (
	batchFirst  uint8 = 1 << iota // the first, and more follow
	batchMember                   // a later one
	batchLast                     // the read ends with it
)

// AttrConnectionSetup is true on the span of a command sent at
// connection start (HELLO, AUTH, SELECT, CLIENT before any other
// command): the connection's setup, timed as its own operations.
const AttrConnectionSetup = contract.AttrDBConnectionSetup

// setupAttrs are the extra attributes of a setup command's span, shared
// (Finish copies them).
var setupAttrs = []attribute.KeyValue{attribute.Bool(AttrConnectionSetup, true)}

// opOf is what the call of p ended in: its command's name and errType,
// run against database db (db.namespace).
func (p *pending) opOf(errType string, db int32) backend.Op {
	op := backend.Op{Name: opNames[p.op], Error: errType, Namespace: dbName(db)}
	if p.setup {
		op.Attrs = setupAttrs
	}
	return op
}

// queue is the FIFO of pending commands: the command side pushes, the
// reply side takes them in order. A ring that grows by doubling.
type queue struct {
	mu     sync.Mutex
	ring   []pending
	head   int
	n      int
	closed uint8
}

// push appends p; false when maxPending commands are pending already.
func (q *queue) push(p pending) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.n == len(q.ring) {
		if q.n >= maxPending {
			return false
		}
		grown := make([]pending, max(16, 2*len(q.ring)))
		for i := 0; i < q.n; i++ {
			grown[i] = q.ring[(q.head+i)%len(q.ring)]
		}
		q.ring, q.head = grown, 0
	}
	q.ring[(q.head+q.n)%len(q.ring)] = p
	q.n++
	return true
}

// front returns the oldest pending command without taking it; ok is false
// when none is pending, closed then says whether more may come.
func (q *queue) front() (p pending, ok bool, closed uint8) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.n == 0 {
		return p, false, q.closed
	}
	return q.ring[q.head], true, q.closed
}

// pop drops the oldest pending command.
func (q *queue) pop() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.n == 0 {
		return
	}
	q.ring[q.head] = pending{}
	q.head = (q.head + 1) % len(q.ring)
	q.n--
}

// close records that no more commands come, and why.
func (q *queue) close(why uint8) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed == openQueue {
		q.closed = why
	}
}

// state returns the pending count and the close reason.
func (q *queue) state() (n int, closed uint8) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n, q.closed
}
