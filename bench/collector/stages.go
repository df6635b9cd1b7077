package main

import (
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"
)

// A stage is a part of the collector's work that profile samples are
// charged to: each sample goes to the stage of the frame nearest its leaf
// that names one (so an allocation, a memmove or a map access counts for
// the code that made it), except that anything under the garbage
// collector's workers or a GC assist is "GC", and that code of correlate
// counts for the Store method it was called from (Due, Group, View:
// breakdown; Add and the rest: store), and otlpwire's accessors
// (Value.String, Span.EachAttr, …) called by the record mapping count as
// mapping, not as the walk.
var stageRules = []struct{ pattern, stage string }{
	{"collector.(*emitter).observe", stageMetrics},
	{"prometheus", stageMetrics},
	{"collector.(*emitter).touch", stageTouch}, // before the one trace table
	{"collector.(*emitter).add", stageTouch},
	{"collector.(*emitter).hold", stageTouch},
	{"collector.(*emitter).", stageDue},
	{"correlate.", stageStore},
	{"collector.spanRecord", stageMapping},
	{"collector.gather", stageMapping},
	{"collector.backendOf", stageMapping},
	{"collector.str", stageMapping},
	{"collector.attributionOf", stageMapping},
	// The resource's attributes, read by the mapping without making text.
	{"collector.resValue", stageMapping},
	{"collector.resIs", stageMapping},
	{"otlpwire.", stageWalk},
	{"collector.(*Collector).consumeOTLP", stageGroup},
	{"compress/", stageDecompress},
	{"collector/otlp.", stageReceive},
	{"google.golang.org/grpc", stageGRPC},
	{"golang.org/x/net/http2", stageGRPC},
	// google.golang.org/protobuf (protowire) counts for its caller:
	// otlpwire, or grpc-go.
	{"net/http.", stageHTTP},
	{"go.uber.org/zap", stageLog},
	{"internal/poll.", stageNet},
	{"syscall.", stageNet},
	{"net.(*", stageNet},
	{"runtime.netpoll", stageNet},
	{"runtime.schedule", stageSched},
	{"runtime.findRunnable", stageSched},
	{"runtime.park_m", stageSched},
	{"runtime.goexit0", stageSched},
}

const (
	stageGRPC       = "gRPC transport (grpc-go, http2 framing)"
	stageHTTP       = "HTTP server (net/http)"
	stageReceive    = "OTLP receiver (collector/otlp: body read, limits)"
	stageDecompress = "decompression (compress/*)"
	stageWalk       = "protobuf walk (otlpwire.Walk)"
	stageGroup      = "grouping by trace (consumeOTLP's map)"
	stageMapping    = "record mapping (spanRecord)"
	stageStore      = "store (correlate.Store.Add, merge)"
	stageBreakdown  = "breakdown (Store.Due/Group, correlate.Compute)"
	stageTouch      = "exporter hold (emitter.add/hold)"
	stageDue        = "exporter due/flush (emitter)"
	stageMetrics    = "metrics (observe, prometheus)"
	stageLog        = "logging (zap)"
	stageNet        = "network I/O and syscalls"
	stageSched      = "Go scheduler"
	stageGC         = "GC (background mark, assists, sweep)"
	stageOther      = "other runtime"
)

// stageOrder is the order stages are printed in: the path of a span.
var stageOrder = []string{stageGRPC, stageHTTP, stageReceive, stageDecompress, stageWalk, stageGroup, stageMapping,
	stageStore, stageBreakdown, stageTouch, stageDue, stageMetrics, stageLog, stageNet, stageSched, stageGC, stageOther}

var gcFrames = []string{"runtime.gcBgMarkWorker", "runtime.gcAssistAlloc", "runtime.bgsweep", "runtime.bgscavenge", "runtime.gcStart"}

// stageOf charges a stack (leaf first) to a stage.
func stageOf(stack []string) string {
	for _, fn := range stack {
		for _, g := range gcFrames {
			if strings.HasPrefix(fn, g) {
				return stageGC
			}
		}
	}
	for i, fn := range stack {
		for _, r := range stageRules {
			if !strings.Contains(fn, r.pattern) {
				continue
			}
			if r.stage == stageWalk {
				return walkOrMapping(stack[i:])
			}
			if r.stage != stageStore {
				return r.stage
			}
			// correlate's code: what did the caller ask of the store?
			for _, outer := range stack[i:] {
				if !strings.Contains(outer, "correlate.") {
					break
				}
				for _, b := range breakdownEntries {
					if strings.Contains(outer, b) {
						return stageBreakdown
					}
				}
			}
			return stageStore
		}
	}
	return stageOther
}

// walkOrMapping charges otlpwire's frames (stack[0] on) to the mapping
// when the code that called into otlpwire is the mapping's, else to the
// walk.
func walkOrMapping(stack []string) string {
	for _, fn := range stack {
		if strings.Contains(fn, "otlpwire.") {
			continue
		}
		for _, r := range stageRules {
			if r.stage == stageMapping && strings.Contains(fn, r.pattern) {
				return stageMapping
			}
		}
		break
	}
	return stageWalk
}

