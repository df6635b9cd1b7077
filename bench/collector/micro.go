package main

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hopscope/hopscope/bench/internal/harness"
)

// microBench is the correlate package's own benchmarks: the cost of the
// work hopscope's receiver exists for, without any network or decoding.
type microBench struct {
	Command string      `json:"command"`
	Lines   []benchLine `json:"benchmarks"`
	// BreakdownsPerSec is 1e9 / BenchmarkCompute's ns/op: breakdowns of a
	// full request path one core computes per second.
	BreakdownsPerSec float64 `json:"breakdowns_per_sec_per_core"`
	// StoreTracesPerSec is 1e9 / BenchmarkStoreAdd's ns/op: full traces
	// (six records each) one core files per second.
	StoreTracesPerSec float64 `json:"store_traces_per_sec_per_core"`
	// HeapBytesPerTrace is BenchmarkStoreAdd's heap-bytes/trace: live heap
	// a filed trace holds.
	HeapBytesPerTrace float64 `json:"heap_bytes_per_trace"`
}

type benchLine struct {
	Name    string             `json:"name"`
	N       int64              `json:"iterations"`
	Metrics map[string]float64 `json:"metrics"` // unit → value: ns/op, B/op, allocs/op, heap-bytes/trace
}

// parseBench reads `go test -bench` result lines:
//
//	BenchmarkCompute-2   	  212340	      5521 ns/op	    2456 B/op	      31 allocs/op
func parseBench(out string) []benchLine {
	var lines []benchLine
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		n, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		b := benchLine{Name: f[0], N: n, Metrics: map[string]float64{}}
		// Drop the -GOMAXPROCS suffix go test adds when it is not 1.
		if i := strings.LastIndexByte(b.Name, '-'); i > 0 {
			if _, err := strconv.Atoi(b.Name[i+1:]); err == nil {
				b.Name = b.Name[:i]
			}
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				break
			}
			b.Metrics[f[i+1]] = v
		}
		lines = append(lines, b)
	}
	return lines
}

// runMicro compiles the correlate tests (on every core) and runs the two
// benchmarks pinned to cpu with GOMAXPROCS=1, like the receivers.
func runMicro(ctx context.Context, root, dir string, cpu int, taskset string) (*microBench, error) {
	bin := filepath.Join(dir, "correlate.test")
	build := exec.CommandContext(ctx, "go", "test", "-c", "-o", bin, "./correlate/")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go test -c ./correlate/: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := harness.Command(ctx, harness.Pinned(taskset, cpu, bin, "-test.run", "^$", "-test.bench", "^(BenchmarkCompute|BenchmarkStoreAdd)$",
		"-test.benchmem", "-test.cpu", "1")...)
	cmd.Dir = filepath.Join(root, "correlate") // as go test would: testdata is relative
	cmd.Env = harness.CleanEnv()
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		return nil, fmt.Errorf("correlate benchmarks: %w", ctx.Err())
	}
	if err != nil {
		return nil, fmt.Errorf("correlate benchmarks: %v\n%s", err, out)
	}
	m := &microBench{
		Command: fmt.Sprintf("taskset -c %d go test -run '^$' -bench 'BenchmarkCompute|BenchmarkStoreAdd' -benchmem -cpu 1 ./correlate/", cpu),
		Lines:   parseBench(string(out)),
	}
	for _, b := range m.Lines {
		ns := b.Metrics["ns/op"]
		switch b.Name {
		case "BenchmarkCompute":
			if ns > 0 {
				m.BreakdownsPerSec = 1e9 / ns
			}
		case "BenchmarkStoreAdd":
			if ns > 0 {
				m.StoreTracesPerSec = 1e9 / ns
			}
			m.HeapBytesPerTrace = b.Metrics["heap-bytes/trace"]
		}
	}
	if m.BreakdownsPerSec == 0 || m.StoreTracesPerSec == 0 {
		return m, fmt.Errorf("correlate benchmarks: BenchmarkCompute or BenchmarkStoreAdd missing from the output:\n%s", out)
	}
	return m, nil
}
