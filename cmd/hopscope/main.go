// Command hopscope is the one binary of hopscope: the per-pod sidecar proxy,
// the collector, the admission webhook that injects the sidecar, the
// terminal breakdown viewer, the installation self-test, and a launcher
// for the demo (examples/demo, its own program).
// This file only wires configuration, signals and exit codes.
package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/hopscope/hopscope/internal/cli"
	"github.com/hopscope/hopscope/internal/version"
	"github.com/hopscope/hopscope/sidecar/sidecarcmd"
)

const usage = `hopscope — per-hop latency for Kubernetes requests, without eBPF.

Usage:
  hopscope sidecar [flags]   run the per-pod proxy (hopscope sidecar --help)
  hopscope collector [flags] join spans, logs and beacons into per-hop breakdowns
  hopscope injector [flags]  the admission webhook adding the sidecar to pods
  hopscope selftest [flags]  check a running installation (the chart's helm test)
  hopscope breakdown --collector URL TRACE_ID
                             print one request's waterfall
  hopscope demo [flags]      app + sidecar on loopback with a live timing table
                             (builds examples/demo; needs the source tree and Go)
  hopscope version           print the version

Every flag can also be set as HOPSCOPE_<FLAG> (dashes as underscores) or as a
key of the YAML file given with --config; flags win over env, env over file.
`

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// run executes one subcommand and returns the process exit code: 0 on
// success, 2 on a usage or configuration error, 1 on a runtime failure.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "sidecar":
		sig := cli.NotifySignals(ctx)
		defer sig.Stop()
		err = sidecarcmd.Run(sig.Ctx, sig.Again, "hopscope sidecar", args[1:], stdout, stderr)
	case "collector":
		sig := cli.NotifySignals(ctx)
		defer sig.Stop()
		err = runCollector(sig.Ctx, sig.Again, args[1:], stderr)
	case "injector":
		sig := cli.NotifySignals(ctx)
		defer sig.Stop()
		err = runInjector(sig.Ctx, sig.Again, args[1:], stderr)
	case "selftest":
		err = runSelftest(ctx, args[1:], stdout, stderr)
	case "breakdown":
		err = runBreakdown(ctx, args[1:], stdout, stderr)
	case "demo":
		err = runDemo(ctx, args[1:], stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "hopscope", version.String())
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "hopscope: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	return cli.ExitStatus("hopscope "+args[0], err, stderr)
}
