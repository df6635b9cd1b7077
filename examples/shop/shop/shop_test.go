package shop_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/hopscope/hopscope/examples/shop/shop"
)

// --- in-memory fakes of the backends; they apply the delays they are given.

type call struct {
	at     time.Time
	delays shop.Delays
	span   trace.SpanContext
}

type recorder struct {
	mu    sync.Mutex
	calls []call
}

func (r *recorder) record(ctx context.Context) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, call{time.Now(), shop.DelaysFrom(ctx), trace.SpanContextFromContext(ctx)})
}

func (r *recorder) all() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

type fakeOrders struct {
	recorder
	err error
}

func (f *fakeOrders) Get(ctx context.Context, id int) (shop.Order, error) {
	f.record(ctx)
	time.Sleep(shop.DelaysFrom(ctx).SQL)
	if f.err != nil {
		return shop.Order{}, f.err
	}
	if id > 10 {
		return shop.Order{}, shop.ErrNotFound
	}
	return shop.Order{ID: id, Item: "item <" + string(rune('a'+id)) + ">", AmountCents: 1000 + id}, nil
}

type fakeCache struct {
	recorder
	dataMu         sync.Mutex
	m              map[string][]byte
	getErr, setErr error
}

func (f *fakeCache) Get(ctx context.Context, key string) ([]byte, bool, error) {
	f.record(ctx)
	if f.getErr != nil {
		return nil, false, f.getErr
	}
	f.dataMu.Lock()
	defer f.dataMu.Unlock()
	v, ok := f.m[key]
	return v, ok, nil
}

func (f *fakeCache) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	f.record(ctx)
	if f.setErr != nil {
		return f.setErr
	}
	f.dataMu.Lock()
	defer f.dataMu.Unlock()
	if f.m == nil {
		f.m = map[string][]byte{}
	}
	f.m[key] = value
	return nil
}

type fakePayments struct {
	recorder
	err error
}

func (f *fakePayments) Quote(ctx context.Context, id int) (shop.Quote, error) {
	f.record(ctx)
	d := shop.DelaysFrom(ctx).Ext
	time.Sleep(d)
	if f.err != nil {
		return shop.Quote{}, f.err
	}
	return shop.Quote{OrderID: id, Currency: "EUR", FeeCents: 42, DelayMS: int(d.Milliseconds())}, nil
}

type fixture struct {
	app      *shop.App
	orders   *fakeOrders
	cache    *fakeCache
	payments *fakePayments
	spans    *tracetest.SpanRecorder
	tp       *sdktrace.TracerProvider
}

func newFixture(t *testing.T, cfg shop.Config) *fixture {
	t.Helper()
	f := &fixture{orders: &fakeOrders{}, cache: &fakeCache{}, payments: &fakePayments{}, spans: tracetest.NewSpanRecorder()}
	f.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(f.spans))
	t.Cleanup(func() { _ = f.tp.Shutdown(context.Background()) })
	app, err := shop.New(cfg, shop.Deps{Orders: f.orders, Cache: f.cache, Payments: f.payments,
		TracerProvider: f.tp, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(app.Close)
	f.app = app
	return f
}

func (f *fixture) do(t *testing.T, target string, header http.Header) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	maps.Copy(req.Header, header)
	w := httptest.NewRecorder()
	f.app.Handler().ServeHTTP(w, req)
	return w
}

func decode(t *testing.T, w *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q, want application/json; body %s", ct, w.Body)
	}
	var m map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		t.Fatalf("body %q: %v", w.Body, err)
	}
	return m
}

func keys(m any) []string {
	return slices.Sorted(maps.Keys(m.(map[string]any)))
}

