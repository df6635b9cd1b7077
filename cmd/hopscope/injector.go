package main

import (
	"context"
	"io"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/hopscope/hopscope/injector"
)

// runInjector runs the admission webhook until ctx ends, then drains; a
// signal on again stops the drain.
func runInjector(ctx context.Context, again <-chan os.Signal, args []string, stderr io.Writer) error {
	cfg := injector.DefaultConfig()
	if err := loadConfig("injector", &cfg, args, stderr); err != nil {
		return err
	}
	logger := newDiagnosticLogger(stderr, zap.InfoLevel).With(zap.String("component", "injector"))
	defer func() { _ = logger.Sync() }()
	reg := processRegistry()
	inj, err := injector.New(cfg, injector.Options{Registerer: reg, Gatherer: reg, Logger: logger})
	if err != nil {
		return usageError{err}
	}
	if err := inj.Start(ctx); err != nil {
		return err
	}
	logger.Info("serving", zap.Stringer("addr", inj.Addr()))
	<-ctx.Done()
	if err := stopGracefully(logger, again, cfg.ShutdownGrace+10*time.Second, inj.Shutdown); err != nil {
		return err
	}
	logger.Info("stopped")
	return nil
}
