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
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/hopscope/hopscope/examples/shop/shop"
)

func TestShopE2E(t *testing.T) {
	dbURL := startPostgres(t)
	redisAddr := startRedis(t)

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

// --- real components

// pgBin finds a PostgreSQL server binary, or skips the test.
func pgBin(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join("/usr/lib/postgresql/15/bin", name)
	if _, err := os.Stat(p); err == nil {
		return p
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	t.Skipf("%s not found in /usr/lib/postgresql/15/bin or on PATH: apt-get install postgresql to run this test", name)
	return ""
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// run runs a short command, bounded by within.
func run(t *testing.T, within time.Duration, asPostgres bool, name string, args ...string) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	if asPostgres { // initdb and pg_ctl refuse to run as root
		args = append([]string{"-u", "postgres", "--", name}, args...)
		name = "runuser"
	}
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.WaitDelay = time.Second
	return cmd.CombinedOutput()
}

// startPostgres runs a throwaway PostgreSQL on a free loopback port (as the
// postgres user when we are root) and returns its URL; it is stopped when
// the test ends.
func startPostgres(t *testing.T) string {
	t.Helper()
	initdb, pgctl := pgBin(t, "initdb"), pgBin(t, "pg_ctl")
	root := os.Geteuid() == 0
	dir := t.TempDir()
	if root {
		if _, err := user.Lookup("postgres"); err != nil {
			t.Skip("running as root and there is no postgres user for PostgreSQL to run as")
		}
		if _, err := exec.LookPath("runuser"); err != nil {
			t.Skip("running as root and runuser is missing")
		}
		if b, err := run(t, 10*time.Second, false, "chown", "-R", "postgres:postgres", dir); err != nil {
			t.Fatalf("chown: %v\n%s", err, b)
		}
		// The postgres user must reach dir.
		for d := filepath.Dir(dir); d != "/" && d != "."; d = filepath.Dir(d) {
			if fi, err := os.Stat(d); err == nil && fi.Mode().Perm()&0o001 == 0 {
				_ = os.Chmod(d, fi.Mode().Perm()|0o011)
			}
		}
	}
	data := filepath.Join(dir, "data")
	if b, err := run(t, 2*time.Minute, root, initdb, "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8"); err != nil {
		t.Fatalf("initdb: %v\n%s", err, b)
	}
	port := freePort(t)
	logFile := filepath.Join(dir, "postgres.log")
	t.Cleanup(func() {
		if b, err := run(t, 40*time.Second, root, pgctl, "-D", data, "-m", "fast", "-w", "-t", "30", "stop"); err != nil &&
			!bytes.Contains(b, []byte("Is server running?")) {
			t.Errorf("pg_ctl stop: %v\n%s", err, b)
		}
	})
	if b, err := run(t, 40*time.Second, root, pgctl, "-D", data, "-l", logFile, "-w", "-t", "30",
		"-o", fmt.Sprintf("-k %s -p %d -h 127.0.0.1", dir, port), "start"); err != nil {
		log, _ := os.ReadFile(logFile)
		t.Fatalf("pg_ctl start: %v\n%s\n%s", err, b, log)
	}
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
}

// startRedis runs a throwaway Redis without persistence and returns its
// address; it is stopped (its process group) when the test ends.
func startRedis(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server not found on PATH: apt-get install redis-server to run this test")
	}
	port := freePort(t)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	var out syncBuffer
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			select {
			case <-exited:
			case <-time.After(5 * time.Second):
				t.Errorf("redis-server (pid %d) did not exit after SIGKILL", cmd.Process.Pid)
			}
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return addr
		}
		select {
		case <-exited:
			t.Fatalf("redis-server exited: %v\n%s", waitErr, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server not listening on %s after 10s: %v\n%s", addr, err, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
