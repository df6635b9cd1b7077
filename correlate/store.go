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
	// MaxTraces bounds the traces held; beyond it the least recently
	// updated trace is evicted.
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
	Traces, Pending                  int
	Evicted, Expired, PendingDropped uint64
	SpansDropped                     uint64
}

// AddResult says what Add did with a record.
type AddResult struct {
	// TraceID the record was filed under ("" while pending).
	TraceID string
	// Pending is true when the record waits for a trace to claim its
	// X-Request-ID.
	Pending bool
	// Late is true when the trace's breakdown had already been emitted
	// (Emit: the collector observed its hops and exported its spans)
	// before this record changed it. Reading a breakdown (View, Recent:
	// the API and UI) does not make the next record late.
	Late bool
}

// ErrNoKey is returned for a record with no trace id, X-Ray Root or
// X-Request-ID.
var ErrNoKey = errors.New("record has no trace id, X-Ray root or request id")

// Store joins records by trace id and keeps the most recent traces within
// a time window and a count. It is safe for concurrent use. Time is passed
// in by the caller.
type Store struct {
	cfg StoreConfig

	mu      sync.Mutex
	traces  map[string]*entry
	lru     *list.List // *entry, most recently updated at the front
	reqToID map[string]string
	pending map[string][]pendingRec
	pendQ   *list.List // request ids, oldest at the back
	stats   StoreStats
}

type entry struct {
	g          Group
	updated    time.Time
	elem       *list.Element
	emitted    bool // Emit returned the breakdown at least once
	cached     *Breakdown
	requestIDs []string
}

type pendingRec struct {
	rec  Record
	at   time.Time
	elem *list.Element
}

// NewStore returns an empty store.
func NewStore(cfg StoreConfig) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("correlate store: %w", err)
	}
	return &Store{cfg: cfg, traces: map[string]*entry{}, lru: list.New(), reqToID: map[string]string{},
		pending: map[string][]pendingRec{}, pendQ: list.New()}, nil
}

// Add files rec under its trace: by trace id, else by the X-Ray Root's
// trace id, else by an X-Request-ID that a trace has claimed (a sidecar
// span carries both). A record known only by an unclaimed request id waits
// until a trace claims it or it ages out.
func (s *Store) Add(now time.Time, rec Record) (AddResult, error) {
	k := rec.keys()
	s.mu.Lock()
	defer s.mu.Unlock()
	id := k.TraceID
	if id == "" && k.XRayRoot != "" {
		id = TraceIDFromXRayRoot(k.XRayRoot)
	}
	if id == "" && k.RequestID != "" {
		id = s.reqToID[k.RequestID]
	}
	if id == "" {
		if k.RequestID == "" {
			return AddResult{}, ErrNoKey
		}
		s.park(now, k.RequestID, rec)
		return AddResult{Pending: true}, nil
	}
	e := s.entry(now, id)
	late := e.emitted
	s.merge(e, rec)
	if k.RequestID != "" && k.TraceID != "" {
		s.claim(now, e, id, k.RequestID)
	}
	return AddResult{TraceID: id, Late: late}, nil
}

func (s *Store) entry(now time.Time, id string) *entry {
	e, ok := s.traces[id]
	if !ok {
		for len(s.traces) >= s.cfg.MaxTraces {
			s.remove(s.lru.Back().Value.(*entry))
			s.stats.Evicted++
		}
		e = &entry{g: Group{TraceID: id}}
		e.elem = s.lru.PushFront(e)
		s.traces[id] = e
	} else {
		s.lru.MoveToFront(e.elem)
	}
	e.updated = now
	return e
}

func (s *Store) remove(e *entry) {
	s.lru.Remove(e.elem)
	delete(s.traces, e.g.TraceID)
	for _, r := range e.requestIDs {
		if s.reqToID[r] == e.g.TraceID {
			delete(s.reqToID, r)
		}
	}
}

func cloneKeys(k Keys) Keys {
	return Keys{TraceID: strings.Clone(k.TraceID), XRayRoot: strings.Clone(k.XRayRoot), RequestID: strings.Clone(k.RequestID)}
}

