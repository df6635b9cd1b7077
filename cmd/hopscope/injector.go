package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"go.uber.org/zap"

	"github.com/hopscope/hopscope/injector"
)

// runInjector runs the admission webhook until ctx ends, then drains.
func runInjector(ctx context.Context, args []string, stderr io.Writer) error {
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
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownGrace+10*time.Second)
	defer cancel()
	if err := inj.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	logger.Info("stopped")
	return nil
}
