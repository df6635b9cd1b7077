package testkit

import (
	"testing"
	"time"
)

// Eventually polls cond until it holds, starting at a millisecond between
// polls and doubling up to 50 ms, and fails the test (Fatal) if it still
// does not hold after timeout, naming what it waited for, how long, and
// what each detail function returns (state worth seeing on failure: a log,
// a counter). The timeout is a hang guard, not a timing expectation: pick
// it generously.
func Eventually(tb testing.TB, what string, timeout time.Duration, cond func() bool, detail ...func() string) {
	tb.Helper()
	start := time.Now()
	wait := time.Millisecond
	for !cond() {
		if elapsed := time.Since(start); elapsed > timeout {
			var more string
			for _, f := range detail {
				more += "\n" + f()
			}
			tb.Fatalf("timed out after %v waiting for %s%s", elapsed.Round(time.Millisecond), what, more)
		}
		time.Sleep(wait)
		wait = min(2*wait, 50*time.Millisecond)
	}
}
