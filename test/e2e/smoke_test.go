//go:build e2e

package e2e

import (
	"context"
	"github.com/hopscope/hopscope/internal/realcomp/realcomptest"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hopscope/hopscope/internal/testkit"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// TestComponentsStart checks each real component starts on loopback and
// answers: the harness the full-path test stands on.
func TestComponentsStart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pg := realcomptest.Postgres(t)
	conn, err := pgx.Connect(ctx, pg)
	if err != nil {
		t.Fatal(err)
	}
	var one int
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("postgres: %v", err)
	}
	conn.Close(ctx)
	rdb := redis.NewClient(&redis.Options{Addr: realcomptest.Redis(t)})
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("redis: %v", err)
	}
	rdb.Close()

	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	seen := make(chan http.Header, 10)
	app := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Header.Clone()
		io.WriteString(w, "ok")
	})}
	go app.Serve(ln)
	defer app.Close()
	relay := delayRelay(t, ln.Addr().String(), 15*time.Millisecond)
	nginxAddr, accessLog := startNginxIngress(t, relay.Addr())
	lbAddr, lbLog := startHAProxyLB(t, nginxAddr)
	startAt := time.Now()
	res, err := http.Get("http://" + lbAddr + "/hello")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if took := time.Since(startAt); took < 15*time.Millisecond {
		t.Errorf("the relay did not delay: %v", took)
	}
	h := <-seen
	if !strings.HasPrefix(h.Get("X-Amzn-Trace-Id"), "Root=1-") || h.Get("X-Request-Id") == "" || !strings.HasPrefix(h.Get("X-Request-Start"), "t=") {
		t.Errorf("headers at the app: %v", h)
	}
	testkit.Eventually(t, "nginx and haproxy log lines", 10*time.Second, func() bool {
		a, _ := os.ReadFile(accessLog)
		b, _ := os.ReadFile(lbLog)
		return strings.Contains(string(a), `"request_time"`) && strings.Contains(string(b), "Root=1-")
	})
	prom := startPrometheus(t, ln.Addr().String())
	if code, _, err := getBody(prom + "/api/v1/targets"); err != nil || code != 200 {
		t.Fatalf("prometheus: %d %v", code, err)
	}
}
