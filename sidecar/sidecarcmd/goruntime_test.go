package sidecarcmd

import (
	"math"
	"runtime/debug"
	"testing"

	"github.com/hopscope/hopscope/sidecar"
)

// TestApplyGoRuntime: --memory-limit holds the Go runtime to the
// container's limit less 40 MiB, unless GOMEMLIMIT is set or the flag is 0;
// --gc-percent applies unless GOGC is set (77 stands for what the runtime
// had before: the default --gc-percent is Go's own 100).
func TestApplyGoRuntime(t *testing.T) {
	const before = 77
	prevGC := debug.SetGCPercent(before)
	prevLimit := debug.SetMemoryLimit(math.MaxInt64)
	t.Cleanup(func() {
		debug.SetGCPercent(prevGC)
		debug.SetMemoryLimit(prevLimit)
	})
	const mi = 1 << 20
	tests := []struct {
		name      string
		limit     int64
		env       map[string]string
		wantLimit int64 // the runtime's limit afterwards
		gc        int   // --gc-percent; 0: the default
		wantGC    int
	}{
		{name: "chart default 128Mi", limit: 128 * mi, wantLimit: 88 * mi, wantGC: 100},
		{name: "no limit", limit: 0, wantLimit: math.MaxInt64, wantGC: 100},
		{name: "GOMEMLIMIT wins", limit: 128 * mi, env: map[string]string{"GOMEMLIMIT": "100MiB"}, wantLimit: math.MaxInt64, wantGC: 100},
		{name: "GOGC wins", limit: 256 * mi, env: map[string]string{"GOGC": "400"}, wantLimit: 216 * mi, wantGC: before},
		{name: "--gc-percent", limit: 0, gc: 400, wantLimit: math.MaxInt64, wantGC: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			debug.SetGCPercent(before)
			debug.SetMemoryLimit(math.MaxInt64)
			cfg := sidecar.DefaultConfig()
			cfg.MemoryLimit = tt.limit
			if tt.gc != 0 {
				cfg.GCPercent = tt.gc
			}
			lookup := func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok }
			set := applyGoRuntime(&cfg, lookup)
			if got := debug.SetMemoryLimit(-1); got != tt.wantLimit {
				t.Errorf("memory limit %d, want %d", got, tt.wantLimit)
			}
			if tt.wantLimit != math.MaxInt64 && set != tt.wantLimit {
				t.Errorf("applyGoRuntime returned %d, want %d", set, tt.wantLimit)
			}
			if got := debug.SetGCPercent(before); got != tt.wantGC {
				t.Errorf("GC percent %d, want %d", got, tt.wantGC)
			}
		})
	}
}
