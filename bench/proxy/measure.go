package main

import (
	"context"
	"fmt"
	"os"

	"github.com/hopscope/hopscope/bench/internal/harness"
)

// waitQuiet waits up to --wait-quiet for both benchmark CPUs to be idle;
// on busy CPUs it warns and lets the run go on (its "other" says how busy).
func waitQuiet(ctx context.Context, o options) error {
	if o.waitQuiet <= 0 {
		return nil
	}
	if err := harness.WaitQuiet(ctx, []int{o.loadCPU, o.proxyCPU}, o.waitQuiet); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		fmt.Fprintf(os.Stderr, "warning: %v; measuring anyway\n", err)
	}
	return nil
}

// usage is what one measured run used, or the counters it is taken from.
type usage struct {
	proxyCPU, proxySys float64 // the proxy's CPU seconds, and their kernel part
	switches           int64   // the proxy's context switches
	upCPU, selfCPU     float64 // the upstream's and this program's CPU seconds
	busy               map[int]float64
}

// sample reads the counters; proxy is nil for direct.
func sample(proxy, upstream *harness.Proc) usage {
	u := usage{upCPU: harness.TreeCPU(upstream.PID()), selfCPU: harness.SelfCPU(), busy: harness.CPUBusy()}
	if proxy != nil {
		u.proxyCPU, u.proxySys, u.switches = harness.TreeCPU(proxy.PID()), harness.TreeSysCPU(proxy.PID()), harness.TreeSwitches(proxy.PID())
	}
	return u
}

// since is what was used from before to the counters' present values.
func since(before usage, proxy, upstream *harness.Proc) usage {
	now := sample(proxy, upstream)
	d := usage{proxyCPU: now.proxyCPU - before.proxyCPU, proxySys: now.proxySys - before.proxySys,
		switches: now.switches - before.switches, upCPU: now.upCPU - before.upCPU, selfCPU: now.selfCPU - before.selfCPU,
		busy: map[int]float64{}}
	for cpu, b := range now.busy {
		d.busy[cpu] = b - before.busy[cpu]
	}
	return d
}

// otherPct is the busier benchmark CPU's share of wall spent on anything
// but the benchmark: the load CPU less loadCPU (what the load side used
// there), the proxy's CPU less the proxy (none for direct).
func (d usage) otherPct(o options, loadCPU, wall float64, proxy bool) float64 {
	other := d.busy[o.loadCPU] - loadCPU
	if proxy {
		other = max(other, d.busy[o.proxyCPU]-d.proxyCPU)
	}
	return max(0, 100*other/wall)
}
