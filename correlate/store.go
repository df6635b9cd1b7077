package correlate

import (
	"container/list"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Record is one normalised input: *BrowserTiming, *LoadBalancerLog,
// *IngressLog, *SidecarSpan or *BackendCall.
type Record interface {
	keys() *Keys
}

func (k *Keys) keys() *Keys { return k }

// StoreConfig bounds a Store.
type StoreConfig struct {
	// Window is how long a trace is kept after its last record: data that
	// arrives later than the request by less than this (an ALB log five
	// minutes late) still updates the trace's breakdown.
	Window time.Duration
	// Delay is how long after its last update a trace is due (Due, the
	// collector's export delay): zero, at the next Due.
	Delay time.Duration
	// MaxTraces bounds the traces held; beyond it the trace due longest
	// ago is evicted, else the least recently updated one (due early).
	MaxTraces int
	// MaxPending bounds records that carry only an X-Request-ID no trace
	// has claimed yet; the oldest is dropped beyond it.
	MaxPending int
	// MaxSpansPerTrace bounds sidecar spans plus backend calls per trace.
	MaxSpansPerTrace int
}

// DefaultStoreConfig returns the collector's defaults.
func DefaultStoreConfig() StoreConfig {
	return StoreConfig{Window: 10 * time.Minute, MaxTraces: 100_000, MaxPending: 10_000, MaxSpansPerTrace: 1_000}
}

// Validate names the bad field.
func (c StoreConfig) Validate() error {
	var errs []error
	if c.Window <= 0 {
		errs = append(errs, errors.New("Window: must be positive"))
	}
	if c.Delay < 0 {
		errs = append(errs, errors.New("Delay: must not be negative"))
	}
	if c.MaxTraces < 1 {
		errs = append(errs, errors.New("MaxTraces: must be at least 1"))
	}
	if c.MaxPending < 0 {
		errs = append(errs, errors.New("MaxPending: must not be negative"))
	}
	if c.MaxSpansPerTrace < 1 {
		errs = append(errs, errors.New("MaxSpansPerTrace: must be at least 1"))
	}
	return errors.Join(errs...)
}

// StoreStats are a Store's counters.
type StoreStats struct {
	// Traces held (with records or only state), Waiting among them for
	// their Delay, Pending records waiting for a request id's trace.
	Traces, Waiting, Pending         int
	Evicted, Expired, PendingDropped uint64
	SpansDropped                     uint64
}

// AddResult says what Add did with a record.
type AddResult struct {
	// TraceID the record was filed under (zero while pending).
	TraceID TraceID
	// Pending is true when the record waits for a trace to claim its
	// X-Request-ID.
	Pending bool
	// Late is true when the trace had been due before this record changed
	// it (its breakdown handed to Hooks.Due: the collector observed its
	// hops and exported its spans). Reading a breakdown (View, Recent: the
	// API and UI) does not make the next record late.
	Late bool
}

// ErrNoKey is returned for a record with no trace id, X-Ray Root or
// X-Request-ID.
var ErrNoKey = errors.New("record has no trace id, X-Ray root or request id")

// Due is a trace handed to Hooks.Due.
type Due[T any] struct {
	ID TraceID
	// Group and Breakdown are nil for a trace that has only State (no
	// record was filed under it); they are valid during the call only.
	Group     *Group
	Breakdown *Breakdown
	// State is the trace's state, the caller's to update.
	State *T
	// Early is true when the trace is due before its Delay passed: it is
	// evicted to make room for a new trace (MaxTraces).
	Early bool
}

// Hooks are what a Store calls, with the store locked, as traces come
// due and go. They must not call the Store.
type Hooks[T any] struct {
	// Due is called when a trace is due: Delay passed since its last
	// update (or Due was called with all), or it is evicted before that.
	// A trace updated after being due is due again after Delay.
	Due func(Due[T])
	// Evicted is called when a trace that was due and not updated since
	// is evicted for room before its window ended.
	Evicted func(id TraceID, state *T)
}

// Store joins records by trace id and keeps the most recent traces within
// a time window and a count: every trace once, in one table. Each trace
// carries a State of the caller's type T (the collector's export state),
// which the store keeps, bounds and drops with the trace, and hands to
// Hooks when the trace comes due. It is safe for concurrent use. Time is
// passed in by the caller.
type Store[T any] struct {
	cfg   StoreConfig
	hooks Hooks[T]

	mu      sync.Mutex
	traces  map[TraceID]*entry[T]
	waiting entryList[T] // updated since last due, by last update, oldest first
	done    entryList[T] // due and not updated since, by last update, oldest first
	reqToID map[string]TraceID
	pending map[string][]pendingRec
	pendQ   *list.List // request ids, oldest at the back
	stats   StoreStats
}

type entry[T any] struct {
	g          Group
	prev, next *entry[T] // in waiting or done
	updated    int64     // unix nanoseconds
	done       bool      // in done: due, nothing new since
	emitted    bool      // due at least once
	records    bool      // a record was filed (else only state)
	cached     *Breakdown
	requestIDs []string
	state      T
}

// entryList is an intrusive list of entries, oldest at the head.
type entryList[T any] struct {
	head, tail *entry[T]
	n          int
}

func (l *entryList[T]) pushBack(e *entry[T]) {
	e.prev, e.next = l.tail, nil
	if l.tail != nil {
		l.tail.next = e
	} else {
		l.head = e
	}
	l.tail = e
	l.n++
}

func (l *entryList[T]) remove(e *entry[T]) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		l.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		l.tail = e.prev
	}
	e.prev, e.next = nil, nil
	l.n--
}

