package main

import (
	"context"
	"io"
	"os"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/hopscope/hopscope/collector"
	"github.com/hopscope/hopscope/internal/cli"
)

// runCollector loads the collector's configuration and runs it until ctx
// ends, then flushes; a signal on again stops the flush.
func runCollector(ctx context.Context, again <-chan os.Signal, args []string, stderr io.Writer) error {
	cfg := collector.DefaultConfig()
	level := zapcore.InfoLevel
	if err := cli.LoadConfig("hopscope collector", &cfg, args, stderr, cli.LogLevelFlag(&level)); err != nil {
		return err
	}
	logger := cli.NewDiagnosticLogger(stderr, level).With(zap.String("component", "collector"))
	defer func() { _ = logger.Sync() }()
	reg := cli.ProcessRegistry()
	c, err := collector.New(cfg, collector.Options{Registerer: reg, Gatherer: reg, Logger: logger})
	if err != nil {
		return err
	}
	if err := c.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	if err := cli.StopGracefully(logger, again, 20*time.Second, c.Shutdown); err != nil {
		return err
	}
	logger.Info("stopped")
	return nil
}
