package redisproxy

import (
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hopscope/hopscope/internal/realcomp"
	"github.com/hopscope/hopscope/internal/testkit"
	"github.com/hopscope/hopscope/sidecar/backend"
	"github.com/hopscope/hopscope/sidecar/backend/backendtest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// The package's tests share one real redis-server (realcomp.Redis);
// tests that need server options start their own with startRedis.
var shared struct {
	once sync.Once
	addr string
	stop func()
	err  error
}

func TestMain(m *testing.M) {
	testkit.VerifyNoLeaks(m, func() {
		if shared.stop != nil {
			shared.stop()
		}
	})
}

// redisServer returns the shared server's host:port.
func redisServer(t *testing.T) string {
	t.Helper()
	shared.once.Do(func() { shared.addr, shared.stop, shared.err = realcomp.Redis() })
	if shared.err != nil {
		t.Fatalf("redis-server: %v", shared.err)
	}
	return shared.addr
}

// startRedis runs a redis-server of its own with extra arguments
// (--requirepass, --enable-debug-command) and returns its host:port.
func startRedis(t *testing.T, args ...string) string {
	t.Helper()
	bin, err := realcomp.Lookup("redis-server")
	if err != nil {
		t.Fatal(err)
	}
	port, err := realcomp.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	argv := append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"}, args...)
	p, err := realcomp.Start("redis", exec.Command(bin, argv...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if err := realcomp.WaitTCP("redis", addr, 10*time.Second); err != nil {
		t.Fatalf("%v: %s", err, p.Output())
	}
	return addr
}

// startProxy serves the rig's backend with New on 127.0.0.1:0 and returns
// the listening address.
func startProxy(t *testing.T, r *rig, log *zap.Logger) string {
	t.Helper()
	h, err := New(r.b)
	if err != nil {
		t.Fatal(err)
	}
	cfg := r.b.Config
	cfg.Listen = "127.0.0.1:0"
	return backendtest.Serve(t, backend.NewServer(cfg, h, log))
}

// observedLogger returns a logger that keeps everything it is given, and
// a function returning it as text.
func observedLogger() (*zap.Logger, func() string) {
	core, logs := observer.New(zap.DebugLevel)
	return zap.New(core), func() string {
		var b strings.Builder
		for _, e := range logs.All() {
			fmt.Fprintf(&b, "%s %v\n", e.Message, e.ContextMap())
		}
		return b.String()
	}
}
