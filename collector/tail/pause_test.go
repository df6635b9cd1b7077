package tail

import (
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hopscope/hopscope/internal/testkit"
)

// TestPauseKeepsPlace: while Pause reports true the Tailer delivers
// nothing — not the lines appended meanwhile, not the file that replaced
// it — and counts the pause once, when there was something to read; then
// it reads on from where it stopped: the rest of the rotated file, then
// the new one, nothing lost.
func TestPauseKeepsPlace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	f := create(t, path, "")
	var pausing atomic.Bool
	var mu sync.Mutex
	var paused []string
	cfg := testConfig(path)
	cfg.Pause = pausing.Load
	cfg.OnPause = func(p string) { mu.Lock(); paused = append(paused, p); mu.Unlock() }
	tl, s := start(t, cfg)

	write(t, f, "a\nb\n")
	s.waitLines(t, got{1, "a"}, got{2, "b"})
	pausing.Store(true)
	time.Sleep(10 * cfg.PollInterval) // ten polls with nothing to read: no pause (an absence)
	if n := tl.Stats().Pauses; n != 0 {
		t.Fatalf("%d pauses with nothing to read", n)
	}
	write(t, f, "c\nd")
	testkit.Eventually(t, "the pause", waitTimeout, func() bool { return tl.Stats().Pauses == 1 })
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	write(t, f, "\n")
	create(t, path, "x\n")
	// Longer than RotateWait and many polls: a reader not paused would
	// have read c, d and x by now.
	time.Sleep(10 * cfg.RotateWait)
	if lines, _ := s.snapshot(); len(lines) != 2 {
		t.Fatalf("read while paused: %v", lines)
	}
	pausing.Store(false)
	s.waitLines(t, got{1, "a"}, got{2, "b"}, got{3, "c"}, got{4, "d"}, got{1, "x"})
	if st := tl.Stats(); st.Pauses != 1 || st.Rotations != 1 {
		t.Errorf("stats %+v, want 1 pause, 1 rotation", st)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(paused) != 1 || paused[0] != path {
		t.Errorf("OnPause calls %v, want one for %s", paused, path)
	}
}
