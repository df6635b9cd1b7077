package main

import (
	"context"
	"io"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/hopscope/hopscope/injector"
	"github.com/hopscope/hopscope/internal/cli"
)

// runInjector runs the admission webhook until ctx ends, then drains; a
// signal on again stops the drain.
func runInjector(ctx context.Context, again <-chan os.Signal, args []string, stderr io.Writer) error {
	cfg := injector.DefaultConfig()
	if err := cli.LoadConfig("hopscope injector", &cfg, args, stderr); err != nil {
		return err
	}
	logger := cli.NewDiagnosticLogger(stderr, zap.InfoLevel).With(zap.String("component", "injector"))
	defer func() { _ = logger.Sync() }()
	reg := cli.ProcessRegistry()
	inj, err := injector.New(cfg, injector.Options{Registerer: reg, Gatherer: reg, Logger: logger})
	if err != nil {
		return cli.UsageError{Err: err}
	}
	if err := inj.Start(ctx); err != nil {
		return err
	}
	logger.Info("serving", zap.Stringer("addr", inj.Addr()))
	<-ctx.Done()
	if err := cli.StopGracefully(logger, again, cfg.ShutdownGrace+10*time.Second, inj.Shutdown); err != nil {
		return err
	}
	logger.Info("stopped")
	return nil
}
