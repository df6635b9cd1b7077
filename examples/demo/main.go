// Command demo is `hopscope demo`: the whole request path on loopback — an
// edge proxy logging like ingress-nginx, the hopscope sidecar, the shop
// example app with stand-ins for (or, with --real, the real) PostgreSQL,
// Redis and nginx, and the collector with its UI — under a steady load,
// with a live per-hop latency table.
//
// It is its own program so that the test and demo infrastructure it needs
// (examples/shop, internal/fixture, internal/realcomp) stays out of the
// product binary: `go run ./cmd/hopscope demo` builds and runs it from the
// source tree (cmd/hopscope/demo.go); `go run ./examples/demo` is the same.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// run runs the demo until ctx ends, SIGTERM or Ctrl-C, or --duration, and
// returns the process exit code: 0 on success, 2 on a usage error, 1 on a
// runtime failure.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt)
	defer stop()
	err := runDemo(ctx, args, stdout, stderr)
	var ue usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "hopscope demo: %v\n", ue.err)
		return 2
	default:
		fmt.Fprintf(stderr, "hopscope demo: %v\n", err)
		return 1
	}
}

// usageError marks a bad flag, variable or config key: exit code 2.
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }
