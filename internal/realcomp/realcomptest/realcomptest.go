// Package realcomptest starts realcomp's components for a test and stops
// them when it ends: the one copy of what the e2e suites' helpers did.
// It is apart from realcomp so that the product binary, which runs
// realcomp for `hopscope demo --real`, does not link package testing.
package realcomptest

import (
	"testing"

	"github.com/hopscope/hopscope/internal/realcomp"
)

// Postgres runs a throwaway PostgreSQL on a free loopback port (as the
// postgres user when run as root) and returns its URL; it is stopped when
// the test ends.
func Postgres(t testing.TB) string {
	t.Helper()
	url, stop, err := realcomp.Postgres(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return url
}

// Redis runs a throwaway Redis without persistence and returns its
// address; it is stopped when the test ends.
func Redis(t testing.TB) string {
	t.Helper()
	addr, stop, err := realcomp.Redis()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return addr
}
