package shop

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
)

// cacheTTL is how long a looked-up order stays in Redis.
const cacheTTL = 30 * time.Second

// OrderView is the JSON answer of GET /api/orders/{id}, and what the page shows.
type OrderView struct {
	Order Order `json:"order"`
	Quote Quote `json:"quote"`
	// Cache is what the Redis lookup found: "hit", "miss" or "error".
	Cache string `json:"cache"`
	// TraceID is the request's W3C trace id, to look its breakdown up in hopscope.
	TraceID string   `json:"trace_id,omitempty"`
	Delays  DelaysMS `json:"delays_ms"`
}

// DelaysMS are the injected delays of a request, in milliseconds.
type DelaysMS struct {
	App int64 `json:"app"`
	SQL int64 `json:"sql"`
	Ext int64 `json:"ext"`
}

func (a *App) routes(tp trace.TracerProvider, noTelemetry bool) http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern string, h http.HandlerFunc) {
		mux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !noTelemetry {
				trace.SpanFromContext(r.Context()).SetAttributes(semconv.HTTPRoute(route(r.Pattern)))
			}
			if a.calls != nil {
				var done func()
				r, done = a.calls.begin(r, route(r.Pattern))
				defer done()
			}
			h(w, r)
		}))
	}
	handle("GET /{$}", a.page)
	handle("GET /api/orders/{id}", a.apiOrder)
	handle("GET /api/items/{id}", a.apiItem)
	handle("GET /api/featured", a.apiFeatured)
	handle("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	if noTelemetry {
		return mux
	}
	// The server span continues the trace of the incoming traceparent (the
	// hopscope sidecar's span), so the app's time hangs under the sidecar's.
	return otelhttp.NewHandler(mux, a.service,
		otelhttp.WithTracerProvider(tp),
		otelhttp.WithPropagators(propagation.TraceContext{}),
		otelhttp.WithFilter(func(r *http.Request) bool { return r.URL.Path != "/healthz" }),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string {
			if route := route(r.Pattern); route != "" {
				return r.Method + " " + route
			}
			return r.Method
		}),
	)
}

// route turns a mux pattern ("GET /api/orders/{id}", "GET /{$}") into an
// http.route ("/api/orders/{id}", "/").
func route(pattern string) string {
	i := strings.IndexByte(pattern, '/')
	if i < 0 {
		return ""
	}
	return strings.TrimSuffix(pattern[i:], "{$}")
}

