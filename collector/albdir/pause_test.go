package albdir

import (
	"fmt"
	"path/filepath"
	"testing"
)

// TestPauseKeepsPlace: while Pause reports true the Reader delivers
// nothing and waits in place, inside the file (a gzip stream is not read
// again), counting the pause once; then it goes on with the next line. A
// Shutdown during a pause keeps the place in the state file, as any
// Shutdown does.
func TestPauseKeepsPlace(t *testing.T) {
	dir := t.TempDir()
	path := albPath(dir, "20240101T0000Z")
	put(t, path, gz(t, "1\n2\n3\n4\n5\n"))

	for _, tc := range []struct {
		name      string
		stop      bool // Stop during the pause, then a new Reader
		delivered string
	}{
		{"resumes", false, "[1 2 3 4 5]"},
		{"stopped while paused", true, "[1 2]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(dir, t.TempDir())
			var r *Reader
			var seen []string
			asks, pausedAt := 0, []string{}
			cfg.Pause = func() bool {
				if len(seen) < 2 {
					return false
				}
				asks++
				if tc.stop && asks == 3 {
					r.loop.Stop() // what Shutdown does, without waiting for itself
				}
				if asks <= 4 && len(seen) != 2 {
					t.Errorf("line %d delivered while paused", len(seen))
				}
				return asks < 4
			}
			cfg.OnPause = func(p string) { pausedAt = append(pausedAt, p) }
			r, err := newLines(cfg, func(l Line) { seen = append(seen, string(l.Text)) })
			if err != nil {
				t.Fatal(err)
			}
			if err := r.loadState(); err != nil {
				t.Fatal(err)
			}
			r.scan()
			if fmt.Sprint(seen) != tc.delivered {
				t.Fatalf("delivered %v, want %s", seen, tc.delivered)
			}
			if st := r.Stats(); st.Pauses != 1 || len(pausedAt) != 1 || pausedAt[0] != path {
				t.Fatalf("%d pauses, OnPause %v; want one for %s", st.Pauses, pausedAt, path)
			}
			rel, _ := filepath.Rel(dir, path)
			e := readState(t, cfg.StateDir)[filepath.ToSlash(rel)]
			if !tc.stop {
				if e.Partial || r.Stats().Files != 1 {
					t.Fatalf("state %+v, stats %+v: the file is not done", e, r.Stats())
				}
				return
			}
			if !e.Partial || e.Lines != 2 {
				t.Fatalf("state entry %+v, want partial after 2 lines", e)
			}
			r2, s2 := newReader(t, cfg)
			r2.scan()
			lines, _ := s2.take()
			if want := fmt.Sprint([]got{{path, 3, "3"}, {path, 4, "4"}, {path, 5, "5"}}); fmt.Sprint(lines) != want {
				t.Fatalf("resumed:\n got %v\nwant %v", lines, want)
			}
		})
	}
}
