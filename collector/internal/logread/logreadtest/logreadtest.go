// Package logreadtest holds the lifecycle tests that the collector's
// log-file readers (collector/tail and collector/albdir) share: both are
// built on logread.Loop and promise the same Start and Shutdown
// behaviour. Only _test.go files import it.
package logreadtest

import (
	"context"
	"errors"
	"testing"
	"time"
)

// waitTimeout bounds every wait.
const waitTimeout = 5 * time.Second

// Reader is a log-file reader's lifecycle.
type Reader interface {
	Start(ctx context.Context) error
	Shutdown(ctx context.Context) error
}

// ShutdownIsPrompt starts r, a new reader whose poll interval is long,
// and checks that Start works once, that Shutdown returns at once and may
// be called again, and that r cannot be started after Shutdown.
func ShutdownIsPrompt(t *testing.T, r Reader) {
	t.Helper()
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err == nil {
		t.Fatal("second Start succeeded")
	}
	time.Sleep(10 * time.Millisecond) // let the first poll pass
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	begin := time.Now()
	if err := r.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(begin); d > 500*time.Millisecond {
		t.Fatalf("Shutdown took %v", d)
	}
	if err := r.Shutdown(ctx); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	if err := r.Start(context.Background()); err == nil {
		t.Fatal("Start after Shutdown succeeded")
	}
}

// ShutdownWhileCallbackBlocks checks that Shutdown, called while the
// callback is blocked, returns its context's error, and returns nil once
// the callback returned. newReader must return a reader, not started,
// that calls emit with exactly one line soon after Start.
func ShutdownWhileCallbackBlocks[L any](t *testing.T, newReader func(emit func(L)) (Reader, error)) {
	t.Helper()
	release, entered := make(chan struct{}), make(chan struct{}, 1)
	r, err := newReader(func(L) {
		entered <- struct{}{}
		<-release
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-entered:
	case <-time.After(waitTimeout):
		t.Fatal("callback not called")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := r.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want deadline exceeded", err)
	}
	close(release)
	if err := r.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}
