package realcomp

import (
	"os"
	"path/filepath"
	"testing"
)

func TestTraversableKeepsOtherBits(t *testing.T) {
	root := t.TempDir()
	sticky := filepath.Join(root, "tmp")     // like /tmp: 1777
	private := filepath.Join(sticky, "home") // 0700: must become 0711
	open := filepath.Join(private, "data")   // 0755: unchanged
	for _, d := range []string{sticky, private, open} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for d, mode := range map[string]os.FileMode{sticky: 0o777 | os.ModeSticky, private: 0o700, open: 0o755} {
		if err := os.Chmod(d, mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := Traversable(open); err != nil {
		t.Fatal(err)
	}
	for d, want := range map[string]os.FileMode{sticky: 0o777 | os.ModeSticky, private: 0o711, open: 0o755} {
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode() & (os.ModePerm | os.ModeSticky); got != want {
			t.Errorf("%s: mode %v, want %v", d, got, want)
		}
	}
	if err := Traversable(filepath.Join(root, "missing")); err == nil {
		t.Error("a missing directory: no error")
	}
}

// TestFreePortNeverRepeats: ports picked before anything binds them are
// all distinct. The kernel alone repeats one within a few hundred picks
// (about 14,000 ports of one parity are handed out at random).
func TestFreePortNeverRepeats(t *testing.T) {
	seen := map[int]bool{}
	for range 1500 {
		p, err := FreePort()
		if err != nil {
			t.Fatal(err)
		}
		if seen[p] {
			t.Fatalf("port %d handed out twice", p)
		}
		seen[p] = true
	}
}
