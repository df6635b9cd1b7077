package cli

import (
	"context"
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
)

// TestStopGracefully: the shutdown limit and a second signal hold even for
// a component that ignores its context (issue 19, item 4: the collector
// was alive 100 s after SIGTERM and 25 s after the second one).
func TestStopGracefully(t *testing.T) {
	defer func(w time.Duration) { StopWait = w }(StopWait)
	StopWait = 100 * time.Millisecond
	block := make(chan struct{})
	defer close(block)
	for _, tc := range []struct {
		name    string
		stop    func(context.Context) error
		signal  bool
		wantErr string // "" = nil
		maxTook time.Duration
	}{
		{"finishes", func(context.Context) error { return nil }, false, "", time.Second},
		{"fails", func(context.Context) error { return errors.New("boom") }, false, "shutdown: boom", time.Second},
		{"honours its limit", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }, false, "deadline exceeded", time.Second},
		{"ignores its limit", func(context.Context) error { <-block; return nil }, false, "not finished", time.Second},
		{"second signal", func(ctx context.Context) error { <-ctx.Done(); return nil }, true, "stopped at once", time.Second},
		{"second signal, ignored", func(context.Context) error { <-block; return nil }, true, "stopped at once", time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			again := make(chan os.Signal, 1)
			d := 300 * time.Millisecond
			if tc.signal {
				d = time.Hour
				time.AfterFunc(50*time.Millisecond, func() { again <- syscall.SIGTERM })
			}
			start := time.Now()
			err := StopGracefully(zap.NewNop(), again, d, tc.stop)
			took := time.Since(start)
			if (tc.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("error %v, want %q", err, tc.wantErr)
			}
			if took > tc.maxTook {
				t.Errorf("took %v", took)
			}
		})
	}
}
