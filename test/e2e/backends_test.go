//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/hopscope/hopscope/internal/realcomp/realcomptest"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/hopscope/hopscope/collector"
	"github.com/hopscope/hopscope/internal/testkit"
	"github.com/hopscope/hopscope/sidecar"
	"github.com/hopscope/hopscope/sidecar/backend"
)

// TestBackendProxiesInBreakdown is issue 5's "done when": an app with no
// instrumentation at all, pointed at the sidecar's PostgreSQL and Redis
// listeners instead of the real (Debian) servers, serves a request; each
// query and command shows in the sidecar's metrics, as spans in the
// request's trace (attributed "inferred": one request in flight), and in
// the collector's breakdown under postgres and redis.
func TestBackendProxiesInBreakdown(t *testing.T) {
	ctx := context.Background()
	pgURL := realcomptest.Postgres(t)
	redisAddr := realcomptest.Redis(t)

	ccfg := loopbackCollectorConfig()
	ccfg.ExportDelay = 500 * time.Millisecond
	col := runCollector(t, ccfg, collector.Options{})

	// The app: plain pgx and go-redis, no OpenTelemetry, reaching its
	// backends only through the sidecar's listeners.
	var pool atomic.Pointer[pgxpool.Pool]
	var rdb atomic.Pointer[redis.Client]
	app := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n int
		if err := pool.Load().QueryRow(r.Context(), "SELECT count(*) FROM (SELECT pg_sleep(0.02)) s WHERE 1 = $1", 1).Scan(&n); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		if err := rdb.Load().Set(r.Context(), "order:7", "paid", time.Minute).Err(); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		v, err := rdb.Load().Get(r.Context(), "order:7").Result()
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		fmt.Fprintf(w, "%d %s", n, v)
	}), ReadHeaderTimeout: 5 * time.Second}
	appAddr, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go app.Serve(appAddr)
	t.Cleanup(func() { app.Close() })

	u, err := url.Parse(pgURL)
	if err != nil {
		t.Fatal(err)
	}
	pgTarget := u.Host
	scfg := sidecar.DefaultConfig()
	scfg.Listen, scfg.AdminListen = "127.0.0.1:0", "127.0.0.1:0"
	scfg.Upstream, scfg.Service = "http://"+appAddr.Addr().String(), "shop"
	scfg.OTLPEndpoint, scfg.AccessLog, scfg.ShutdownGrace = "http://"+col.OTLPHTTPAddr().String(), "off", 0
	scfg.Backends = []backend.Config{
		{Name: "db", Kind: backend.KindPostgres, Listen: "127.0.0.1:0", Target: pgTarget},
		{Name: "cache", Kind: backend.KindRedis, Listen: "127.0.0.1:0", Target: redisAddr},
	}
	sc, reg := runSidecar(t, scfg)
	addrs := sc.BackendAddrs()
	p, err := pgxpool.New(ctx, strings.Replace(pgURL, pgTarget, addrs["db"].String(), 1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	pool.Store(p)
	c := redis.NewClient(&redis.Options{Addr: addrs["cache"].String()})
	t.Cleanup(func() { c.Close() })
	rdb.Store(c)

	const traceID = "5a1e0000000000000000000000000007"
	req, _ := http.NewRequest("GET", "http://"+sc.Addr().String()+"/orders/7", nil)
	req.Header.Set("traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || string(body) != "1 paid" {
		t.Fatalf("app through the sidecar's backends: %s %s", res.Status, body)
	}

	var b collector.BreakdownResponse
	testkit.Eventually(t, "the breakdown with postgres and redis", 30*time.Second, func() bool {
		code, data, err := getBody("http://" + col.HTTPAddr().String() + "/api/v1/traces/" + traceID + "/breakdown")
		if err != nil || code != 200 || json.Unmarshal(data, &b) != nil {
			return false
		}
		h := hopsMS(b)
		_, pg := h["postgres"]
		_, rd := h["redis"]
		return pg && rd
	})
	h := hopsMS(b)
	if h["postgres"] < 20 {
		t.Errorf("postgres hop %.3f ms; the query slept 20 ms", h["postgres"])
	}
	ops := map[string]string{}
	for _, bc := range b.Backends {
		ops[bc.Kind+" "+bc.Operation] = string(bc.Attribution)
	}
	for _, want := range []string{"postgres SELECT", "redis SET", "redis GET"} {
		if ops[want] != "inferred" {
			t.Errorf("breakdown backends %v: want %s attributed inferred", ops, want)
		}
	}
	t.Logf("breakdown: %s; backends %v", formatHops(b), ops)

	if n, err := testutil.GatherAndCount(reg, "hopscope_backend_duration_seconds"); err != nil || n < 3 {
		t.Fatalf("backend histogram series: %d, %v", n, err)
	}
	text := metricsText(t, sc)
	for _, want := range []string{
		`hopscope_backend_duration_seconds_count{backend="db",kind="postgres",operation="SELECT",outcome="ok",service="shop"}`,
		`hopscope_backend_duration_seconds_count{backend="cache",kind="redis",operation="GET",outcome="ok",service="shop"}`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("sidecar /metrics lacks %s", want)
		}
	}
}

func metricsText(t *testing.T, sc *sidecar.Sidecar) string {
	t.Helper()
	_, body, err := getBody("http://" + sc.AdminAddr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}