func TestShopOrderJSON(t *testing.T) {
	f := newFixture(t, shop.Config{})
	w := f.do(t, "/api/orders/7", nil)
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	m := decode(t, w)
	if got, want := keys(m), []string{"cache", "delays_ms", "order", "quote", "trace_id"}; !slices.Equal(got, want) {
		t.Errorf("keys %v, want %v", got, want)
	}
	if got, want := keys(m["order"]), []string{"amount_cents", "id", "item"}; !slices.Equal(got, want) {
		t.Errorf("order keys %v, want %v", got, want)
	}
	if got, want := keys(m["quote"]), []string{"currency", "delay_ms", "fee_cents", "order"}; !slices.Equal(got, want) {
		t.Errorf("quote keys %v, want %v", got, want)
	}
	if got, want := keys(m["delays_ms"]), []string{"app", "ext", "sql"}; !slices.Equal(got, want) {
		t.Errorf("delays_ms keys %v, want %v", got, want)
	}
	if o := m["order"].(map[string]any); o["id"] != 7.0 || o["amount_cents"] != 1007.0 {
		t.Errorf("order %v", o)
	}
	if m["cache"] != "miss" {
		t.Errorf("first lookup: cache %v, want miss", m["cache"])
	}
	if id, _ := m["trace_id"].(string); len(id) != 32 {
		t.Errorf("trace_id %q", id)
	}

	// The order was written to the cache; the second lookup finds it, and
	// still goes to PostgreSQL and the payments API (every hop, always).
	var cached struct {
		Order shop.Order `json:"order"`
		Quote shop.Quote `json:"quote"`
	}
	if err := json.Unmarshal(f.cache.m["shop:order:7"], &cached); err != nil || cached.Order.ID != 7 || cached.Quote.OrderID != 7 {
		t.Errorf("cached %q: %v", f.cache.m["shop:order:7"], err)
	}
	if m := decode(t, f.do(t, "/api/orders/7", nil)); m["cache"] != "hit" {
		t.Errorf("second lookup: cache %v, want hit", m["cache"])
	}
	if n, p, c := len(f.orders.all()), len(f.payments.all()), len(f.cache.all()); n != 2 || p != 2 || c != 4 {
		t.Errorf("calls: orders %d, payments %d, cache %d; want 2, 2, 4", n, p, c)
	}

	if w := f.do(t, "/healthz", nil); w.Code != http.StatusOK || decode(t, w)["status"] != "ok" {
		t.Errorf("/healthz: %d %s", w.Code, w.Body)
	}
}

func TestShopDelays(t *testing.T) {
	ms := time.Millisecond
	for _, tt := range []struct {
		name, target string
		header       string
		want         shop.Delays
	}{
		{"query", "/api/orders/7?app_ms=40&sql_ms=25&ext_ms=30", "", shop.Delays{App: 40 * ms, SQL: 25 * ms, Ext: 30 * ms}},
		{"header", "/api/orders/7", "app_ms=5; sql_ms=7, ext_ms=9", shop.Delays{App: 5 * ms, SQL: 7 * ms, Ext: 9 * ms}},
		{"query wins", "/api/orders/7?sql_ms=3", "app_ms=5, sql_ms=7", shop.Delays{App: 5 * ms, SQL: 3 * ms}},
		{"none", "/api/orders/7", "", shop.Delays{}},
		{"zero", "/api/orders/7?app_ms=0&sql_ms=0&ext_ms=0", "", shop.Delays{}},
		{"page", "/?order=3&app_ms=20&sql_ms=6&ext_ms=4", "", shop.Delays{App: 20 * ms, SQL: 6 * ms, Ext: 4 * ms}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, shop.Config{})
			h := http.Header{}
			if tt.header != "" {
				h.Set(shop.DelayHeader, tt.header)
			}
			start := time.Now()
			w := f.do(t, tt.target, h)
			elapsed := time.Since(start)
			if w.Code != http.StatusOK {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			o, p := f.orders.all(), f.payments.all()
			if len(o) != 1 || len(p) != 1 {
				t.Fatalf("orders called %d times, payments %d", len(o), len(p))
			}
			// The backends get all delays; each applies its own.
			if o[0].delays != tt.want || p[0].delays != tt.want {
				t.Errorf("orders saw %+v, payments saw %+v, want %+v", o[0].delays, p[0].delays, tt.want)
			}
			// app_ms is spent before any backend is called, in the handler.
			if first := f.cache.all()[0].at.Sub(start); first < tt.want.App {
				t.Errorf("first backend call after %v, want ≥ app_ms %v", first, tt.want.App)
			}
			if total := tt.want.App + tt.want.SQL + tt.want.Ext; elapsed < total {
				t.Errorf("took %v, want ≥ %v", elapsed, total)
			}
			if !strings.HasPrefix(tt.target, "/api/") {
				return
			}
			d := decode(t, w)["delays_ms"].(map[string]any)
			if d["app"] != float64(tt.want.App.Milliseconds()) || d["sql"] != float64(tt.want.SQL.Milliseconds()) || d["ext"] != float64(tt.want.Ext.Milliseconds()) {
				t.Errorf("delays_ms %v, want %+v", d, tt.want)
			}
		})
	}
}