func (a *App) apiOrder(w http.ResponseWriter, r *http.Request) {
	id, err := parseID("id", r.PathValue("id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	d, err := parseDelays(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	v, err := a.lookup(r.Context(), id, d)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// itemTTL is how long GET /api/items/{id} keeps an item in Redis: short,
// so that a steady load sees both hits and misses.
const itemTTL = time.Second

// ItemView is the JSON answer of GET /api/items/{id}.
type ItemView struct {
	ID   int    `json:"id"`
	Item string `json:"item"`
	// Cache is "hit", "miss" or "error".
	Cache string `json:"cache"`
}

// apiItem answers an order's item cache-aside: Redis first, PostgreSQL
// and a Redis write only on a miss.
func (a *App) apiItem(w http.ResponseWriter, r *http.Request) {
	id, err := parseID("id", r.PathValue("id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	ctx := r.Context()
	key := "shop:item:" + strconv.Itoa(id)
	v := ItemView{ID: id}
	b, found, err := a.cache.Get(ctx, key)
	switch {
	case err != nil:
		v.Cache = "error"
		a.log.WarnContext(ctx, "cache get", "key", key, "err", err)
	case found:
		v.Cache, v.Item = "hit", string(b)
		writeJSON(w, http.StatusOK, v)
		return
	default:
		v.Cache = "miss"
	}
	o, err := a.orders.Get(ctx, id)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			a.fail(w, r, &httpError{status: http.StatusNotFound, msg: fmt.Sprintf("order %d not found", id)})
			return
		}
		a.fail(w, r, &httpError{status: http.StatusInternalServerError, msg: "orders database failed", err: err})
		return
	}
	v.Item = o.Item
	if err := a.cache.Set(ctx, key, []byte(o.Item), itemTTL); err != nil {
		a.log.WarnContext(ctx, "cache set", "key", key, "err", err)
	}
	writeJSON(w, http.StatusOK, v)
}

// FeaturedOrder is the order GET /api/featured shows.
const FeaturedOrder = 1

// apiFeatured answers the featured order: a Redis lookup of a fixed key
// and the order from PostgreSQL. Unlike the other routes, nothing of the
// request is in its calls.
func (a *App) apiFeatured(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if _, _, err := a.cache.Get(ctx, "shop:featured"); err != nil {
		a.log.WarnContext(ctx, "cache get", "key", "shop:featured", "err", err)
	}
	o, err := a.orders.Get(ctx, FeaturedOrder)
	if err != nil {
		a.fail(w, r, &httpError{status: http.StatusInternalServerError, msg: "orders database failed", err: err})
		return
	}
	writeJSON(w, http.StatusOK, o)
}

func (a *App) page(w http.ResponseWriter, r *http.Request) {
	id := 1
	if s := r.URL.Query().Get("order"); s != "" {
		var err error
		if id, err = parseID("order", s); err != nil {
			a.fail(w, r, err)
			return
		}
	}
	d, err := parseDelays(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	// The same lookup as the API, in-process, so that a page load in a
	// browser exercises the whole path under the page's own server span.
	v, err := a.lookup(r.Context(), id, d)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_ = pageTmpl.Execute(w, struct {
		OrderView
		Service, RUMURL string
	}{v, a.service, a.rumURL})
}

// lookup is the work of one request: app time, Redis lookup, PostgreSQL,
// payments API, Redis write.
func (a *App) lookup(ctx context.Context, id int, d Delays) (OrderView, error) {
	ctx = WithDelays(ctx, d)
	v := OrderView{
		TraceID: traceID(ctx),
		Delays:  DelaysMS{App: d.App.Milliseconds(), SQL: d.SQL.Milliseconds(), Ext: d.Ext.Milliseconds()},
	}

	// The app's own work: nothing but time, outside any backend call.
	if err := sleep(ctx, d.App); err != nil {
		return v, err
	}

	// A real app would answer from the cache on a hit; this one always goes
	// on, so that every request shows every hop. A cache failure is not the
	// request's failure.
	key := "shop:order:" + strconv.Itoa(id)
	switch _, found, err := a.cache.Get(ctx, key); {
	case err != nil:
		v.Cache = "error"
		a.log.WarnContext(ctx, "cache get", "key", key, "err", err, "trace_id", v.TraceID)
	case found:
		v.Cache = "hit"
	default:
		v.Cache = "miss"
	}

	o, err := a.orders.Get(ctx, id)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return v, &httpError{status: http.StatusNotFound, msg: fmt.Sprintf("order %d not found", id)}
		}
		return v, &httpError{status: http.StatusInternalServerError, msg: "orders database failed", err: err}
	}
	v.Order = o

	q, err := a.payments.Quote(ctx, id)
	if err != nil {
		return v, &httpError{status: http.StatusBadGateway, msg: "payments API failed", err: err}
	}
	v.Quote = q

	if b, err := json.Marshal(struct {
		Order Order `json:"order"`
		Quote Quote `json:"quote"`
	}{o, q}); err == nil {
		if err := a.cache.Set(ctx, key, b, cacheTTL); err != nil {
			a.log.WarnContext(ctx, "cache set", "key", key, "err", err, "trace_id", v.TraceID)
		}
	}
	return v, nil
}

// httpError is a failed request's answer: {"error": msg, "field": field}.
// err, if any, is logged and recorded on the span, never sent.
type httpError struct {
	status int
	msg    string
	field  string
	err    error
}

func (e *httpError) Error() string {
	if e.err != nil {
		return e.msg + ": " + e.err.Error()
	}
	return e.msg
}

func (a *App) fail(w http.ResponseWriter, r *http.Request, err error) {
	he, ok := err.(*httpError)
	if !ok { // the client went away during a delay
		he = &httpError{status: http.StatusServiceUnavailable, msg: "request canceled", err: err}
	}
	if he.status >= 500 {
		span := trace.SpanFromContext(r.Context())
		span.RecordError(err)
		a.log.WarnContext(r.Context(), "request failed", "path", r.URL.Path, "status", he.status,
			"err", err, "trace_id", traceID(r.Context()))
	}
	body := map[string]string{"error": he.msg}
	if he.field != "" {
		body["field"] = he.field
	}
	writeJSON(w, he.status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func traceID(ctx context.Context) string {
	if sc := trace.SpanContextFromContext(ctx); sc.HasTraceID() {
		return sc.TraceID().String()
	}
	return ""
}

// sleep waits d, or less if ctx ends first.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func badRequest(field, format string, args ...any) *httpError {
	return &httpError{status: http.StatusBadRequest, field: field, msg: field + ": " + fmt.Sprintf(format, args...)}
}

// parseID reads a positive order id (a PostgreSQL integer).
func parseID(field, s string) (int, error) {
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil || n < 1 || !allDigits(s) {
		return 0, badRequest(field, "want a positive integer, got %q", s)
	}
	return int(n), nil
}

var delayKeys = []string{"app_ms", "sql_ms", "ext_ms"}

// parseDelays reads the X-Hopscope-Delay header, then the app_ms, sql_ms
// and ext_ms query parameters (which win).
func parseDelays(r *http.Request) (Delays, error) {
	vals := map[string]string{}
	if hs := r.Header.Values(DelayHeader); len(hs) > 0 {
		for _, part := range strings.FieldsFunc(strings.Join(hs, ","), func(c rune) bool { return c == ',' || c == ';' }) {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			k, v, ok := strings.Cut(part, "=")
			k, v = strings.TrimSpace(k), strings.TrimSpace(v)
			if !ok || !isDelayKey(k) {
				return Delays{}, &httpError{status: http.StatusBadRequest, field: DelayHeader,
					msg: fmt.Sprintf("%s: want app_ms=N, sql_ms=N, ext_ms=N, got %q", DelayHeader, part)}
			}
			if _, dup := vals[k]; dup {
				return Delays{}, &httpError{status: http.StatusBadRequest, field: DelayHeader,
					msg: fmt.Sprintf("%s: %s given twice", DelayHeader, k)}
			}
			vals[k] = v
		}
	}
	q := r.URL.Query()
	for _, k := range delayKeys {
		switch vs := q[k]; len(vs) {
		case 0:
		case 1:
			vals[k] = vs[0]
		default:
			return Delays{}, badRequest(k, "given %d times", len(vs))
		}
	}
	var out [3]time.Duration
	for i, k := range delayKeys {
		s, ok := vals[k]
		if !ok {
			continue
		}
		d, err := parseMS(s)
		if err != nil {
			return Delays{}, badRequest(k, "%v", err)
		}
		out[i] = d
	}
	return Delays{App: out[0], SQL: out[1], Ext: out[2]}, nil
}

// parseMS reads whole milliseconds from 0 to MaxDelay.
func parseMS(s string) (time.Duration, error) {
	n, err := strconv.Atoi(s)
	if err != nil || !allDigits(s) || int64(n) > MaxDelay.Milliseconds() {
		return 0, fmt.Errorf("want whole milliseconds from 0 to %d, got %q", MaxDelay.Milliseconds(), s)
	}
	return time.Duration(n) * time.Millisecond, nil
}

func isDelayKey(k string) bool {
	for _, dk := range delayKeys {
		if k == dk {
			return true
		}
	}
	return false
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// apiHref is the page's link to the same order and delays as JSON.
func apiHref(v OrderView) template.URL {
	q := url.Values{}
	for k, ms := range map[string]int64{"app_ms": v.Delays.App, "sql_ms": v.Delays.SQL, "ext_ms": v.Delays.Ext} {
		if ms > 0 {
			q.Set(k, strconv.FormatInt(ms, 10))
		}
	}
	u := url.URL{Path: "/api/orders/" + strconv.Itoa(v.Order.ID), RawQuery: q.Encode()}
	return template.URL(u.String())
}

var pageTmpl = template.Must(template.New("page").Funcs(template.FuncMap{
	"money":   func(c int) string { return fmt.Sprintf("%d.%02d", c/100, c%100) },
	"apiHref": apiHref,
}).Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{.Service}} — order {{.Order.ID}}</title>
{{if .RUMURL}}<script src="{{.RUMURL}}/rum.js" data-endpoint="{{.RUMURL}}/v1/rum" async></script>
{{end}}<style>body{font-family:sans-serif;margin:2em}td{padding:.2em 1em .2em 0}</style>
</head>
<body>
<h1>Order {{.Order.ID}}</h1>
<table>
<tr><td>item</td><td>{{.Order.Item}}</td></tr>
<tr><td>amount</td><td>{{money .Order.AmountCents}} {{.Quote.Currency}}</td></tr>
<tr><td>payment fee</td><td>{{money .Quote.FeeCents}} {{.Quote.Currency}}</td></tr>
<tr><td>cache</td><td>{{.Cache}}</td></tr>
<tr><td>injected delays</td><td>app {{.Delays.App}} ms, sql {{.Delays.SQL}} ms, ext {{.Delays.Ext}} ms</td></tr>
<tr><td>trace id</td><td><code>{{.TraceID}}</code></td></tr>
</table>
<p><a href="{{apiHref .OrderView}}">this order as JSON</a></p>
</body>
</html>
`))
