package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"go.uber.org/zap"
)

// stopWait is how long stopGracefully still waits for a component once
// its context has ended (its limit passed, or a second signal), for it to
// give up what it was doing and return; then it is left behind.
var stopWait = 2 * time.Second

// stopGracefully runs stop (a component's Shutdown) with at most d, or
// until a second signal arrives on again: then stop's context ends at once
// (the component gives up what it was still flushing) and the result is an
// error saying so, for exit code 1. A component that does not return
// within stopWait of its context's end is not waited for either: the
// limit holds whatever the component does.
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
		select {
		case <-done:
		case <-time.After(stopWait):
		}
		return fmt.Errorf("%v during shutdown: stopped at once, without finishing what was being flushed", sig)
	case <-ctx.Done():
	}
	// The limit has passed: the component was told (its context ended).
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("shutdown: %w", err)
		}
		return nil
	case sig := <-again:
		return fmt.Errorf("%v during shutdown, past its limit of %v: stopped at once", sig, d)
	case <-time.After(stopWait):
		return fmt.Errorf("shutdown: not finished %v after its limit of %v: stopped", stopWait, d)
	}
}