func TestShopBadRequests(t *testing.T) {
	for _, tt := range []struct {
		target, header, field string
	}{
		{"/api/orders/7?app_ms=-1", "", "app_ms"},
		{"/api/orders/7?app_ms=%2B5", "", "app_ms"},
		{"/api/orders/7?sql_ms=abc", "", "sql_ms"},
		{"/api/orders/7?ext_ms=10001", "", "ext_ms"},
		{"/api/orders/7?ext_ms=99999999999999999999", "", "ext_ms"},
		{"/api/orders/7?app_ms=1.5", "", "app_ms"},
		{"/api/orders/7?app_ms=", "", "app_ms"},
		{"/api/orders/7?app_ms=1&app_ms=2", "", "app_ms"},
		{"/api/orders/7", "app_ms=10001", "app_ms"},
		{"/api/orders/7", "foo_ms=1", shop.DelayHeader},
		{"/api/orders/7", "app_ms", shop.DelayHeader},
		{"/api/orders/7", "app_ms=1, app_ms=2", shop.DelayHeader},
		{"/api/orders/abc", "", "id"},
		{"/api/orders/0", "", "id"},
		{"/api/orders/-3", "", "id"},
		{"/api/orders/99999999999", "", "id"},
		{"/?order=x", "", "order"},
		{"/?sql_ms=20000", "", "sql_ms"},
	} {
		t.Run(tt.target+" "+tt.header, func(t *testing.T) {
			f := newFixture(t, shop.Config{})
			h := http.Header{}
			if tt.header != "" {
				h.Set(shop.DelayHeader, tt.header)
			}
			w := f.do(t, tt.target, h)
			if w.Code != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", w.Code, w.Body)
			}
			m := decode(t, w)
			if m["field"] != tt.field || !strings.HasPrefix(m["error"].(string), tt.field+": ") {
				t.Errorf("body %v, want field %q", m, tt.field)
			}
			if n := len(f.cache.all()) + len(f.orders.all()) + len(f.payments.all()); n != 0 {
				t.Errorf("%d backend calls for a bad request", n)
			}
		})
	}
}

func TestShopErrors(t *testing.T) {
	secret := errors.New("dial tcp 10.0.0.5:5432: password authentication failed for user shop")
	for _, tt := range []struct {
		name   string
		target string
		setup  func(*fixture)
		status int
		error  string
		cache  string
	}{
		{"not found", "/api/orders/11", nil, 404, "order 11 not found", ""},
		{"not found page", "/?order=11", nil, 404, "order 11 not found", ""},
		{"orders", "/api/orders/7", func(f *fixture) { f.orders.err = secret }, 500, "orders database failed", ""},
		{"payments", "/api/orders/7", func(f *fixture) { f.payments.err = secret }, 502, "payments API failed", ""},
		{"cache get", "/api/orders/7", func(f *fixture) { f.cache.getErr = secret }, 200, "", "error"},
		{"cache set", "/api/orders/7", func(f *fixture) { f.cache.setErr = secret }, 200, "", "miss"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, shop.Config{})
			if tt.setup != nil {
				tt.setup(f)
			}
			w := f.do(t, tt.target, nil)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.status, w.Body)
			}
			m := decode(t, w)
			if tt.error != "" && m["error"] != tt.error {
				t.Errorf("error %q, want %q", m["error"], tt.error)
			}
			if tt.cache != "" && m["cache"] != tt.cache {
				t.Errorf("cache %q, want %q", m["cache"], tt.cache)
			}
			if strings.Contains(w.Body.String(), "password") {
				t.Errorf("backend error leaked to the client: %s", w.Body)
			}
			if tt.status >= 500 {
				s := serverSpans(f.spans)
				if len(s) != 1 || len(s[0].Events()) == 0 || s[0].Events()[0].Name != "exception" {
					t.Errorf("the server span does not record the error")
				}
			}
		})
	}
}

