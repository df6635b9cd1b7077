package testkit

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder is a testing.TB that records failures; Fatal ends its
// goroutine as the real one does.
type recorder struct {
	testing.TB
	mu     sync.Mutex
	failed []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed = append(r.failed, fmtMsg(format, args...))
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	runtime.Goexit()
}
func (r *recorder) Fatal(args ...any) { r.Fatalf("%v", args...) }

func fmtMsg(format string, args ...any) string {
	return strings.TrimSpace(fmt.Sprintf(format, args...))
}

// run calls f with r in a goroutine of its own (so Fatal can end it) and
// waits for it.
func (r *recorder) run(f func(testing.TB)) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
}

func TestEventuallyWaitsForTheCondition(t *testing.T) {
	start := time.Now()
	var r recorder
	r.run(func(tb testing.TB) {
		Eventually(tb, "the clock", 5*time.Second, func() bool { return time.Since(start) > 30*time.Millisecond })
	})
	if len(r.failed) != 0 {
		t.Errorf("failed: %v", r.failed)
	}
	if time.Since(start) < 30*time.Millisecond {
		t.Error("returned before the condition held")
	}
}

func TestEventuallyFailsNamingWhatAndDetail(t *testing.T) {
	var r recorder
	reached := false
	r.run(func(tb testing.TB) {
		Eventually(tb, "pigs to fly", 20*time.Millisecond, func() bool { return false }, func() string { return "pigs: grounded" })
		reached = true
	})
	if reached {
		t.Error("Eventually returned after the timeout instead of failing fatally")
	}
	if len(r.failed) != 1 || !strings.Contains(r.failed[0], "waiting for pigs to fly") || !strings.Contains(r.failed[0], "pigs: grounded") || !strings.Contains(r.failed[0], "timed out after") {
		t.Errorf("failure %q, want what, elapsed and detail", r.failed)
	}
}

func TestGolden(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "x.golden")
	*update = true
	var r recorder
	r.run(func(tb testing.TB) { Golden(tb, path, []byte("one\ntwo\n")) })
	*update = false
	if b, err := os.ReadFile(path); err != nil || string(b) != "one\ntwo\n" || len(r.failed) != 0 {
		t.Fatalf("-update wrote %q, %v; failures %v", b, err, r.failed)
	}
	r.run(func(tb testing.TB) { Golden(tb, path, []byte("one\ntwo\n")) })
	if len(r.failed) != 0 {
		t.Errorf("equal output failed: %v", r.failed)
	}
	r.run(func(tb testing.TB) { Golden(tb, path, []byte("one\nthree\n")) })
	if len(r.failed) != 1 || !strings.Contains(r.failed[0], "line 2") {
		t.Errorf("different output: failures %v, want one naming line 2", r.failed)
	}
	r.failed = nil
	r.run(func(tb testing.TB) { Golden(tb, path+".missing", []byte("x")) })
	if len(r.failed) != 1 || !strings.Contains(r.failed[0], "-update") {
		t.Errorf("missing file: failures %v, want one pointing at -update", r.failed)
	}
}

func TestFindLeaks(t *testing.T) {
	stop := make(chan struct{})
	go leakyLoop(stop)
	err := findLeaks(100 * time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "leakyLoop") {
		t.Errorf("a running goroutine: %v, want it listed", err)
	}
	// Stopped a moment after findLeaks starts looking (a server shutting
	// down): it waits, and finds no leak.
	time.AfterFunc(100*time.Millisecond, func() { close(stop) })
	if err := findLeaks(5 * time.Second); err != nil {
		t.Errorf("after stopping: %v", err)
	}
}

func leakyLoop(stop chan struct{}) { <-stop }
