package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/hopscope/hopscope/bench/internal/harness"
)

// loadResult is one telemetrygen run.
type loadResult struct {
	Traces  int64   `json:"traces_generated"` // sum of the workers' "traces generated"
	Workers int     `json:"workers_reported"` // workers that logged their count
	CPU     float64 `json:"cpu_seconds"`      // telemetrygen's own CPU time
	Wall    float64 `json:"wall_seconds"`
	Errors  int     `json:"error_lines"` // ERROR/WARN lines in its log (export failures)
}

// telemetrygenArgs is the load of TOOLING.md: many workers and large
// batches, or telemetrygen drops spans silently and measures itself.
func telemetrygenArgs(o options, protocol, endpoint string) []string {
	args := []string{"traces", "--otlp-insecure", "--otlp-endpoint", endpoint,
		"--workers", strconv.Itoa(o.workers), "--rate", strconv.Itoa(o.rate),
		"--batch-size", strconv.Itoa(o.batchSize), "--child-spans", strconv.Itoa(o.childSpans),
		"--duration", o.duration.String()}
	if protocol == "http" {
		args = append(args, "--otlp-http")
	}
	if o.mappedSpans {
		// Make every span one hopscope maps to a correlate record: the
		// server-kind children become sidecar spans (resource attribute
		// hopscope.component=sidecar), the client-kind root a PostgreSQL
		// backend call. Jaeger gets the same spans.
		args = append(args, "--otlp-attributes", `hopscope.component="sidecar"`,
			"--telemetry-attributes", `db.system="postgresql"`)
	}
	return args
}

// runTelemetrygen runs the load pinned to cpu and waits for it, at most
// its duration plus a minute.
func runTelemetrygen(ctx context.Context, o options, bin, taskset, protocol, endpoint, logPath string) (loadResult, error) {
	ctx, cancel := context.WithTimeout(ctx, o.duration+time.Minute)
	defer cancel()
	argv := harness.Pinned(taskset, o.loadCPU, append([]string{bin}, telemetrygenArgs(o, protocol, endpoint)...)...)
	cmd := harness.Command(ctx, argv...)
	cmd.Env = harness.CleanEnv("OTEL_BSP_MAX_QUEUE_SIZE=65536")
	f, err := os.Create(logPath)
	if err != nil {
		return loadResult{}, err
	}
	defer f.Close()
	fmt.Fprintf(f, "# %s\n", strings.Join(argv, " "))
	cmd.Stdout, cmd.Stderr = f, f
	start := time.Now()
	err = cmd.Run()
	wall := time.Since(start).Seconds()
	if ctxErr := ctx.Err(); ctxErr != nil {
		if errors.Is(ctxErr, context.DeadlineExceeded) {
			return loadResult{}, fmt.Errorf("telemetrygen did not finish within %v; killed%s", o.duration+time.Minute, harness.FileTail(logPath, 20))
		}
		return loadResult{}, ctxErr
	}
	if err != nil {
		return loadResult{}, fmt.Errorf("telemetrygen: %v%s", err, harness.FileTail(logPath, 20))
	}
	data, err := os.ReadFile(logPath)
	if err != nil {
		return loadResult{}, err
	}
	res := parseTelemetrygen(string(data))
	res.Wall = wall
	res.CPU = harness.CPUSeconds(cmd.ProcessState)
	if res.Workers == 0 {
		return res, fmt.Errorf("telemetrygen logged no \"traces generated\" line: cannot tell how many spans it sent%s", harness.FileTail(logPath, 20))
	}
	return res, nil
}

var tracesGenerated = regexp.MustCompile(`traces generated.*"traces":\s*(\d+)`)

// parseTelemetrygen sums the workers' final counts. telemetrygen logs with
// zap's development encoder, one line per worker:
//
//	2026-11-25T10:00:00.000Z	INFO	traces/worker.go:170	traces generated	{"worker": 3, "traces": 4113}
func parseTelemetrygen(log string) loadResult {
	var r loadResult
	for _, line := range strings.Split(log, "\n") {
		if m := tracesGenerated.FindStringSubmatch(line); m != nil {
			n, _ := strconv.ParseInt(m[1], 10, 64)
			r.Traces += n
			r.Workers++
			continue
		}
		if strings.Contains(line, "\tERROR\t") || strings.Contains(line, "\tWARN\t") {
			r.Errors++
		}
	}
	return r
}
