package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hopscope/hopscope/bench/internal/harness"
)

// waitQuiet waits up to limit (0: not at all) for the CPUs to be quiet; if
// they stay busy it warns, with the load average, and goes on. It returns
// only ctx's error.
func waitQuiet(ctx context.Context, cpus []int, limit time.Duration) error {
	if limit <= 0 {
		return nil
	}
	if err := harness.WaitQuiet(ctx, cpus, limit); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		fmt.Fprintf(os.Stderr, "warning: %v (load average %s); measuring anyway\n", err, harness.LoadAvg())
	}
	return nil
}

// lookTool finds a required binary: the flag's value, else the first of
// candidates that exists, else PATH.
func lookTool(name, flagVal string, candidates []string, howTo string) (string, error) {
	if flagVal != "" {
		st, err := os.Stat(flagVal)
		if err != nil {
			return "", fmt.Errorf("%s: %v", name, err)
		}
		if st.IsDir() || st.Mode()&0o111 == 0 {
			return "", fmt.Errorf("%s: %s is not an executable file", name, flagVal)
		}
		return filepath.Abs(flagVal)
	}
	for _, c := range candidates {
		if st, err := os.Stat(c); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return c, nil
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return filepath.Abs(p)
	}
	where := strings.Join(append(slices.Clone(candidates), "PATH"), ", ")
	return "", fmt.Errorf("%s not found (looked in %s): %s", name, where, howTo)
}
