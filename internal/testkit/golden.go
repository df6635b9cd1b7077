package testkit

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// update is the module's one -update flag: every test package that imports
// testkit accepts it, so go test ./pkg -update (or go test ./... -update)
// rewrites the golden files and generated files those tests compare with.
var update = flag.Bool("update", false, "rewrite golden files and generated files with what the code produces now")

// Update reports whether the tests run with -update. Tests that compare
// structurally, or whose output is a directory written by the package's
// own function, use it to rewrite instead of Golden.
func Update() bool { return *update }

// Golden compares got with the file at path (relative to the package's
// directory, usually under testdata/) byte for byte, failing the test
// (Error, so the other cases still run) when they differ or the file is
// missing. With -update it first writes got to path, creating its
// directory.
func Golden(tb testing.TB, path string, got []byte) {
	tb.Helper()
	want := ReadGolden(tb, path, got)
	if want != nil && !bytes.Equal(got, want) {
		tb.Errorf("%s differs from the output (rewrite it with -update if the change is intended):\n%s", path, diff(want, got))
	}
}

// ReadGolden returns the contents of the golden file at path, first
// writing got there with -update. A missing or unreadable file fails the
// test (Error) and returns nil. Tests that compare structurally (JSON
// decoded, normalised) compare got with what it returns themselves.
func ReadGolden(tb testing.TB, path string, got []byte) []byte {
	tb.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		tb.Errorf("%v (create it with -update)", err)
		return nil
	}
	return want
}

// diff shows the first line where want and got differ, with the whole of
// got when it is short.
func diff(want, got []byte) string {
	wl, gl := strings.Split(string(want), "\n"), strings.Split(string(got), "\n")
	for i := range max(len(wl), len(gl)) {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g || (i >= len(wl)) != (i >= len(gl)) {
			msg := fmt.Sprintf("first difference at line %d:\n  want: %q\n  got:  %q", i+1, w, g)
			if len(got) <= 4096 {
				msg += "\ngot:\n" + string(got)
			}
			return msg
		}
	}
	return "no line differs (line endings?)"
}
