package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/hopscope/hopscope/internal/cliconfig"
	"github.com/hopscope/hopscope/sidecar"
)

// runSidecar loads the sidecar's configuration, runs it until ctx ends
// (SIGTERM, Ctrl-C), then drains.
func runSidecar(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := sidecar.DefaultConfig()
	fs := flag.NewFlagSet("hopscope sidecar", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var configFile string
	fs.StringVar(&configFile, cliconfig.ConfigFlag, "", "YAML file with any of these flags as keys")
	cfg.RegisterFlags(fs)
	if err := cliconfig.Load(fs, args, cliconfig.Options{}); err != nil {
		if err == flag.ErrHelp {
			return err
		}
		return usageError{err}
	}
	if err := cfg.Validate(); err != nil {
		return usageError{err}
	}

	logger := newDiagnosticLogger(stderr).With(zap.String("component", "sidecar"))
	defer func() { _ = logger.Sync() }()
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(cfg.GCPercent)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
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
	if err := sc.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	logger.Info("stopped")
	return nil
}

// newDiagnosticLogger writes the process's own logs (not access logs) as
// JSON to stderr.
func newDiagnosticLogger(w io.Writer) *zap.Logger {
	enc := zap.NewProductionEncoderConfig()
	enc.TimeKey = "time"
	enc.EncodeTime = zapcore.RFC3339NanoTimeEncoder
	core := zapcore.NewCore(zapcore.NewJSONEncoder(enc), zapcore.AddSync(w), zap.InfoLevel)
	return zap.New(core)
}
