package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"time"
)

// profiledPkg is the hopscope collector with net/http/pprof, built for
// --profile instead of ./cmd/hopscope.
const profiledPkg = "./bench/collector/profiled"

// buildProfiled runs `go build -o out ./bench/collector/profiled` in the
// module root.
func buildProfiled(ctx context.Context, root, out string) error {
	fmt.Fprintln(os.Stderr, "building "+profiledPkg+" (--profile) ...")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, profiledPkg)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s failed (%v):\n%s", profiledPkg, err, b)
	}
	return nil
}

// profileResult is what fetchProfiles wrote.
type profileResult struct {
	paths []string
	err   error
}

// fetchProfiles asks the profiled collector at base (http://ADDR) for a CPU
// profile and an allocation profile (a delta: what was allocated in the
// window) of the next d, written to prefix.cpu.pprof and
// prefix.allocs.pprof. The result arrives on the channel once both are
// written, or the first failure.
func fetchProfiles(ctx context.Context, base string, d time.Duration, prefix string) <-chan profileResult {
	secs := int(math.Ceil(d.Seconds()))
	kinds := []struct{ path, file string }{
		{fmt.Sprintf("/debug/pprof/profile?seconds=%d", secs), prefix + ".cpu.pprof"},
		{fmt.Sprintf("/debug/pprof/allocs?seconds=%d", secs), prefix + ".allocs.pprof"},
	}
	each := make(chan error, len(kinds))
	for _, k := range kinds {
		go func() { each <- fetchTo(ctx, base+k.path, k.file, time.Duration(secs)*time.Second+30*time.Second) }()
	}
	out := make(chan profileResult, 1)
	go func() {
		var r profileResult
		for range kinds {
			if err := <-each; err != nil && r.err == nil {
				r.err = err
			}
		}
		if r.err == nil {
			for _, k := range kinds {
				r.paths = append(r.paths, k.file)
			}
		}
		out <- r
	}()
	return out
}

// fetchTo GETs url into the file path, within limit.
func fetchTo(ctx context.Context, url, path string, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("GET %s: status %d: %s", url, resp.StatusCode, b)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("GET %s: %w", url, err)
	}
	return f.Close()
}

// fmtKnown formats v with prec decimals, or "-" for a negative (unknown)
// value.
func fmtKnown(v float64, prec int) string {
	if v < 0 {
		return "-"
	}
	return fmt.Sprintf("%.*f", prec, v)
}
