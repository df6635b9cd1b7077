package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/hopscope/hopscope/collector"
)

// runCollector loads the collector's configuration and runs it until ctx
// ends, then flushes.
func runCollector(ctx context.Context, args []string, stderr io.Writer) error {
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
	sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	logger.Info("stopped")
	return nil
}
