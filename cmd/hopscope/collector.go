package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"

	"github.com/hopscope/hopscope/collector"
	"github.com/hopscope/hopscope/internal/cliconfig"
)

// runCollector loads the collector's configuration and runs it until ctx
// ends, then flushes.
func runCollector(ctx context.Context, args []string, stderr io.Writer) error {
	cfg := collector.DefaultConfig()
	fs := flag.NewFlagSet("hopscope collector", flag.ContinueOnError)
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
	logger := newDiagnosticLogger(stderr).With(zap.String("component", "collector"))
	defer func() { _ = logger.Sync() }()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	c, err := collector.New(cfg, collector.Options{Registerer: reg, Gatherer: reg, Logger: logger})
	if err != nil {
		return err
	}
	if err := c.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	logger.Info("stopped")
	return nil
}
