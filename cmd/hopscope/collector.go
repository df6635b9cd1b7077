package main

import (
	"context"
	"io"
	"os"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/hopscope/hopscope/collector"
)

// runCollector loads the collector's configuration and runs it until ctx
// ends, then flushes; a signal on again stops the flush.
func runCollector(ctx context.Context, again <-chan os.Signal, args []string, stderr io.Writer) error {
	cfg := collector.DefaultConfig()
	level := zapcore.InfoLevel
	if err := loadConfig("collector", &cfg, args, stderr, logLevelFlag(&level)); err != nil {
		return err
	}
	logger := newDiagnosticLogger(stderr, level).With(zap.String("component", "collector"))
	defer func() { _ = logger.Sync() }()
	reg := processRegistry()
	c, err := collector.New(cfg, collector.Options{Registerer: reg, Gatherer: reg, Logger: logger})
	if err != nil {
		return err
	}
	if err := c.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	if err := stopGracefully(logger, again, 20*time.Second, c.Shutdown); err != nil {
		return err
	}
	logger.Info("stopped")
	return nil
}
