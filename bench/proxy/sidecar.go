package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hopscope/hopscope/bench/internal/harness"
)

// sidecarSetup is how every hopscope sidecar of a run starts: the binary
// (the slim hopscope-sidecar the chart injects, or `hopscope sidecar`), its
// CPU, its upstream and sinks, the extra flags.
type sidecarSetup struct {
	bin      string
	sub      []string // "sidecar" for the all-in-one binary, none for hopscope-sidecar
	taskset  string
	cpu      int
	upstream string // http://127.0.0.1:PORT
	otlp     string // host:port of the OTLP sink
	fluent   string // host:port of the forward sink; "" = not shipped
	extra    []string
}

// sidecarSubcommand says how bin runs the sidecar from its `version`
// line: `hopscope-sidecar …` takes the flags alone, `hopscope …` the
// subcommand `sidecar` first.
func sidecarSubcommand(versionLine string) []string {
	if strings.HasPrefix(versionLine, "hopscope-sidecar") {
		return nil
	}
	return []string{"sidecar"}
}

// runningSidecar is one started sidecar.
type runningSidecar struct {
	proc      *harness.Proc
	url       string // http://127.0.0.1:PORT/
	admin     string // http://127.0.0.1:PORT
	accessLog string // its stdout
}

// start starts one sidecar pinned to its CPU with nothing but its flags
// configuring it (GOMAXPROCS=1), its files under dir, and waits until it
// answers through to the upstream.
func (s sidecarSetup) start(ctx context.Context, sess *harness.Session, name, dir string, ready func(string) harness.Ready) (*runningSidecar, error) {
	ports, err := harness.FreePorts(2)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	r := &runningSidecar{
		url:       fmt.Sprintf("http://127.0.0.1:%d/", ports[0]),
		admin:     fmt.Sprintf("http://127.0.0.1:%d", ports[1]),
		accessLog: filepath.Join(dir, "access.log"),
	}
	argv := append([]string{s.bin}, s.sub...)
	argv = append(argv,
		"--listen", fmt.Sprintf("127.0.0.1:%d", ports[0]),
		"--upstream", s.upstream,
		"--admin-listen", fmt.Sprintf("127.0.0.1:%d", ports[1]),
		"--otlp-endpoint", "http://"+s.otlp,
		"--access-log", "stdout",
	)
	if s.fluent != "" {
		// Direct shipping: fluent-logger-golang writes every record
		// with its own write(2), which costs ~12% of the core.
		argv = append(argv, "--fluent-address", s.fluent)
	}
	argv = append(argv, s.extra...)
	if r.proc, err = sess.Start(ctx, name, harness.CleanEnv("GOMAXPROCS=1"), r.accessLog, filepath.Join(dir, "stderr.log"),
		harness.Pinned(s.taskset, s.cpu, argv...)...); err != nil {
		return nil, err
	}
	if err := harness.WaitReady(ctx, r.proc, ready(r.url)); err != nil {
		return nil, err
	}
	return r, nil
}
