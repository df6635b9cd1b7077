package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/hopscope/hopscope/sidecar"
)

// runSidecar loads the sidecar's configuration, runs it until ctx ends
// (SIGTERM, Ctrl-C), then drains: requests still running when
// --drain-timeout ends are cut (a Warn line says how many) and the exit is
// still 0 once spans and logs are flushed. A signal on again during the
// drain stops at once, unflushed, with an error (exit 1).
func runSidecar(ctx context.Context, again <-chan os.Signal, args []string, stdout, stderr io.Writer) error {
	cfg := sidecar.DefaultConfig()
	level := zapcore.InfoLevel
	if err := loadConfig("sidecar", &cfg, args, stderr, logLevelFlag(&level)); err != nil {
		return err
	}

	logger := newDiagnosticLogger(stderr, level).With(zap.String("component", "sidecar"))
	defer func() { _ = logger.Sync() }()
	// The Fluent client prints its reconnections to os.Stderr itself.
	defer captureStderr(logger)()
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(cfg.GCPercent)
	}
	reg := processRegistry()
	sc, err := sidecar.New(cfg, sidecar.Options{Registerer: reg, Gatherer: reg, AccessLogWriter: stdout, Logger: logger})
	if err != nil {
		return err
	}
	if err := sc.Start(ctx); err != nil {
		return err
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

// newDiagnosticLogger writes the process's own logs (not access logs) as
// JSON to stderr, from level up (--log-level).
func newDiagnosticLogger(w io.Writer, level zapcore.Level) *zap.Logger {
	enc := zap.NewProductionEncoderConfig()
	enc.TimeKey = "time"
	enc.EncodeTime = zapcore.RFC3339NanoTimeEncoder
	core := zapcore.NewCore(zapcore.NewJSONEncoder(enc), zapcore.AddSync(w), level)
	return zap.New(core)
}
