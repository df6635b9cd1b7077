package testkit

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TokenFile writes lines, one per line, to a new file (mode 0600) in the
// test's temporary directory and returns its path: a bearer token file as
// the collector's --auth-token-file reads it.
func TokenFile(tb testing.TB, lines ...string) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "tokens")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}
