package shop

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"time"
)

// CallRecord is one line of Config.CallLog: the backend calls one request's
// handler made, in the order it made them.
type CallRecord struct {
	// RequestID is the request's X-Request-ID header ("" when absent).
	RequestID string `json:"request_id"`
	// Route is the matched route, e.g. /api/orders/{id}.
	Route string `json:"route"`
	// Calls are the backend calls, in order.
	Calls []Call `json:"calls"`
}

// Call is one backend call as the app saw it: the client library's call,
// from just before the app made it to just after it returned (wall clock,
// Unix nanoseconds).
type Call struct {
	// Backend is "postgres" or "redis".
	Backend string `json:"backend"`
	// Op is the operation: SELECT, GET, SET.
	Op    string `json:"op"`
	Start int64  `json:"start_unix_nano"`
	End   int64  `json:"end_unix_nano"`
}

// callLog writes CallRecords, one JSON line each.
type callLog struct {
	mu sync.Mutex
	w  io.Writer
}

type callsKey struct{}

// calls collects one request's calls; the handler's calls are sequential
// but the lock keeps a handler that went parallel correct.
type calls struct {
	mu   sync.Mutex
	list []Call
}

// begin starts the record of r; done writes it.
func (l *callLog) begin(r *http.Request, route string) (*http.Request, func()) {
	c := &calls{}
	r = r.WithContext(context.WithValue(r.Context(), callsKey{}, c))
	id := r.Header.Get("X-Request-ID")
	return r, func() {
		c.mu.Lock()
		rec := CallRecord{RequestID: id, Route: route, Calls: c.list}
		b, err := json.Marshal(rec)
		c.mu.Unlock()
		if err != nil {
			return
		}
		b = append(b, '\n')
		l.mu.Lock()
		defer l.mu.Unlock()
		_, _ = l.w.Write(b)
	}
}

// logCall records a call of the request of ctx, if it is being recorded.
func logCall(ctx context.Context, backend, op string, start time.Time) {
	c, _ := ctx.Value(callsKey{}).(*calls)
	if c == nil {
		return
	}
	end := time.Now()
	c.mu.Lock()
	c.list = append(c.list, Call{Backend: backend, Op: op, Start: start.UnixNano(), End: end.UnixNano()})
	c.mu.Unlock()
}

// loggedOrders records each Get in the request's CallRecord.
type loggedOrders struct{ Orders }

func (o loggedOrders) Get(ctx context.Context, id int) (Order, error) {
	start := time.Now()
	defer logCall(ctx, "postgres", "SELECT", start)
	return o.Orders.Get(ctx, id)
}

// loggedCache records each Get and Set in the request's CallRecord.
type loggedCache struct{ Cache }

func (c loggedCache) Get(ctx context.Context, key string) ([]byte, bool, error) {
	start := time.Now()
	defer logCall(ctx, "redis", "GET", start)
	return c.Cache.Get(ctx, key)
}

func (c loggedCache) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	start := time.Now()
	defer logCall(ctx, "redis", "SET", start)
	return c.Cache.Set(ctx, key, value, ttl)
}