// breakdownEntries are correlate's entry points that compute a breakdown.
// The generic Store's methods show as correlate.(*Store[go.shape…]).Due;
// the plain names are those of profiles taken before it was generic.
var breakdownEntries = []string{"correlate.(*Store).Emit", "correlate.(*Store).Group", "correlate.(*Store).Breakdown",
	"].Due", "].compute", "].Group", "].View", "].Recent", "correlate.Compute"}

// stageShare is one stage's part of a profile.
type stageShare struct {
	Stage string  `json:"stage"`
	Value float64 `json:"value"` // seconds of CPU, or objects or bytes allocated
}

// profileStages is one profile of one run, by stage.
type profileStages struct {
	CPUSeconds  []stageShare `json:"cpu_seconds"`
	AllocObject []stageShare `json:"alloc_objects"`
	AllocBytes  []stageShare `json:"alloc_bytes"`
}

// groupTraces reads `go tool pprof -traces` output and adds each sample's
// value to its stage, in stageOrder.
func groupTraces(out string) []stageShare {
	sums := map[string]float64{}
	var value float64
	var stack []string
	flush := func() {
		if len(stack) > 0 {
			sums[stageOf(stack)] += value
		}
		value, stack = 0, nil
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "-----------+") {
			flush()
			continue
		}
		// A frame is the rest of the line (a generic function's name has
		// spaces), less the " (inline)" of an inlined call.
		line = strings.TrimSuffix(strings.TrimSpace(line), " (inline)")
		if line == "" {
			continue
		}
		if len(stack) > 0 {
			stack = append(stack, line)
			continue
		}
		// A sample's first line is its value and its leaf; label lines
		// ("bytes: 16B") and the header (File:, Type:, Build ID: …) are
		// not.
		first, rest, _ := strings.Cut(line, " ")
		if strings.HasSuffix(first, ":") {
			continue
		}
		if v, ok := parseValue(first); ok && strings.TrimSpace(rest) != "" {
			value, stack = v, []string{strings.TrimSpace(rest)}
		}
	}
	flush()
	var shares []stageShare
	for _, s := range stageOrder {
		if v, ok := sums[s]; ok {
			shares = append(shares, stageShare{s, v})
		}
	}
	return shares
}

// parseValue reads a pprof value: 10ms, 1.20s, 512kB, 1.50MB, 32768.
func parseValue(s string) (float64, bool) {
	units := []struct {
		suffix string
		mult   float64
	}{{"ns", 1e-9}, {"us", 1e-6}, {"µs", 1e-6}, {"ms", 1e-3}, {"s", 1}, {"kB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1}}
	for _, u := range units {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseFloat(n, 64)
			return v * u.mult, err == nil
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	return v, err == nil
}

// stagesOf groups the run's profiles (prefix.cpu.pprof, prefix.allocs.pprof)
// by stage with `go tool pprof -traces`.
func stagesOf(ctx context.Context, cpuProf, allocsProf string) (*profileStages, error) {
	traces := func(args ...string) ([]stageShare, error) {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, "go", append([]string{"tool", "pprof", "-traces"}, args...)...).Output()
		if err != nil {
			return nil, fmt.Errorf("go tool pprof -traces %s: %w", strings.Join(args, " "), err)
		}
		return groupTraces(string(out)), nil
	}
	var ps profileStages
	var err error
	if ps.CPUSeconds, err = traces(cpuProf); err != nil {
		return nil, err
	}
	if ps.AllocObject, err = traces("-sample_index=alloc_objects", allocsProf); err != nil {
		return nil, err
	}
	if ps.AllocBytes, err = traces("-sample_index=alloc_space", allocsProf); err != nil {
		return nil, err
	}
	return &ps, nil
}

// stageTable merges runs' stages into rows: stage, CPU seconds, objects
// and bytes allocated, in stageOrder.
type stageRow struct {
	Stage                      string
	CPU, AllocObjs, AllocBytes float64
}

func mergeStages(runs []*profileStages) (rows []stageRow, cpu, objs, bytes float64) {
	byStage := map[string]*stageRow{}
	row := func(s string) *stageRow {
		if byStage[s] == nil {
			byStage[s] = &stageRow{Stage: s}
		}
		return byStage[s]
	}
	for _, r := range runs {
		for _, s := range r.CPUSeconds {
			row(s.Stage).CPU += s.Value
			cpu += s.Value
		}
		for _, s := range r.AllocObject {
			row(s.Stage).AllocObjs += s.Value
			objs += s.Value
		}
		for _, s := range r.AllocBytes {
			row(s.Stage).AllocBytes += s.Value
			bytes += s.Value
		}
	}
	for _, s := range stageOrder {
		if r := byStage[s]; r != nil {
			rows = append(rows, *r)
		}
	}
	slices.SortStableFunc(rows, func(a, b stageRow) int {
		switch {
		case a.CPU > b.CPU:
			return -1
		case a.CPU < b.CPU:
			return 1
		}
		return 0
	})
	return rows, cpu, objs, bytes
}
