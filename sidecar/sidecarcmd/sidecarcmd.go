// Package sidecarcmd is the sidecar command — its flags, variables and
// YAML keys, its logging, its Go runtime settings and its drain — shared
// by `hopscope sidecar` (cmd/hopscope) and the slim `hopscope-sidecar`
// (cmd/hopscope-sidecar), so that both take the same flags and behave the
// same.
package sidecarcmd

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/hopscope/hopscope/internal/cli"
	"github.com/hopscope/hopscope/sidecar"
)

// Run loads the sidecar's configuration, runs it until ctx ends
// (SIGTERM, Ctrl-C), then drains: requests still running when
// --drain-timeout ends are cut (a Warn line says how many) and the exit is
// still 0 once spans and logs are flushed. A signal on again during the
// drain stops at once, unflushed, with an error (exit 1).
// name is the command as typed ("hopscope sidecar", "hopscope-sidecar"),
// for --help. Errors are for cli.ExitStatus: a bad flag, variable or key
// is a cli.UsageError.
func Run(ctx context.Context, again <-chan os.Signal, name string, args []string, stdout, stderr io.Writer) error {
	cfg := sidecar.DefaultConfig()
	level := zapcore.InfoLevel
	if err := cli.LoadConfig(name, &cfg, args, stderr, cli.LogLevelFlag(&level)); err != nil {
		return err
	}

	logger := cli.NewDiagnosticLogger(stderr, level).With(zap.String("component", "sidecar"))
	defer func() { _ = logger.Sync() }()
	// Libraries may print to os.Stderr themselves.
	defer cli.CaptureStderr(logger)()
	if limit := applyGoRuntime(&cfg, os.LookupEnv); limit > 0 {
		logger.Debug("Go memory limit set", zap.Int64("memory_limit", cfg.MemoryLimit), zap.Int64("go_memory_limit", limit))
	}
	reg := cli.ProcessRegistry()
	sc, err := sidecar.New(cfg, sidecar.Options{Registerer: reg, Gatherer: reg, AccessLogWriter: stdout, Logger: logger})
	if err != nil {
		return err
	}
	if err := sc.Start(ctx); err != nil {
		return err
	}
	if cfg.ReleaseStartupPages {
		if n, err := releaseStartupPages(); err != nil {
			logger.Debug("start-up pages kept", zap.Error(err))
		} else {
			logger.Debug("start-up pages released", zap.Int64("advised_bytes", n))
		}
	}
	select {
	case <-ctx.Done():
	case err := <-sc.Err():
		_ = sc.Shutdown(context.Background())
		return err
	}
	// Drain within the pod's grace period: grace + drain + flush.
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownGrace+cfg.DrainTimeout+10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- sc.Shutdown(sctx) }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("shutdown: %w", err)
		}
	case sig := <-again:
		logger.Warn("second signal during the drain: stopping at once", zap.String("signal", sig.String()))
		_ = sc.Close()
		return fmt.Errorf("%v during the drain: stopped at once, without waiting for in-flight requests or flushing spans and logs", sig)
	}
	logger.Info("stopped")
	return nil
}

// applyGoRuntime sets the garbage collector's target to --gc-percent unless
// GOGC is set, and the runtime's soft memory limit to --memory-limit less
// sidecar.MemoryLimitReserve unless GOMEMLIMIT is set or the flag is 0. It
// returns the memory limit it set, 0 if none.
func applyGoRuntime(cfg *sidecar.Config, lookup func(string) (string, bool)) int64 {
	if _, set := lookup("GOGC"); !set {
		debug.SetGCPercent(cfg.GCPercent)
	}
	if _, set := lookup("GOMEMLIMIT"); set || cfg.MemoryLimit <= 0 {
		return 0
	}
	limit := cfg.GoMemoryLimit()
	debug.SetMemoryLimit(limit)
	return limit
}
