package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"go.uber.org/zap"
)

// stopGracefully runs stop (a component's Shutdown) with at most d, or
// until a second signal arrives on again: then stop's context ends at once
// (the component gives up what it was still flushing) and the result is an
// error saying so, for exit code 1.
func stopGracefully(logger *zap.Logger, again <-chan os.Signal, d time.Duration, stop func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- stop(ctx) }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("shutdown: %w", err)
		}
		return nil
	case sig := <-again:
		logger.Warn("second signal during shutdown: stopping at once", zap.String("signal", sig.String()))
		cancel()
		<-done
		return fmt.Errorf("%v during shutdown: stopped at once, without finishing what was being flushed", sig)
	}
}
