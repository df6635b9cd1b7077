package realcomp

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
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

// TestFreePortOtherProcesses: ports are below the kernel's ephemeral
// range, and another process's FreePort never hands out one this process
// holds.
func TestFreePortOtherProcesses(t *testing.T) {
	lo, hi := freePortRange()
	mine := map[int]bool{}
	for range 300 {
		p, err := FreePort()
		if err != nil {
			t.Fatal(err)
		}
		if p < lo || p >= hi {
			t.Fatalf("port %d outside %d..%d", p, lo, hi-1)
		}
		mine[p] = true
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestFreePortChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), "HOPSCOPE_FREEPORT_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	n := 0
	for _, f := range strings.Fields(string(out)) {
		p, err := strconv.Atoi(f)
		if err != nil {
			continue
		}
		n++
		if mine[p] {
			t.Errorf("the child process was handed port %d, which this one holds", p)
		}
	}
	if n != 300 {
		t.Fatalf("the child printed %d ports, want 300:\n%s", n, out)
	}
}

// TestFreePortChild is TestFreePortOtherProcesses's other process.
func TestFreePortChild(t *testing.T) {
	if os.Getenv("HOPSCOPE_FREEPORT_CHILD") == "" {
		t.Skip("run by TestFreePortOtherProcesses")
	}
	for range 300 {
		p, err := FreePort()
		if err != nil {
			t.Fatal(err)
		}
		fmt.Println(p)
	}
}