type pendingRec struct {
	rec  Record
	at   time.Time
	elem *list.Element
}

// NewStore returns an empty store calling hooks.
func NewStore[T any](cfg StoreConfig, hooks Hooks[T]) (*Store[T], error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("correlate store: %w", err)
	}
	return &Store[T]{cfg: cfg, hooks: hooks, traces: map[TraceID]*entry[T]{}, reqToID: map[string]TraceID{},
		pending: map[string][]pendingRec{}, pendQ: list.New()}, nil
}

// Add files rec under its trace: by trace id, else by the X-Ray Root's
// trace id, else by an X-Request-ID that a trace has claimed (a sidecar
// span carries both). A record known only by an unclaimed request id waits
// until a trace claims it or it ages out. A trace id that is not 32 hex
// digits counts as none.
func (s *Store[T]) Add(now time.Time, rec Record) (AddResult, error) {
	k := rec.keys()
	var id TraceID
	if k.TraceID != "" {
		id, _ = ParseTraceID(k.TraceID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.add(now, id, rec)
}

// AddTrace files recs, all of trace id (their own Keys.TraceID is not
// read), and calls update, when not nil, with the trace's state: one
// lock for what one request brought for one trace (the OTLP receiver's
// spans, whose trace id is already binary). It returns how many records
// were late.
func (s *Store[T]) AddTrace(now time.Time, id TraceID, recs []Record, update func(*T)) (late int) {
	if id.IsZero() {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// The entry first, to size its slices once: adding records of this
	// (known) trace id makes no other entry, so nothing evicts it meanwhile.
	e := s.entry(now, id)
	s.reserve(e, recs)
	for _, rec := range recs {
		if r, err := s.add(now, id, rec); err == nil && r.Late {
			late++
		}
	}
	if update != nil {
		update(&e.state)
	}
	return late
}

func (s *Store[T]) add(now time.Time, id TraceID, rec Record) (AddResult, error) {
	k := rec.keys()
	known := !id.IsZero()
	if id.IsZero() && k.XRayRoot != "" {
		id, _ = TraceIDFromXRayRoot(k.XRayRoot)
	}
	if id.IsZero() && k.RequestID != "" {
		id = s.reqToID[k.RequestID]
	}
	if id.IsZero() {
		if k.RequestID == "" {
			return AddResult{}, ErrNoKey
		}
		s.park(now, k.RequestID, rec)
		return AddResult{Pending: true}, nil
	}
	e := s.entry(now, id)
	late := e.emitted
	s.merge(e, rec)
	if k.RequestID != "" && known {
		s.claim(e, id, k.RequestID)
	}
	return AddResult{TraceID: id, Late: late}, nil
}

// entry returns trace id's entry, made or moved to the back of waiting:
// updated at now.
func (s *Store[T]) entry(now time.Time, id TraceID) *entry[T] {
	e, ok := s.traces[id]
	switch {
	case !ok:
		for len(s.traces) >= s.cfg.MaxTraces {
			s.evictOne()
		}
		e = &entry[T]{g: Group{TraceID: id}}
		s.traces[id] = e
	case e.done:
		s.done.remove(e)
		e.done = false
	default:
		s.waiting.remove(e)
	}
	s.waiting.pushBack(e)
	e.updated = now.UnixNano()
	return e
}

// evictOne makes room: the trace due longest ago goes first, else the
// least recently updated one, due early.
func (s *Store[T]) evictOne() {
	if e := s.done.head; e != nil {
		s.remove(e)
		s.stats.Evicted++
		if s.hooks.Evicted != nil {
			s.hooks.Evicted(e.g.TraceID, &e.state)
		}
		return
	}
	e := s.waiting.head
	s.makeDue(e, true)
	s.remove(e)
	s.stats.Evicted++
}

func (s *Store[T]) remove(e *entry[T]) {
	if e.done {
		s.done.remove(e)
	} else {
		s.waiting.remove(e)
	}
	delete(s.traces, e.g.TraceID)
	for _, r := range e.requestIDs {
		if s.reqToID[r] == e.g.TraceID {
			delete(s.reqToID, r)
		}
	}
}

// reserve makes room in e's held slices for the sidecar spans and backend
// calls among recs (no more than MaxSpansPerTrace allows): one allocation
// of exactly the size they need instead of append doubling its way there,
// copying ~200-byte records each time, and a slice that makeDue need not
// fit again when they were all the trace's (the common case: its spans
// come in one request).
func (s *Store[T]) reserve(e *entry[T], recs []Record) {
	var ns, nb int
	for _, rec := range recs {
		switch rec.(type) {
		case *SidecarSpan:
			ns++
		case *BackendCall:
			nb++
		}
	}
	room := s.cfg.MaxSpansPerTrace - len(e.g.Sidecars) - len(e.g.Backends)
	ns = max(min(ns, room), 0)
	nb = max(min(nb, room-ns), 0)
	e.g.Sidecars, e.g.Backends = grown(e.g.Sidecars, ns), grown(e.g.Backends, nb)
}

// grown is rs with room for n more, in a slice of exactly that capacity
// when it must grow (bounded by the caller: MaxSpansPerTrace is checked
// as records are merged).
func grown[T any](rs []T, n int) []T {
	if n == 0 || cap(rs)-len(rs) >= n {
		return rs
	}
	out := make([]T, len(rs), len(rs)+n)
	copy(out, rs)
	return out
}

func cloneKeys(k Keys) Keys {
	// The trace id is the group's: a filed record does not keep its own
	// hex copy.
	return Keys{XRayRoot: strings.Clone(k.XRayRoot), RequestID: strings.Clone(k.RequestID)}
}

func (s *Store[T]) merge(e *entry[T], rec Record) {
	e.cached = nil
	e.records = true
	g := &e.g
	spans := len(g.Sidecars) + len(g.Backends)
	switch r := rec.(type) {
	case *BrowserTiming:
		c := *r
		c.Keys = cloneKeys(c.Keys)
		g.Browser = &c
	case *LoadBalancerLog:
		c := *r
		// Parsed fields point into the log line; cloning them lets the
		// line go instead of keeping it alive for the whole window.
		c.Keys = cloneKeys(c.Keys)
		c.Method, c.Path, c.TargetAddr = strings.Clone(c.Method), strings.Clone(c.Path), strings.Clone(c.TargetAddr)
		g.LB = &c
	case *IngressLog:
		c := *r
		c.Keys = cloneKeys(c.Keys)
		c.Method, c.Path, c.Host, c.Upstream = strings.Clone(c.Method), strings.Clone(c.Path), strings.Clone(c.Host), strings.Clone(c.Upstream)
		c.Tries = slices.Clone(r.Tries)
		for i := range c.Tries {
			tr := &c.Tries[i]
			tr.Addr, tr.Pod, tr.Namespace = strings.Clone(tr.Addr), strings.Clone(tr.Pod), strings.Clone(tr.Namespace)
			tr.Node, tr.Zone = strings.Clone(tr.Node), strings.Clone(tr.Zone)
		}
		g.Ingress = &c
	case *SidecarSpan:
		if !r.SpanID.IsZero() && slices.ContainsFunc(g.Sidecars, func(x SidecarSpan) bool { return x.SpanID == r.SpanID }) {
			return
		}
		if spans >= s.cfg.MaxSpansPerTrace {
			s.stats.SpansDropped++
			return
		}
		c := *r
		c.TraceID = ""
		g.Sidecars = append(g.Sidecars, c)
	case *BackendCall:
		if !r.SpanID.IsZero() && slices.ContainsFunc(g.Backends, func(x BackendCall) bool { return x.SpanID == r.SpanID }) {
			return
		}
		if spans >= s.cfg.MaxSpansPerTrace {
			s.stats.SpansDropped++
			return
		}
		c := *r
		c.TraceID = ""
		g.Backends = append(g.Backends, c)
	}
}

// fitted is rs in a slice of exactly its length: a trace is due once its
// records have come, and then held for the rest of the window, where
// append's spare capacity would cost memory for nothing.
func fitted[T any](rs []T) []T {
	if cap(rs) == len(rs) {
		return rs
	}
	out := make([]T, len(rs))
	copy(out, rs)
	return out
}

// claim ties a request id to a trace and files the records waiting for it.
func (s *Store[T]) claim(e *entry[T], id TraceID, reqID string) {
	if _, ok := s.reqToID[reqID]; !ok {
		reqID = strings.Clone(reqID)
		s.reqToID[reqID] = id
		e.requestIDs = append(e.requestIDs, reqID)
	}
	for _, p := range s.pending[reqID] {
		s.pendQ.Remove(p.elem)
		s.merge(e, p.rec)
	}
	delete(s.pending, reqID)
}

func (s *Store[T]) park(now time.Time, reqID string, rec Record) {
	if s.cfg.MaxPending == 0 {
		s.stats.PendingDropped++
		return
	}
	for s.pendQ.Len() >= s.cfg.MaxPending {
		s.dropOldestPending()
	}
	elem := s.pendQ.PushFront(reqID)
	s.pending[reqID] = append(s.pending[reqID], pendingRec{rec: rec, at: now, elem: elem})
}

func (s *Store[T]) dropOldestPending() {
	back := s.pendQ.Back()
	reqID := back.Value.(string)
	s.pendQ.Remove(back)
	recs := s.pending[reqID]
	for i, p := range recs {
		if p.elem == back {
			recs = append(recs[:i], recs[i+1:]...)
			break
		}
	}
	if len(recs) == 0 {
		delete(s.pending, reqID)
	} else {
		s.pending[reqID] = recs
	}
	s.stats.PendingDropped++
}

// Expire drops traces not updated within the window and pending records
// older than it, and returns how many traces it dropped. A trace still
// waiting for its Delay (a Delay longer than the window) is due first.
func (s *Store[T]) Expire(now time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	cutoff := now.Add(-s.cfg.Window).UnixNano()
	n := 0
	for e := s.done.head; e != nil && e.updated < cutoff; e = s.done.head {
		s.remove(e)
		n++
	}
	for e := s.waiting.head; e != nil && e.updated < cutoff; e = s.waiting.head {
		s.makeDue(e, false)
		s.remove(e)
		n++
	}
	s.stats.Expired += uint64(n)
	for back := s.pendQ.Back(); back != nil; back = s.pendQ.Back() {
		reqID := back.Value.(string)
		recs := s.pending[reqID]
		idx := slices.IndexFunc(recs, func(p pendingRec) bool { return p.elem == back })
		if idx >= 0 && !recs[idx].at.Before(now.Add(-s.cfg.Window)) {
			break
		}
		s.dropOldestPending()
	}
	return n
}

// Due hands every trace whose Delay has passed since its last update (all:
// every trace updated since it was last due, for a shutdown) to Hooks.Due,
// oldest first, and returns how many. The store is locked for one trace at
// a time, so that adding records goes on between them.
func (s *Store[T]) Due(now time.Time, all bool) int {
	ripe := now.Add(-s.cfg.Delay).UnixNano()
	n, limit := 0, -1
	for {
		s.mu.Lock()
		if limit < 0 {
			limit = s.waiting.n // all: not the traces that come meanwhile
		}
		e := s.waiting.head
		if e == nil || n >= limit || !(all || e.updated <= ripe) {
			s.mu.Unlock()
			return n
		}
		s.makeDue(e, false)
		s.mu.Unlock()
		n++
	}
}

// makeDue moves a waiting trace to done and hands it to Hooks.Due. Its
// records have come: it is held for the rest of the window for late data
// and reads, so it keeps no spare capacity and no cached breakdown (a
// read computes one again).
func (s *Store[T]) makeDue(e *entry[T], early bool) {
	s.waiting.remove(e)
	s.done.pushBack(e)
	e.done = true
	d := Due[T]{ID: e.g.TraceID, State: &e.state, Early: early}
	if e.records {
		e.emitted = true
		e.g.Sidecars, e.g.Backends = fitted(e.g.Sidecars), fitted(e.g.Backends)
		var b Breakdown
		if e.cached != nil {
			b = *e.cached // a read computed it since the last record
		} else {
			b = Compute(e.g) // not cached: it would be dropped at once
		}
		e.cached = nil
		d.Group, d.Breakdown = &e.g, &b
	}
	if s.hooks.Due != nil {
		s.hooks.Due(d)
	}
}

// View computes (or returns the cached) breakdown of a trace, for
// reading: the API and the UI. It does not make the next record late.
// A trace with no record has no breakdown.
func (s *Store[T]) View(id TraceID) (Breakdown, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.traces[id]
	if !ok || !e.records {
		return Breakdown{}, false
	}
	return s.compute(e), true
}

func (s *Store[T]) compute(e *entry[T]) Breakdown {
	if e.cached == nil {
		b := Compute(e.g)
		e.cached = &b
	}
	return *e.cached
}

// Group returns a copy of what the store holds for a trace.
func (s *Store[T]) Group(id TraceID) (Group, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.traces[id]
	if !ok || !e.records {
		return Group{}, false
	}
	g := e.g
	g.Sidecars = slices.Clone(g.Sidecars)
	g.Backends = slices.Clone(g.Backends)
	return g, true
}

// Inspect calls fn with the state of trace id, the store locked, and
// reports whether the store holds the trace.
func (s *Store[T]) Inspect(id TraceID, fn func(*T)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.traces[id]
	if ok {
		fn(&e.state)
	}
	return ok
}

// Filter selects breakdowns in Recent; empty fields match anything.
type Filter struct {
	Service, Route string
}

// Recent returns the limit most recently updated breakdowns (a late log
// line brings an older request back among them), the request that started
// last first. Like View, it does not make the next record late.
func (s *Store[T]) Recent(f Filter, limit int) []Breakdown {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []Breakdown{}
	// Both lists are in update order: walk them back from their tails,
	// merged.
	w, d := s.waiting.tail, s.done.tail
	for len(out) < limit && (w != nil || d != nil) {
		var e *entry[T]
		if d == nil || (w != nil && w.updated >= d.updated) {
			e, w = w, w.prev
		} else {
			e, d = d, d.prev
		}
		if !e.records {
			continue
		}
		b := s.compute(e)
		if (f.Service == "" || b.Service == f.Service) && (f.Route == "" || b.Route == f.Route) {
			out = append(out, b)
		}
	}
	slices.SortStableFunc(out, func(a, b Breakdown) int { return b.Start.Compare(a.Start) })
	return out
}

// Stats returns the store's counters.
func (s *Store[T]) Stats() StoreStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Traces = len(s.traces)
	st.Waiting = s.waiting.n
	st.Pending = s.pendQ.Len()
	return st
}
