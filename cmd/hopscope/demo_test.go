package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hopscope/hopscope/internal/testkit"
)

// TestDemoLauncher: `hopscope demo` builds examples/demo and runs it with
// the same arguments and output, returns its exit code, and stops it
// cleanly (SIGTERM) when its context ends. The demo's own behaviour is
// tested in examples/demo.
func TestDemoLauncher(t *testing.T) {
	if testing.Short() {
		t.Skip("builds examples/demo")
	}
	// The binary goes to a temporary cache directory; Go's build cache,
	// which defaults to one under it, stays where it is.
	gocache, err := exec.Command("go", "env", "GOCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("GOCACHE", strings.TrimSpace(string(gocache)))
	cacheDir := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cacheDir)

	var out, errb testkit.SyncBuffer
	if code := run(context.Background(), []string{"demo", "--rps", "0"}, &out, &errb); code != 2 ||
		!strings.Contains(errb.String(), "hopscope demo: --rps: must be between 1 and 1000") {
		t.Errorf("--rps 0: exit %d, stderr %q; want the demo's usage error and exit 2", code, errb.String())
	}

	out, errb = testkit.SyncBuffer{}, testkit.SyncBuffer{}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	start := time.Now()
	code := run(ctx, []string{"demo", "--rps", "40", "--http-listen", freeAddr(t)}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("the demo took %v to stop after its context ended", d)
	}
	for _, want := range []string{"hopscope demo — every request", "/ui/", "requests joined in 10 s", "stopped"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if bins, _ := filepath.Glob(filepath.Join(cacheDir, "hopscope", "demo-*")); len(bins) != 1 {
		t.Errorf("demo binaries in the cache directory: %q, want one", bins)
	}
}

// TestDemoOutsideTheSourceTree: a hopscope binary run outside the source
// tree cannot build the demo and says how to run it.
func TestDemoOutsideTheSourceTree(t *testing.T) {
	other := t.TempDir()
	os.WriteFile(filepath.Join(other, "go.mod"), []byte("module example.com/other\n"), 0o644)
	for _, dir := range []string{t.TempDir(), other} {
		t.Chdir(dir)
		var out, errb testkit.SyncBuffer
		code := run(context.Background(), []string{"demo"}, &out, &errb)
		if code != 1 || !strings.Contains(errb.String(), "hopscope demo: not in the hopscope source tree") ||
			!strings.Contains(errb.String(), "git clone https://github.com/hopscope/hopscope && cd hopscope && go run ./cmd/hopscope demo") {
			t.Errorf("in %s: exit %d, stderr %q", dir, code, errb.String())
		}
	}
}
