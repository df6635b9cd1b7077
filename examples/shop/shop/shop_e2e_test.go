//go:build e2e

package shop_test

// The shop against a real PostgreSQL and a real Redis, each started on a
// free loopback port by the test and stopped by it:
//
//	go test -tags e2e -run Shop ./examples/shop/...
//
// PostgreSQL is looked for in /usr/lib/postgresql/15/bin, then on PATH;
// redis-server on PATH. The test is skipped when they are not installed.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/hopscope/hopscope/examples/shop/shop"
	"github.com/hopscope/hopscope/internal/realcomp/realcomptest"
)

func TestShopE2E(t *testing.T) {
	dbURL := realcomptest.Postgres(t)
	redisAddr := realcomptest.Redis(t)

	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	orders, err := shop.NewPostgresOrders(ctx, dbURL, shop.WithTracerProvider(tp))
	if err != nil {
		t.Fatal(err)
	}
	defer orders.Close()
	cache, err := shop.NewRedisCache(redisAddr, shop.WithTracerProvider(tp))
	if err != nil {
		t.Fatal(err)
	}
	defer cache.Close()

	t.Run("Migrate", func(t *testing.T) {
		for i := range 2 { // idempotent
			if err := shop.Migrate(ctx, orders.Pool()); err != nil {
				t.Fatalf("Migrate #%d: %v", i+1, err)
			}
		}
		var n int
		if err := orders.Pool().QueryRow(ctx, `SELECT count(*) FROM orders`).Scan(&n); err != nil || n != 10 {
			t.Fatalf("orders after two migrations: %d, %v; want 10", n, err)
		}
	})

	t.Run("Orders", func(t *testing.T) {
		rec.Reset()
		// otelpgx and redisotel make spans only under a recording parent
		// (in the app, the server span).
		ctx, parent := tp.Tracer("test").Start(ctx, "test")
		defer parent.End()
		o, err := orders.Get(ctx, 7)
		if err != nil || o != (shop.Order{ID: 7, Item: "cold brew bottle", AmountCents: 2750}) {
			t.Fatalf("Get(7): %+v, %v", o, err)
		}
		// The SQL delay is spent by PostgreSQL, inside the query.
		start := time.Now()
		o, err = orders.Get(shop.WithDelays(ctx, shop.Delays{SQL: 25 * time.Millisecond}), 7)
		took := time.Since(start)
		if err != nil || o.ID != 7 || took < 25*time.Millisecond {
			t.Fatalf("Get(7) with sql_ms=25: %+v, %v in %v; want ≥ 25ms", o, err, took)
		}
		if _, err := orders.Get(ctx, 99); !errors.Is(err, shop.ErrNotFound) {
			t.Errorf("Get(99): %v, want ErrNotFound", err)
		}
		var sleepy sdktrace.ReadOnlySpan // the query (not its prepare)
		for _, s := range rec.Ended() {
			if strings.Contains(attr(s, "db.query.text").AsString(), "pg_sleep") &&
				(sleepy == nil || s.EndTime().Sub(s.StartTime()) > sleepy.EndTime().Sub(sleepy.StartTime())) {
				sleepy = s
			}
		}
		if sleepy == nil {
			t.Fatalf("no span of the pg_sleep query among %s", names(rec.Ended()))
		}
		if sys := dbSystem(sleepy); sys != "postgresql" || sleepy.SpanKind() != trace.SpanKindClient {
			t.Errorf("query span %q: db.system(.name) %q, kind %v", sleepy.Name(), sys, sleepy.SpanKind())
		}
		if d := sleepy.EndTime().Sub(sleepy.StartTime()); d < 25*time.Millisecond {
			t.Errorf("query span lasted %v, want ≥ 25ms (the pg_sleep)", d)
		}
	})

	t.Run("Cache", func(t *testing.T) {
		rec.Reset()
		ctx, parent := tp.Tracer("test").Start(ctx, "test")
		defer parent.End()
		key := "shop:test:" + strconv.FormatInt(time.Now().UnixNano(), 10)
		if v, found, err := cache.Get(ctx, key); err != nil || found || v != nil {
			t.Fatalf("Get(missing): %q, %v, %v", v, found, err)
		}
		if err := cache.Set(ctx, key, []byte(`{"a":1}`), time.Minute); err != nil {
			t.Fatal(err)
		}
		if v, found, err := cache.Get(ctx, key); err != nil || !found || string(v) != `{"a":1}` {
			t.Fatalf("Get after Set: %q, %v, %v", v, found, err)
		}
		var cmds []string
		for _, s := range rec.Ended() {
			// (The client's first connection adds redis.dial, hello, client.)
			if dbSystem(s) == "redis" && s.SpanKind() == trace.SpanKindClient && (s.Name() == "get" || s.Name() == "set") {
				cmds = append(cmds, s.Name())
			}
		}
		if strings.Join(cmds, ",") != "get,set,get" {
			t.Errorf("redis spans with db.system=redis: %v, want get,set,get (all: %s)", cmds, names(rec.Ended()))
		}
	})

	t.Run("App", func(t *testing.T) {
		rec.Reset()
		api := httptest.NewTLSServer(shop.PaymentsStub{})
		defer api.Close()
		payments, err := shop.NewHTTPPayments(api.URL, true, shop.WithTracerProvider(tp))
		if err != nil {
			t.Fatal(err)
		}
		defer payments.Close()
		app, err := shop.New(shop.Config{CollectorRUMURL: "http://127.0.0.1:8089"},
			shop.Deps{Orders: orders, Cache: cache, Payments: payments, TracerProvider: tp})
		if err != nil {
			t.Fatal(err)
		}
		defer app.Close()
		srv := httptest.NewServer(app.Handler())
		defer srv.Close()
		client := &http.Client{Timeout: 20 * time.Second}

		const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
		get := func(target string) (shop.OrderView, time.Duration) {
			t.Helper()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+target, nil)
			req.Header.Set("traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
			start := time.Now()
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var v shop.OrderView
			if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || resp.StatusCode != 200 {
				t.Fatalf("%s: %d, %v", target, resp.StatusCode, err)
			}
			return v, time.Since(start)
		}
		_ = cacheDel(ctx, redisAddr, "shop:order:7")
		v, took := get("/api/orders/7?app_ms=10&sql_ms=25&ext_ms=30")
		if took < 65*time.Millisecond || v.Cache != "miss" || v.Order.Item != "cold brew bottle" || v.Quote.DelayMS != 30 || v.TraceID != traceID {
			t.Errorf("first: %+v in %v; want ≥ 65ms, a miss", v, took)
		}
		if v, _ := get("/api/orders/7"); v.Cache != "hit" {
			t.Errorf("second: cache %q, want hit", v.Cache)
		}

		// One trace: the server span under the incoming parent, and the
		// Redis, PostgreSQL and payments client spans under the server span.
		spans := rec.Ended()
		byID := map[trace.SpanID]sdktrace.ReadOnlySpan{}
		var server sdktrace.ReadOnlySpan
		for _, s := range spans {
			byID[s.SpanContext().SpanID()] = s
			if s.SpanKind() == trace.SpanKindServer && server == nil {
				server = s
			}
		}
		if server == nil || server.Parent().SpanID().String() != "00f067aa0ba902b7" {
			t.Fatalf("server span %v", server)
		}
		under := func(s sdktrace.ReadOnlySpan) bool {
			for p := s.Parent().SpanID(); p.IsValid(); {
				if p == server.SpanContext().SpanID() {
					return true
				}
				ps, ok := byID[p]
				if !ok {
					return false
				}
				p = ps.Parent().SpanID()
			}
			return false
		}
		seen := map[string]bool{}
		for _, s := range spans {
			if s.SpanKind() != trace.SpanKindClient || s.SpanContext().TraceID() != server.SpanContext().TraceID() || !under(s) {
				continue
			}
			switch {
			case dbSystem(s) == "redis":
				seen["redis "+s.Name()] = true
			case dbSystem(s) == "postgresql":
				seen["postgres "+s.Name()] = true
			case attr(s, "http.request.method").AsString() == "GET":
				seen["http "+attr(s, "server.address").AsString()] = true
			}
		}
		for _, want := range []string{"redis get", "redis set", "postgres SELECT", "http 127.0.0.1"} {
			if !seen[want] {
				t.Errorf("no %q span under the server span; got %v", want, seen)
			}
		}
	})
}

func dbSystem(s sdktrace.ReadOnlySpan) string {
	if v := attr(s, "db.system.name").AsString(); v != "" {
		return v
	}
	return attr(s, "db.system").AsString()
}

func names(spans []sdktrace.ReadOnlySpan) string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name())
	}
	return strings.Join(out, ", ")
}

// cacheDel deletes key with a raw RESP command, so that the test does not
// depend on a previous run's cache.
func cacheDel(ctx context.Context, addr, key string) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(c, "*2\r\n$3\r\nDEL\r\n$%d\r\n%s\r\n", len(key), key); err != nil {
		return err
	}
	_, err = c.Read(make([]byte, 64))
	return err
}
