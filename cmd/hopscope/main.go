// Command hopscope is the one binary of hopscope: the per-pod sidecar proxy,
// the collector, the admission webhook that injects the sidecar, the
// terminal breakdown viewer, the installation self-test, and a launcher
// for the demo (examples/demo, its own program).
// This file only wires configuration, signals and exit codes.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/hopscope/hopscope/internal/version"
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
		sig := notifySignals(ctx)
		defer sig.stop()
		err = runSidecar(sig.ctx, sig.again, args[1:], stdout, stderr)
	case "collector":
		sig := notifySignals(ctx)
		defer sig.stop()
		err = runCollector(sig.ctx, sig.again, args[1:], stderr)
	case "injector":
		sig := notifySignals(ctx)
		defer sig.stop()
		err = runInjector(sig.ctx, sig.again, args[1:], stderr)
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
	var ue usageError
	var ec exitCode
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "hopscope %s: %v\n", args[0], ue.err)
		return 2
	case errors.As(err, &ec):
		return int(ec)
	default:
		fmt.Fprintf(stderr, "hopscope %s: %v\n", args[0], err)
		return 1
	}
}

// usageError marks a bad flag, variable or config key: exit code 2.
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

// signals is signal.NotifyContext that keeps listening: the first SIGTERM
// or Ctrl-C ends ctx (the drain starts), every later one is sent on again
// (a second signal stops at once instead of being swallowed).
type signals struct {
	ctx   context.Context
	again <-chan os.Signal
	stop  func()
}

func notifySignals(parent context.Context) signals {
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, syscall.SIGTERM, os.Interrupt)
	ctx, cancel := context.WithCancel(parent)
	again := make(chan os.Signal, 1)
	done := make(chan struct{})
	go func() {
		select {
		case <-ch:
			cancel()
		case <-done:
			return
		}
		for {
			select {
			case s := <-ch:
				select {
				case again <- s:
				default: // one is enough
				}
			case <-done:
				return
			}
		}
	}()
	var once sync.Once
	return signals{ctx: ctx, again: again, stop: func() {
		once.Do(func() {
			signal.Stop(ch)
			close(done)
			cancel()
		})
	}}
}
