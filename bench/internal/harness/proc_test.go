package harness

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hopscope/hopscope/internal/testkit"
)

func TestStartStop(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.log")
	// A shell that forks a child and waits: Stop must end both.
	p, err := StartProc(context.Background(), "sh", nil, out, out, "sh", "-c", "echo started; sleep 60 & echo $! > "+filepath.Join(dir, "child")+"; wait")
	if err != nil {
		t.Skip(err)
	}
	var child int
	testkit.Eventually(t, "the child's pid", 5*time.Second, func() bool {
		b, _ := os.ReadFile(filepath.Join(dir, "child"))
		child = atoi(strings.TrimSpace(string(b)))
		return child != 0
	})
	if p.Exited() {
		t.Fatalf("child %d, exited %v", child, p.Exited())
	}
	if !slices.Contains(ProcTree(p.PID()), child) {
		t.Errorf("ProcTree(%d) = %v lacks %d", p.PID(), ProcTree(p.PID()), child)
	}
	p.Stop(5 * time.Second)
	if !p.Exited() || p.Err() == nil {
		t.Errorf("exited %v, err %v: want killed by SIGTERM", p.Exited(), p.Err())
	}
	if alive(child) {
		t.Errorf("child %d still runs", child)
	}
	if p.Stop(time.Second) {
		t.Error("second Stop did something")
	}
	if got := p.LogTail(5); got != "\n--- last lines of "+out+" ---\nstarted" {
		t.Errorf("LogTail = %q", got)
	}
}

// alive reports whether pid runs: it exists and is not a zombie (the
// killed child's new parent may not have reaped it yet).
func alive(pid int) bool {
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return false
		}
		s := string(b)
		if i := strings.LastIndexByte(s, ')'); i > 0 && strings.HasPrefix(s[i+1:], " Z") {
			return false
		}
	}
	return true
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0
		}
		n = 10*n + int(c-'0')
	}
	return n
}

func TestCommandContextKillsGroup(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := Command(ctx, "sh", "-c", "sleep 60 & wait").Run()
	if err == nil || time.Since(start) > 10*time.Second {
		t.Errorf("err %v after %v", err, time.Since(start))
	}
}

func TestFileTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	if got := FileTail(path, 2); got != "" {
		t.Errorf("missing file: %q", got)
	}
	os.WriteFile(path, []byte("a\nb\nc\n"), 0o644)
	if got, want := FileTail(path, 2), "\n--- last lines of "+path+" ---\nb\nc"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestPinned(t *testing.T) {
	got := Pinned("/usr/bin/taskset", 3, "nginx", "-c", "x.conf")
	if want := []string{"/usr/bin/taskset", "-c", "3", "nginx", "-c", "x.conf"}; !slices.Equal(got, want) {
		t.Errorf("got %q", got)
	}
}

func TestCleanEnv(t *testing.T) {
	t.Setenv("GOMAXPROCS", "7")
	t.Setenv("OTEL_SERVICE_NAME", "x")
	t.Setenv("HOPSCOPE_LISTEN", "x")
	t.Setenv("BENCH_KEEP_ME", "1")
	env := CleanEnv("GOMAXPROCS=1")
	if !slices.Contains(env, "BENCH_KEEP_ME=1") || env[len(env)-1] != "GOMAXPROCS=1" {
		t.Errorf("env lacks BENCH_KEEP_ME=1 or ends with %q", env[len(env)-1])
	}
	for _, kv := range env[:len(env)-1] {
		if strings.HasPrefix(kv, "GOMAXPROCS=") || strings.HasPrefix(kv, "OTEL_") || strings.HasPrefix(kv, "HOPSCOPE_") {
			t.Errorf("kept %s", kv)
		}
	}
}

func TestSession(t *testing.T) {
	s, err := NewSession("harness-test-", false)
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.Start(context.Background(), "sleep", nil, "", "", "sleep", "60")
	if err != nil {
		os.RemoveAll(s.Dir)
		t.Skip(err)
	}
	s.Close()
	if !p.Exited() {
		t.Error("process not stopped")
	}
	if _, err := os.Stat(s.Dir); !os.IsNotExist(err) {
		t.Errorf("dir not removed: %v", err)
	}
}
