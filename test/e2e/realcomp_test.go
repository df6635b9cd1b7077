//go:build e2e

package e2e

import (
	"io"
	"net/http"
	"os/exec"
	"testing"
	"time"

	"github.com/hopscope/hopscope/internal/realcomp"
)

// The real components, each stopped by the test that started it.

func need(t *testing.T, bin string) string {
	t.Helper()
	p, err := realcomp.Lookup(bin)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func startNginxIngress(t *testing.T, upstream string) (addr, accessLog string) {
	t.Helper()
	addr, accessLog, stop, err := realcomp.NginxIngress(t.TempDir(), upstream)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return addr, accessLog
}

func startHAProxyLB(t *testing.T, backend string) (addr, logPath string) {
	t.Helper()
	addr, logPath, stop, err := realcomp.HAProxyLB(t.TempDir(), backend)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return addr, logPath
}

func startPrometheus(t *testing.T, targets ...string) string {
	t.Helper()
	base, stop, err := realcomp.Prometheus(t.TempDir(), targets...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return base
}

func delayRelay(t *testing.T, target string, delay time.Duration) *realcomp.Relay {
	t.Helper()
	r, err := realcomp.DelayRelay(target, delay)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

// start runs a component binary, stopped (its whole process group) in
// cleanup; its output is logged when the test failed.
func start(t *testing.T, name string, env []string, bin string, args ...string) *realcomp.Process {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(cmd.Environ(), env...)
	p, err := realcomp.Start(name, cmd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("--- %s output:\n%s", name, tail(p.Output(), 4000))
		}
	})
	return p
}

func getBody(url string) (int, []byte, error) {
	res, err := http.Get(url)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, b, err
}