func TestShopPage(t *testing.T) {
	f := newFixture(t, shop.Config{CollectorRUMURL: "http://127.0.0.1:8089/", ServiceName: "shop-test"})
	w := f.do(t, "/?order=3&sql_ms=1", nil)
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	body := w.Body.String()
	for _, want := range []string{
		`<script src="http://127.0.0.1:8089/rum.js" data-endpoint="http://127.0.0.1:8089/v1/rum" async></script>`,
		`item &lt;d&gt;`, // the order's item, escaped
		`10.03 EUR`,      // its amount
		`<a href="/api/orders/3?sql_ms=1">`,
		`<title>shop-test — order 3</title>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s:\n%s", want, body)
		}
	}
	if o := f.orders.all(); len(o) != 1 || o[0].delays.SQL != time.Millisecond {
		t.Errorf("the page's lookup: %+v", o)
	}
	// The RUM script is in <head>, before anything else loads.
	if i, j := strings.Index(body, "rum.js"), strings.Index(body, "</head>"); i < 0 || i > j {
		t.Errorf("rum.js not in <head>")
	}
	// Default order 1.
	if w := f.do(t, "/", nil); w.Code != 200 || !strings.Contains(w.Body.String(), "Order 1<") {
		t.Errorf("/ without order: %d %s", w.Code, w.Body)
	}

	// No collector URL, no script.
	f = newFixture(t, shop.Config{})
	if w := f.do(t, "/", nil); w.Code != 200 || strings.Contains(w.Body.String(), "<script") {
		t.Errorf("page without CollectorRUMURL: %d %s", w.Code, w.Body)
	}
	if w := f.do(t, "/nope", nil); w.Code != 404 {
		t.Errorf("/nope: %d", w.Code)
	}
	req := httptest.NewRequest(http.MethodPost, "/api/orders/1", nil)
	rw := httptest.NewRecorder()
	f.app.Handler().ServeHTTP(rw, req)
	if rw.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", rw.Code)
	}
}

func serverSpans(rec *tracetest.SpanRecorder) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.SpanKind() == trace.SpanKindServer {
			out = append(out, s)
		}
	}
	return out
}

func attr(s sdktrace.ReadOnlySpan, key string) attribute.Value {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value
		}
	}
	return attribute.Value{}
}

// TestShopSpans: the app's server span is the child of the incoming
// traceparent (the sidecar's span); backend calls are children of it; the
// payments API gets the trace over HTTPS.
func TestShopSpans(t *testing.T) {
	const (
		traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
		parent  = "00f067aa0ba902b7"
	)
	f := newFixture(t, shop.Config{})

	// The real HTTP payments client against the stub on a self-signed HTTPS server.
	var mu sync.Mutex
	var gotTraceparent string
	api := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		gotTraceparent = r.Header.Get("traceparent")
		mu.Unlock()
		shop.PaymentsStub{}.ServeHTTP(w, r)
	}))
	defer api.Close()
	pay, err := shop.NewHTTPPayments(api.URL, true, shop.WithTracerProvider(f.tp))
	if err != nil {
		t.Fatal(err)
	}
	defer pay.Close()
	app, err := shop.New(shop.Config{}, shop.Deps{Orders: f.orders, Cache: f.cache, Payments: pay, TracerProvider: f.tp})
	if err != nil {
		t.Fatal(err)
	}

	req := httptest.NewRequest(http.MethodGet, "/api/orders/7?ext_ms=5", nil)
	req.Header.Set("traceparent", "00-"+traceID+"-"+parent+"-01")
	w := httptest.NewRecorder()
	app.Handler().ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	var v shop.OrderView
	if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
		t.Fatal(err)
	}
	if v.TraceID != traceID || v.Quote.DelayMS != 5 {
		t.Errorf("answer %+v: want trace %s and the API's delay 5", v, traceID)
	}

	srv := serverSpans(f.spans)
	if len(srv) != 1 {
		t.Fatalf("%d server spans, want 1", len(srv))
	}
	s := srv[0]
	if s.SpanContext().TraceID().String() != traceID || s.Parent().SpanID().String() != parent || !s.Parent().IsRemote() {
		t.Errorf("server span %s parent %s (remote %v), want trace %s parent %s",
			s.SpanContext().TraceID(), s.Parent().SpanID(), s.Parent().IsRemote(), traceID, parent)
	}
	if s.Name() != "GET /api/orders/{id}" || attr(s, "http.route").AsString() != "/api/orders/{id}" ||
		attr(s, "http.response.status_code").AsInt64() != 200 {
		t.Errorf("server span %q, attributes %v", s.Name(), s.Attributes())
	}

	// Backends run under the server span.
	for name, calls := range map[string][]call{"orders": f.orders.all(), "cache": f.cache.all()} {
		for _, c := range calls {
			if c.span.SpanID() != s.SpanContext().SpanID() {
				t.Errorf("%s called under span %s, want the server span %s", name, c.span.SpanID(), s.SpanContext().SpanID())
			}
		}
	}
	var client sdktrace.ReadOnlySpan
	for _, sp := range f.spans.Ended() {
		if sp.SpanKind() == trace.SpanKindClient {
			client = sp
		}
	}
	if client == nil || client.Parent().SpanID() != s.SpanContext().SpanID() || attr(client, "http.request.method").AsString() != "GET" {
		t.Fatalf("payments client span %v", client)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := "00-" + traceID + "-" + client.SpanContext().SpanID().String() + "-01"; gotTraceparent != want {
		t.Errorf("payments API got traceparent %q, want %q", gotTraceparent, want)
	}

	// No traceparent: a new trace, the server span is its root.
	f2 := newFixture(t, shop.Config{})
	f2.do(t, "/?order=2", nil)
	srv = serverSpans(f2.spans)
	if len(srv) != 1 || srv[0].Parent().IsValid() || srv[0].Name() != "GET /" || attr(srv[0], "http.route").AsString() != "/" {
		t.Errorf("page span without traceparent: %+v", srv)
	}
	// Health checks are not traced.
	f2.do(t, "/healthz", nil)
	if n := len(f2.spans.Ended()); n != 1 {
		t.Errorf("%d spans after /healthz, want still 1", n)
	}
}

func TestShopPaymentsStub(t *testing.T) {
	api := httptest.NewServer(shop.PaymentsStub{})
	defer api.Close()
	get := func(path string) (int, map[string]any, time.Duration) {
		t.Helper()
		start := time.Now()
		resp, err := http.Get(api.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return resp.StatusCode, m, time.Since(start)
	}
	code, m, took := get("/quote?order=3&delay_ms=30")
	if code != 200 || took < 30*time.Millisecond || m["order"] != 3.0 || m["delay_ms"] != 30.0 || m["currency"] != "EUR" {
		t.Errorf("quote: %d %v in %v", code, m, took)
	}
	for path, want := range map[string]int{
		"/quote?order=3&delay_ms=10001": 400,
		"/quote?order=3&delay_ms=-5":    400,
		"/quote?delay_ms=5":             400,
		"/quote?order=x":                400,
		"/other":                        404,
	} {
		if code, m, _ := get(path); code != want || m["error"] == "" {
			t.Errorf("%s: %d %v, want %d", path, code, m, want)
		}
	}
	resp, err := http.Post(api.URL+"/quote?order=1", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 {
		t.Errorf("POST: %d", resp.StatusCode)
	}
}

func TestShopHTTPPayments(t *testing.T) {
	api := httptest.NewUnstartedServer(shop.PaymentsStub{})
	api.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake below
	api.StartTLS()
	defer api.Close()
	ctx := shop.WithDelays(context.Background(), shop.Delays{Ext: 20 * time.Millisecond})

	strict, err := shop.NewHTTPPayments(api.URL, false)
	if err != nil {
		t.Fatal(err)
	}
	defer strict.Close()
	if _, err := strict.Quote(ctx, 1); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("self-signed certificate accepted without InsecureSkipVerify: %v", err)
	}

	insecure, err := shop.NewHTTPPayments(api.URL+"/", true)
	if err != nil {
		t.Fatal(err)
	}
	defer insecure.Close()
	start := time.Now()
	q, err := insecure.Quote(ctx, 4)
	if err != nil || q.OrderID != 4 || q.DelayMS != 20 || time.Since(start) < 20*time.Millisecond {
		t.Errorf("quote %+v, %v in %v", q, err, time.Since(start))
	}

	// An API error is an error.
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "overloaded", http.StatusServiceUnavailable)
	}))
	defer bad.Close()
	p, _ := shop.NewHTTPPayments(bad.URL, false)
	if _, err := p.Quote(ctx, 1); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("503 from the API: %v", err)
	}
	for _, u := range []string{"", "ftp://x", "payments:8080"} {
		if _, err := shop.NewHTTPPayments(u, false); err == nil {
			t.Errorf("NewHTTPPayments(%q) accepted", u)
		}
	}
}

func TestShopNew(t *testing.T) {
	full := shop.Config{
		DatabaseURL: "postgres://postgres@127.0.0.1:1/postgres?sslmode=disable",
		RedisAddr:   "127.0.0.1:1",
		PaymentsURL: "http://127.0.0.1:1",
	}
	for name, tt := range map[string]struct {
		cfg  shop.Config
		want string
	}{
		"no database":   {shop.Config{RedisAddr: "x:1", PaymentsURL: "http://x"}, "DatabaseURL"},
		"no redis":      {shop.Config{DatabaseURL: full.DatabaseURL, PaymentsURL: "http://x"}, "RedisAddr"},
		"no payments":   {shop.Config{DatabaseURL: full.DatabaseURL, RedisAddr: "x:1"}, "PaymentsURL"},
		"bad rum":       {shop.Config{CollectorRUMURL: "127.0.0.1:8089"}, "CollectorRUMURL"},
		"bad database":  {shop.Config{DatabaseURL: "mysql://x", RedisAddr: "x:1", PaymentsURL: "http://x"}, "database URL"},
		"bad redis URL": {shop.Config{DatabaseURL: full.DatabaseURL, RedisAddr: "redis://x:y:z", PaymentsURL: "http://x"}, "redis"},
	} {
		if _, err := shop.New(tt.cfg, shop.Deps{}); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want an error about %s", name, err, tt.want)
		}
	}
	// Missing backends are built from Config (lazily connected) and closed by Close.
	app, err := shop.New(full, shop.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	app.Close()
}

func TestShopTracing(t *testing.T) {
	var mu sync.Mutex
	var paths, types []string
	otlp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		paths, types = append(paths, r.URL.Path), append(types, r.Header.Get("Content-Type"))
		mu.Unlock()
		if len(b) == 0 {
			w.WriteHeader(400)
		}
	}))
	defer otlp.Close()

	ctx := context.Background()
	tp, err := shop.NewTracerProvider(ctx, otlp.URL, "shop-test")
	if err != nil {
		t.Fatal(err)
	}
	_, root := tp.Tracer("t").Start(ctx, "root")
	if !root.IsRecording() {
		t.Error("a new trace is not sampled")
	}
	if v, _ := root.(sdktrace.ReadOnlySpan).Resource().Set().Value("service.name"); v.AsString() != "shop-test" {
		t.Errorf("service.name %q", v.AsString())
	}
	root.End()
	// Parent-based: an unsampled parent (the sidecar's decision) is followed.
	unsampled := trace.ContextWithRemoteSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1}, SpanID: trace.SpanID{1}, Remote: true}))
	if _, s := tp.Tracer("t").Start(unsampled, "child"); s.IsRecording() {
		t.Error("the child of an unsampled parent is sampled")
	}
	if err := tp.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(paths) != 1 || paths[0] != "/v1/traces" || types[0] != "application/x-protobuf" {
		t.Errorf("OTLP requests: %v %v", paths, types)
	}

	for _, bad := range []string{"grpc://127.0.0.1:4317", "127.0.0.1:4318", "http://"} {
		if _, err := shop.NewTracerProvider(ctx, bad, "x"); err == nil {
			t.Errorf("endpoint %q accepted", bad)
		}
	}
	shutdown, err := shop.SetupTracing(ctx, "", "shop")
	if err != nil || shutdown(ctx) != nil {
		t.Errorf("SetupTracing without endpoint: %v", err)
	}
}