func (s *Store) merge(e *entry, rec Record) {
	e.cached = nil
	g := &e.g
	spans := len(g.Sidecars) + len(g.Backends)
	switch r := rec.(type) {
	case *BrowserTiming:
		c := *r
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
			c.Tries[i].Addr = strings.Clone(c.Tries[i].Addr)
		}
		g.Ingress = &c
	case *SidecarSpan:
		if r.SpanID != "" && slices.ContainsFunc(g.Sidecars, func(x SidecarSpan) bool { return x.SpanID == r.SpanID }) {
			return
		}
		if spans >= s.cfg.MaxSpansPerTrace {
			s.stats.SpansDropped++
			return
		}
		c := *r
		c.TraceID = sharedID(c.TraceID, g.TraceID)
		g.Sidecars = append(g.Sidecars, c)
	case *BackendCall:
		if r.SpanID != "" && slices.ContainsFunc(g.Backends, func(x BackendCall) bool { return x.SpanID == r.SpanID }) {
			return
		}
		if spans >= s.cfg.MaxSpansPerTrace {
			s.stats.SpansDropped++
			return
		}
		c := *r
		c.TraceID = sharedID(c.TraceID, g.TraceID)
		g.Backends = append(g.Backends, c)
	}
}

// sharedID is the group's trace id string when a record's is the same
// value, so the record's own copy can go.
func sharedID(id, groupID string) string {
	if id == groupID {
		return groupID
	}
	return id
}

// fitted is rs in a slice of exactly its length: a trace is emitted once
// its records have come, and then held for the rest of the window, where
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
func (s *Store) claim(now time.Time, e *entry, id, reqID string) {
	if _, ok := s.reqToID[reqID]; !ok {
		s.reqToID[reqID] = id
		e.requestIDs = append(e.requestIDs, reqID)
	}
	for _, p := range s.pending[reqID] {
		s.pendQ.Remove(p.elem)
		s.merge(e, p.rec)
	}
	delete(s.pending, reqID)
}

func (s *Store) park(now time.Time, reqID string, rec Record) {
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

func (s *Store) dropOldestPending() {
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
// older than it, and returns how many traces it dropped.
func (s *Store) Expire(now time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	cutoff := now.Add(-s.cfg.Window)
	n := 0
	for back := s.lru.Back(); back != nil; back = s.lru.Back() {
		e := back.Value.(*entry)
		if !e.updated.Before(cutoff) {
			break
		}
		s.remove(e)
		n++
	}
	s.stats.Expired += uint64(n)
	for back := s.pendQ.Back(); back != nil; back = s.pendQ.Back() {
		reqID := back.Value.(string)
		recs := s.pending[reqID]
		idx := slices.IndexFunc(recs, func(p pendingRec) bool { return p.elem == back })
		if idx >= 0 && !recs[idx].at.Before(cutoff) {
			break
		}
		s.dropOldestPending()
	}
	return n
}

// View computes (or returns the cached) breakdown of a trace, for
// reading: the API and the UI. It does not mark the trace emitted.
func (s *Store) View(traceID string) (Breakdown, bool) {
	return s.get(traceID, false)
}

// Emit is View for the exporter: it also marks the trace emitted, so that
// every record added to it afterwards is reported Late.
func (s *Store) Emit(traceID string) (Breakdown, bool) {
	return s.get(traceID, true)
}

func (s *Store) get(traceID string, emit bool) (Breakdown, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.traces[traceID]
	if !ok {
		return Breakdown{}, false
	}
	if !emit {
		return s.compute(e), true
	}
	// Emitted: the trace's records have come; it is held for the rest of
	// the window for late data and reads, so it keeps no spare capacity
	// and no cached breakdown (a read computes one again).
	e.emitted = true
	e.g.Sidecars, e.g.Backends = fitted(e.g.Sidecars), fitted(e.g.Backends)
	b := s.compute(e)
	e.cached = nil
	return b, true
}

func (s *Store) compute(e *entry) Breakdown {
	if e.cached == nil {
		b := Compute(e.g)
		e.cached = &b
	}
	return *e.cached
}

// Group returns a copy of what the store holds for a trace.
func (s *Store) Group(traceID string) (Group, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.traces[traceID]
	if !ok {
		return Group{}, false
	}
	g := e.g
	g.Sidecars = slices.Clone(g.Sidecars)
	g.Backends = slices.Clone(g.Backends)
	return g, true
}

// Filter selects breakdowns in Recent; empty fields match anything.
type Filter struct {
	Service, Route string
}

// Recent returns the limit most recently updated breakdowns (a late log
// line brings an older request back among them), the request that started
// last first. Like View, it does not mark them emitted.
func (s *Store) Recent(f Filter, limit int) []Breakdown {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []Breakdown{}
	for el := s.lru.Front(); el != nil && len(out) < limit; el = el.Next() {
		e := el.Value.(*entry)
		b := s.compute(e)
		if (f.Service == "" || b.Service == f.Service) && (f.Route == "" || b.Route == f.Route) {
			out = append(out, b)
		}
	}
	slices.SortStableFunc(out, func(a, b Breakdown) int { return b.Start.Compare(a.Start) })
	return out
}

// Stats returns the store's counters.
func (s *Store) Stats() StoreStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Traces = len(s.traces)
	st.Pending = s.pendQ.Len()
	return st
}
