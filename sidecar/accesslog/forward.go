package accesslog

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/tinylib/msgp/msgp"
	"go.uber.org/zap"
)

// Shipping to Fluent Bit. Records are encoded as they are logged into
// chunks, and every chunk goes out as one PackedForward request asking for
// an acknowledgement (option "chunk"): [tag, bin(entries), {"chunk": id,
// "size": records}]. A chunk counts as delivered only once the receiver's
// {"ack": id} came back; a chunk that gets no ack is retried on a new
// connection and, after fluentMaxAttempts, its records are dropped and
// counted. Bytes written into a connection that is then abandoned (a peer
// that accepts and never reads, one that dies mid-stream) are therefore
// never taken for delivered.
//
// One chunk is in flight at a time. While it waits for its ack, records
// fill the next one; a chunk goes out when it is full (fluentChunkBytes)
// or FlushInterval after its first record, whichever comes first.
const (
	// fluentChunkBytes is the capacity of a chunk's buffer (a record
	// larger than that gets a buffer of its own size). Well under Fluent
	// Bit's forward input limit (Buffer_Max_Size, 6 MB by default) and the
	// collector's (16 MiB).
	fluentChunkBytes = 256 << 10
	// fluentMinChunks: the chunk capacity shrinks so that this many fit in
	// FluentBufferBytes.
	fluentMinChunks = 4
	// fluentMaxAttempts bounds the sends of one chunk (each failed one
	// closes the connection; the next dials a new one).
	fluentMaxAttempts = 3
	// fluentBackoffInitial and fluentBackoffMax: the wait before an
	// attempt after a failure doubles from the first to the second and is
	// reset by a delivered chunk.
	fluentBackoffInitial = 100 * time.Millisecond
	fluentBackoffMax     = 2 * time.Second
	fluentDialTimeout    = time.Second
	// fluentIdleClose: a connection unused this long is closed rather than
	// reused (receivers and load balancers drop idle connections, and a
	// chunk written into one would fail its first attempt).
	fluentIdleClose = 30 * time.Second
	// fluentWarnEvery rate-limits the "access log shipping failed" line.
	fluentWarnEvery = 10 * time.Second
	// entryOverhead is what appendEntry adds to a record's msgpack map:
	// the 2-element array header and the EventTime extension.
	entryOverhead = 1 + 10
)

// chunk is a run of encoded entries and the number of records in it.
type chunk struct {
	buf []byte
	n   int
}

// shipper queues encoded records and sends them to one Fluent forward
// address from one goroutine.
type shipper struct {
	addr       string
	tag        string
	maxRecords int
	maxBytes   int
	chunkCap   int
	ackTimeout time.Duration
	flushEvery time.Duration
	onDrop     func(n int)
	log        *zap.Logger

	mu      sync.Mutex
	open    chunk   // being filled by add; buf nil when there is none
	sealed  []chunk // full chunks waiting to be sent, oldest first
	spare   []byte  // an empty buffer kept for the next chunk
	records int     // records in open, sealed and in flight
	sent    uint64  // records whose chunk was acknowledged
	held    int     // capacity of every buffer: open, sealed, in flight, spare
	closing bool    // shutdown began: add refuses, the sender empties the queue

	wake   chan struct{} // the sender has something to look at
	ctx    context.Context
	cancel context.CancelFunc // abandons the send in progress and stops the sender
	done   chan struct{}      // closed when the sender has exited

	// Of the sender goroutine.
	conn     net.Conn
	rd       *msgp.Reader
	stopConn func() bool // unregisters the close-on-cancel of conn
	lastUse  time.Time
	backoff  time.Duration
	idPrefix [8]byte
	seq      uint64
	head     []byte
	trail    []byte
	// The last "access log shipping failed" line and the failures since.
	warned        time.Time
	failedChunks  int
	failedRecords int
}

