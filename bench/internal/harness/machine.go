package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// HostInfo describes the machine: "cpus" (those this process may use),
// "cpu" (the model name) and "kernel" (the release).
func HostInfo() map[string]string {
	h := map[string]string{"cpus": strconv.Itoa(runtime.NumCPU())}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				h["cpu"] = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		h["kernel"] = strings.TrimSpace(string(b))
	}
	return h
}

// ToolVersion is the first line bin prints (on stdout or stderr) when run
// with arg, "" if it prints nothing within 5 s.
func ToolVersion(ctx context.Context, bin, arg string) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	b, _ := exec.CommandContext(ctx, bin, arg).CombinedOutput()
	line, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return strings.TrimSpace(line)
}

// ModuleRoot is the directory of the hopscope module's go.mod.
func ModuleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %v (is Go installed?)", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("run from inside the hopscope module (go env GOMOD is empty)")
	}
	return filepath.Dir(gomod), nil
}

// BuildHopscope runs `go build -o out ./cmd/hopscope` in the module root,
// saying so on stderr. On failure the error shows the compiler's output
// after hint (what to run instead).
func BuildHopscope(ctx context.Context, root, out, hint string) error {
	return BuildCommand(ctx, root, out, "./cmd/hopscope", hint)
}

// BuildCommand builds the main package pkg (relative to the module root)
// into out; hint tells the user what to do if it does not build.
func BuildCommand(ctx context.Context, root, out, pkg, hint string) error {
	fmt.Fprintf(os.Stderr, "building %s ...\n", pkg)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s failed (%v) — %s:\n%s", pkg, err, hint, b)
	}
	return nil
}
