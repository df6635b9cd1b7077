package logread

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hopscope/hopscope/internal/testkit"
)

func TestClaimOnce(t *testing.T) {
	l := NewLoop()
	bad := errors.New("bad state")
	if err := l.Claim(func() error { return bad }); err != bad {
		t.Fatalf("Claim with failing prepare = %v", err)
	}
	// Not started: Shutdown does not wait, and a later Claim may succeed.
	prepared := false
	if err := l.Claim(func() error { prepared = true; return nil }); err != nil || !prepared {
		t.Fatalf("Claim after a failed one = %v, prepared %v", err, prepared)
	}
	if err := l.Claim(nil); !errors.Is(err, ErrStarted) {
		t.Fatalf("second Claim = %v", err)
	}

	l = NewLoop()
	if err := l.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown before Claim = %v", err)
	}
	if err := l.Claim(func() error { t.Error("prepare called after Shutdown"); return nil }); !errors.Is(err, ErrStarted) {
		t.Fatalf("Claim after Shutdown = %v", err)
	}
}

func TestGoPollsAndFinishes(t *testing.T) {
	l := NewLoop()
	if err := l.Claim(nil); err != nil {
		t.Fatal(err)
	}
	var polls, finishes, pollsAtFinish atomic.Int32
	l.Go(time.Millisecond, func() { polls.Add(1) }, func() {
		pollsAtFinish.Store(polls.Load())
		finishes.Add(1)
	})
	testkit.Eventually(t, "3 polls", 5*time.Second, func() bool { return polls.Load() >= 3 })
	if l.Stopping() {
		t.Fatal("Stopping before Stop")
	}
	if err := l.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !l.Stopping() || finishes.Load() != 1 || pollsAtFinish.Load() != polls.Load() {
		t.Fatalf("after Shutdown: Stopping %v, %d finishes, %d polls at finish of %d",
			l.Stopping(), finishes.Load(), pollsAtFinish.Load(), polls.Load())
	}
	l.Stop()
	if err := l.Shutdown(context.Background()); err != nil {
		t.Fatalf("second Shutdown = %v", err)
	}
}

func TestFirstPollAtOnce(t *testing.T) {
	l := NewLoop()
	if err := l.Claim(nil); err != nil {
		t.Fatal(err)
	}
	polled := make(chan struct{}, 1)
	l.Go(time.Hour, func() { polled <- struct{}{} }, func() {})
	select {
	case <-polled:
	case <-time.After(5 * time.Second):
		t.Fatal("no poll at Go")
	}
	begin := time.Now()
	if err := l.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(begin); d > time.Second {
		t.Fatalf("Shutdown waited %v for the interval", d)
	}
}

func TestShutdownBoundedByContext(t *testing.T) {
	l := NewLoop()
	if err := l.Claim(nil); err != nil {
		t.Fatal(err)
	}
	entered, release := make(chan struct{}), make(chan struct{})
	l.Go(time.Hour, func() {
		close(entered)
		<-release
	}, func() {})
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := l.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v", err)
	}
	if !l.Stopping() {
		t.Fatal("not stopping after a Shutdown that timed out")
	}
	close(release)
	if err := l.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestLineBuf(t *testing.T) {
	b := LineBuf{Max: 5}

	// Nothing held: the piece itself, cut.
	last := []byte("abcdefgh")
	text, full := b.Line(last)
	if string(text) != "abcde" || full != 8 || &text[0] != &last[0] {
		t.Fatalf("Line without held = %q, %d (copied: %v)", text, full, &text[0] != &last[0])
	}
	text, full = b.Line([]byte("ab"))
	if string(text) != "ab" || full != 2 {
		t.Fatalf("short Line = %q, %d", text, full)
	}
	if b.Held() {
		t.Fatal("Held after Line without Hold")
	}

	// Pieces: the first Max bytes kept, all counted.
	b.Hold([]byte("ab"))
	b.Hold(nil)
	b.Hold([]byte("cd"))
	if !b.Held() {
		t.Fatal("not Held after Hold")
	}
	text, full = b.Line([]byte("efg"))
	if string(text) != "abcde" || full != 7 {
		t.Fatalf("Line after Hold = %q, %d", text, full)
	}
	b.Reset()
	if b.Held() {
		t.Fatal("Held after Reset")
	}

	// A line that ends without a last piece (flushed at rotation).
	b.Hold([]byte("xyz"))
	if text, full = b.Line(nil); string(text) != "xyz" || full != 3 {
		t.Fatalf("Line(nil) = %q, %d", text, full)
	}
	b.Reset()

	// An empty piece held is nothing held.
	b.Hold([]byte{})
	if b.Held() {
		t.Fatal("Held after holding an empty piece")
	}
}

func TestTooLong(t *testing.T) {
	b := LineBuf{Max: 10}
	if err := b.TooLong("a.log", 3, 10); err != nil {
		t.Fatalf("TooLong at Max = %v", err)
	}
	err := b.TooLong("a.log", 3, 11)
	if !errors.Is(err, ErrLineTooLong) || !strings.Contains(err.Error(), "a.log line 3: 11 bytes, delivered the first 10") {
		t.Fatalf("TooLong = %v", err)
	}
}

// TestWaitWhile: without a pause, or when it reports false, WaitWhile
// returns at once without calling onPause; while it reports true it waits
// (onPause called once) and returns true when it turns false, false when
// the loop stops first.
func TestWaitWhile(t *testing.T) {
	l := NewLoop()
	pauses := 0
	onPause := func() { pauses++ }
	if !l.WaitWhile(nil, onPause) || !l.WaitWhile(func() bool { return false }, onPause) || pauses != 0 {
		t.Fatalf("no pause: waited, %d onPause calls", pauses)
	}
	asked := 0
	if !l.WaitWhile(func() bool { asked++; return asked < 4 }, onPause) || pauses != 1 || asked != 4 {
		t.Fatalf("pause for 3 asks: %d onPause calls, asked %d times", pauses, asked)
	}
	done := make(chan bool)
	go func() { done <- l.WaitWhile(func() bool { return true }, nil) }()
	l.Stop()
	select {
	case ok := <-done:
		if ok {
			t.Error("stopped while paused: WaitWhile returned true")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Stop did not end the pause")
	}
}