func newShipper(addr, tag string, maxRecords, maxBytes int, ackTimeout, flushEvery time.Duration, onDrop func(int), log *zap.Logger) *shipper {
	s := &shipper{
		addr:       addr,
		tag:        tag,
		maxRecords: maxRecords,
		maxBytes:   maxBytes,
		chunkCap:   min(fluentChunkBytes, maxBytes/fluentMinChunks),
		ackTimeout: ackTimeout,
		flushEvery: flushEvery,
		onDrop:     onDrop,
		log:        log,
		wake:       make(chan struct{}, 1),
		done:       make(chan struct{}),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	_, _ = rand.Read(s.idPrefix[:])
	go s.run()
	return s
}

// add encodes r into the open chunk. It returns false, keeping nothing,
// when the record does not fit within maxRecords or maxBytes or shutdown
// has begun.
func (s *shipper) add(t time.Time, r *Record) bool {
	need := entryOverhead + r.Msgsize()
	s.mu.Lock()
	if s.closing || s.records >= s.maxRecords {
		s.mu.Unlock()
		return false
	}
	if cap(s.open.buf)-len(s.open.buf) < need && !s.newOpen(need) {
		s.mu.Unlock()
		return false
	}
	first := s.open.n == 0
	s.open.buf = appendEntry(s.open.buf, t, r)
	s.open.n++
	s.records++
	s.mu.Unlock()
	if first {
		s.signal()
	}
	return true
}

// newOpen seals the open chunk, if any, and opens one with room for need
// bytes. It returns false when that buffer would take held past maxBytes.
// Called with mu held.
func (s *shipper) newOpen(need int) bool {
	if s.open.n > 0 {
		s.sealed = append(s.sealed, s.open)
		s.open = chunk{}
		s.signal()
	} else if s.open.buf != nil {
		// Empty but too small for this record: give it back.
		s.releaseBuf(s.open.buf)
		s.open.buf = nil
	}
	if cap(s.spare) >= need {
		s.open.buf, s.spare = s.spare, nil
		return true
	}
	size := max(s.chunkCap, need)
	if s.held+size > s.maxBytes && s.spare != nil {
		// The spare is too small for this record: trade it in.
		s.held -= cap(s.spare)
		s.spare = nil
	}
	if s.held+size > s.maxBytes {
		return false
	}
	s.held += size
	s.open.buf = make([]byte, 0, size)
	return true
}

// releaseBuf keeps buf as the spare when it is a standard chunk buffer and
// there is none yet, and otherwise lets it go. Called with mu held.
func (s *shipper) releaseBuf(buf []byte) {
	if s.spare == nil && cap(buf) == s.chunkCap {
		s.spare = buf[:0]
		return
	}
	s.held -= cap(buf)
}

func (s *shipper) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// appendEntry appends the forward-protocol entry [EventTime, record].
func appendEntry(b []byte, t time.Time, r *Record) []byte {
	b = append(b, 0x92, 0xd7, 0x00) // fixarray 2; fixext 8 of type 0, EventTime
	b = binary.BigEndian.AppendUint32(b, uint32(t.Unix()))
	b = binary.BigEndian.AppendUint32(b, uint32(t.Nanosecond()))
	b, _ = r.MarshalMsg(b) // never fails
	return b
}

// run is the sender goroutine.
func (s *shipper) run() {
	defer close(s.done)
	defer s.closeConn()
	for {
		c, ok := s.next()
		if !ok {
			return
		}
		err := s.deliver(c)
		s.mu.Lock()
		s.records -= c.n
		s.releaseBuf(c.buf)
		if err == nil {
			s.sent += uint64(c.n)
		}
		s.mu.Unlock()
		if err != nil {
			s.onDrop(c.n)
			s.failed(c.n, err)
		}
	}
}

// next waits for the next chunk to send: the oldest sealed one, else the
// open one once FlushInterval has passed since the sender saw its first
// record (at once during shutdown). It returns false when the sender is to
// stop.
func (s *shipper) next() (chunk, bool) {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	due := false
	for {
		s.mu.Lock()
		if len(s.sealed) > 0 {
			c := s.sealed[0]
			s.sealed[0] = chunk{}
			s.sealed = s.sealed[1:]
			if len(s.sealed) == 0 {
				s.sealed = s.sealed[:0:0] // let the backing array go
			}
			s.mu.Unlock()
			return c, true
		}
		if s.open.n > 0 && (due || s.closing) {
			c := s.open
			s.open = chunk{}
			s.mu.Unlock()
			return c, true
		}
		closing, pending := s.closing, s.open.n > 0
		s.mu.Unlock()
		if closing {
			return chunk{}, false
		}
		var tick <-chan time.Time
		if pending {
			if timer == nil {
				timer = time.NewTimer(s.flushEvery)
			}
			tick = timer.C
		}
		select {
		case <-s.wake:
		case <-tick:
			due = true
		case <-s.ctx.Done():
			return chunk{}, false
		}
	}
}

// deliver sends c until it is acknowledged, at most fluentMaxAttempts
// times.
func (s *shipper) deliver(c chunk) error {
	var err error
	for attempt := 1; attempt <= fluentMaxAttempts; attempt++ {
		if s.backoff > 0 {
			t := time.NewTimer(s.backoff)
			select {
			case <-t.C:
			case <-s.ctx.Done():
				t.Stop()
				return errors.Join(err, fmt.Errorf("fluent: send to %s: %w", s.addr, context.Cause(s.ctx)))
			}
		}
		if err = s.try(c); err == nil {
			s.backoff = 0
			return nil
		}
		s.log.Debug("fluent send attempt failed", zap.Int("attempt", attempt), zap.Int("records", c.n), zap.Error(err))
		s.closeConn()
		if s.ctx.Err() != nil {
			return err
		}
		s.backoff = min(max(2*s.backoff, fluentBackoffInitial), fluentBackoffMax)
	}
	return err
}

// try makes one attempt: it writes c as one PackedForward request on the
// connection (dialled if need be) and reads the acknowledgement, all within
// ackTimeout.
func (s *shipper) try(c chunk) error {
	if s.conn != nil && time.Since(s.lastUse) > fluentIdleClose {
		s.closeConn()
	}
	if s.conn == nil {
		d := net.Dialer{Timeout: fluentDialTimeout}
		conn, err := d.DialContext(s.ctx, "tcp", s.addr)
		if err != nil {
			return fmt.Errorf("fluent: %w", err)
		}
		s.conn = conn
		// Cancelling ctx (shutdown's deadline) unblocks a write or a read.
		s.stopConn = context.AfterFunc(s.ctx, func() { _ = conn.Close() })
		s.rd = msgp.NewReaderSize(conn, 512)
		s.rd.SetMaxElements(16)
		s.rd.SetMaxStringLength(1024)
	}
	if err := s.conn.SetDeadline(time.Now().Add(s.ackTimeout)); err != nil {
		return fmt.Errorf("fluent: set deadline: %w", err)
	}
	id := s.nextID()
	s.head = msgp.AppendArrayHeader(s.head[:0], 3)
	s.head = msgp.AppendString(s.head, s.tag)
	s.head = msgp.AppendBytesHeader(s.head, uint32(len(c.buf)))
	s.trail = msgp.AppendMapHeader(s.trail[:0], 2)
	s.trail = msgp.AppendString(s.trail, "chunk")
	s.trail = msgp.AppendString(s.trail, id)
	s.trail = msgp.AppendString(s.trail, "size")
	s.trail = msgp.AppendInt(s.trail, c.n)
	bufs := net.Buffers{s.head, c.buf, s.trail}
	if _, err := bufs.WriteTo(s.conn); err != nil {
		return fmt.Errorf("fluent: send %d records to %s: %w", c.n, s.addr, err)
	}
	ack, err := readAck(s.rd)
	if err != nil {
		return fmt.Errorf("fluent: ack of %d records from %s: %w", c.n, s.addr, err)
	}
	if ack != id {
		return fmt.Errorf("fluent: ack %q from %s, want %q", ack, s.addr, id)
	}
	s.lastUse = time.Now()
	return nil
}

// nextID returns a chunk id unique to this sender: 16 bytes (8 random
// ones, then a sequence number) in base64, as fluentd's are.
func (s *shipper) nextID() string {
	s.seq++
	var raw [16]byte
	copy(raw[:8], s.idPrefix[:])
	binary.BigEndian.PutUint64(raw[8:], s.seq)
	return base64.StdEncoding.EncodeToString(raw[:])
}

// readAck reads the {"ack": id} response and returns id.
func readAck(r *msgp.Reader) (string, error) {
	n, err := r.ReadMapHeader()
	if err != nil {
		return "", err
	}
	ack, found := "", false
	for range n {
		k, err := r.ReadString()
		if err != nil {
			return "", err
		}
		if k != "ack" {
			if err := r.Skip(); err != nil {
				return "", err
			}
			continue
		}
		if ack, err = r.ReadString(); err != nil {
			return "", fmt.Errorf("ack: %w", err)
		}
		found = true
	}
	if !found {
		return "", errors.New(`response without "ack"`)
	}
	return ack, nil
}

func (s *shipper) closeConn() {
	if s.conn == nil {
		return
	}
	s.stopConn()
	_ = s.conn.Close()
	s.conn, s.rd, s.stopConn = nil, nil, nil
}

// failed logs a dropped chunk at Warn, at most once per fluentWarnEvery,
// with the failures since the previous line (the records are in
// hopscope_telemetry_dropped_total{sink="fluent"}).
func (s *shipper) failed(records int, err error) {
	s.failedChunks++
	s.failedRecords += records
	now := time.Now()
	if !s.warned.IsZero() && now.Sub(s.warned) < fluentWarnEvery {
		return
	}
	msg := err.Error()
	if len(msg) > 300 {
		msg = msg[:300]
	}
	s.log.Warn("access log shipping failed", zap.String("error", msg), zap.Int("chunks", s.failedChunks),
		zap.Int("records_dropped", s.failedRecords))
	s.warned, s.failedChunks, s.failedRecords = now, 0, 0
}

// shutdown refuses new records and lets the sender send what is queued
// while ctx leaves time (less a reserve); then it abandons the send in
// progress and drops (counting them) the records still queued. It returns
// an error, ctx's, when records were dropped that way.
func (s *shipper) shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	s.signal()

	drainCtx := ctx
	if deadline, ok := ctx.Deadline(); ok {
		reserve := min(time.Until(deadline)/5, 250*time.Millisecond)
		var cancel context.CancelFunc
		drainCtx, cancel = context.WithDeadline(ctx, deadline.Add(-reserve))
		defer cancel()
	}
	select {
	case <-s.done:
	case <-drainCtx.Done():
	}
	// Every blocking step of the sender ends when ctx is cancelled.
	s.cancel()
	<-s.done

	s.mu.Lock()
	n := s.records
	s.records = 0
	s.open, s.sealed, s.spare, s.held = chunk{}, nil, nil, 0
	s.mu.Unlock()
	if n > 0 {
		s.onDrop(n)
		return fmt.Errorf("accesslog: fluent: %d records not delivered: %w", n, drainCtx.Err())
	}
	return nil
}

// usage returns the records and the buffer bytes held.
func (s *shipper) usage() (records, bytes int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.records, s.held
}

// full reports whether the queue holds maxRecords records (benchmarks pace
// themselves with it).
func (s *shipper) full() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.records >= s.maxRecords
}
