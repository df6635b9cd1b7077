// Command hopscope-sidecar is the per-pod sidecar proxy alone: the same
// flags, variables, YAML keys, logs and exit codes as `hopscope sidecar`
// (both run sidecar/sidecarcmd), in a binary that links no Kubernetes
// client, no collector, no demo or example app and no test
// infrastructure (TestSidecarBinaryDeps checks), so that the process
// every pod pays for is small. The chart's sidecar template and the image
// run it; `hopscope sidecar` stays for running everything from one binary.
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

// name is how the command names itself in --help and error messages.
const name = "hopscope-sidecar"

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// run runs the sidecar with args (flags only, no subcommand) and returns
// the process exit code: 0 on success, 2 on a usage or configuration
// error, 1 on a runtime failure.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 1 && (args[0] == "version" || args[0] == "--version") {
		fmt.Fprintln(stdout, name, version.String())
		return 0
	}
	sig := cli.NotifySignals(ctx)
	defer sig.Stop()
	return cli.ExitStatus(name, sidecarcmd.Run(sig.Ctx, sig.Again, name, args, stdout, stderr), stderr)
}
