package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// StopWait is how long StopGracefully still waits for a component once
// its context has ended (its limit passed, or a second signal), for it to
// give up what it was doing and return; then it is left behind.
var StopWait = 2 * time.Second

// StopGracefully runs stop (a component's Shutdown) with at most d, or
// until a second signal arrives on again: then stop's context ends at once
// (the component gives up what it was still flushing) and the result is an
// error saying so, for exit code 1. A component that does not return
// within StopWait of its context's end is not waited for either: the
// limit holds whatever the component does.
func StopGracefully(logger *zap.Logger, again <-chan os.Signal, d time.Duration, stop func(context.Context) error) error {
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
		case <-time.After(StopWait):
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
	case <-time.After(StopWait):
		return fmt.Errorf("shutdown: not finished %v after its limit of %v: stopped", StopWait, d)
	}
}

// Signals is signal.NotifyContext that keeps listening: the first SIGTERM
// or Ctrl-C ends Ctx (the drain starts), every later one is sent on Again
// (a second signal stops at once instead of being swallowed).
type Signals struct {
	// Ctx ends at the first signal.
	Ctx context.Context
	// Again delivers the signals after the first.
	Again <-chan os.Signal
	// Stop stops listening and ends Ctx; it may be called more than once.
	Stop func()
}

// NotifySignals listens for SIGTERM and Ctrl-C until Stop is called.
func NotifySignals(parent context.Context) Signals {
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, syscall.SIGTERM, os.Interrupt)
	ctx, cancel := context.WithCancel(parent)
	again := make(chan os.Signal, 1)
	done := make(chan struct{})
	go func() {
		select {
		case <-ch:
			cancel()
		case <-done:
			return
		}
		for {
			select {
			case s := <-ch:
				select {
				case again <- s:
				default: // one is enough
				}
			case <-done:
				return
			}
		}
	}()
	var once sync.Once
	return Signals{Ctx: ctx, Again: again, Stop: func() {
		once.Do(func() {
			signal.Stop(ch)
			close(done)
			cancel()
		})
	}}
}
