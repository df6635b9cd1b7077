package tail

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hopscope/hopscope/collector/internal/logread/logreadtest"
	"github.com/hopscope/hopscope/internal/testkit"
)

// waitTimeout bounds every wait in these tests.
const waitTimeout = 5 * time.Second

type got struct {
	Number int64
	Text   string
}

// sink records delivered lines and reported errors.
type sink struct {
	mu    sync.Mutex
	lines []got
	errs  []error
}

func (s *sink) emit(l Line) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lines = append(s.lines, got{l.Number, string(l.Text)})
}

func (s *sink) onError(_ string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errs = append(s.errs, err)
}

func (s *sink) snapshot() ([]got, []error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]got(nil), s.lines...), append([]error(nil), s.errs...)
}

// waitLines waits until exactly want has been delivered and fails on a
// mismatch or a timeout.
func (s *sink) waitLines(t *testing.T, want ...got) {
	t.Helper()
	var lines []got
	testkit.Eventually(t, fmt.Sprintf("%d lines", len(want)), waitTimeout, func() bool {
		lines, _ = s.snapshot()
		return len(lines) >= len(want)
	}, func() string { return fmt.Sprintf("lines:\n got %v\nwant %v", lines, want) })
	if fmt.Sprint(lines) != fmt.Sprint(want) {
		t.Fatalf("lines:\n got %v\nwant %v", lines, want)
	}
}

// settle waits a few polls and checks that nothing more was delivered
// (an absence: there is no event to wait for).
func (s *sink) settle(t *testing.T, cfg Config, want int) {
	t.Helper()
	time.Sleep(5*cfg.PollInterval + cfg.RotateWait)
	if lines, _ := s.snapshot(); len(lines) != want {
		t.Fatalf("got %d lines, want %d: %v", len(lines), want, lines)
	}
}

func testConfig(path string) Config {
	cfg := DefaultConfig()
	cfg.Path = path
	cfg.PollInterval = 5 * time.Millisecond
	cfg.RotateWait = 50 * time.Millisecond
	cfg.SaveInterval = 0
	return cfg
}

func start(t *testing.T, cfg Config) (*Tailer, *sink) {
	t.Helper()
	s := &sink{}
	if cfg.OnError == nil {
		cfg.OnError = s.onError
	}
	tl, err := newLines(cfg, s.emit)
	if err != nil {
		t.Fatal(err)
	}
	if err := tl.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		if err := tl.Shutdown(ctx); err != nil {
			t.Error(err)
		}
	})
	return tl, s
}

func write(t *testing.T, f *os.File, s string) {
	t.Helper()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

func create(t *testing.T, path, content string) *os.File {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_TRUNC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	write(t, f, content)
	return f
}

func TestPartialWritesFromEnd(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	// The last line is being written at Start: it is delivered whole.
	f := create(t, path, "old 1\nold 2\npart")
	cfg := testConfig(path)
	_, s := start(t, cfg)

	write(t, f, "ial\n")
	s.waitLines(t, got{3, "partial"})
	write(t, f, "a")
	write(t, f, "b\nc")
	s.settle(t, cfg, 2) // "c" is held until its newline arrives
	write(t, f, "\n\nd\ne\n")
	s.waitLines(t, got{3, "partial"}, got{4, "ab"}, got{5, "c"}, got{6, ""}, got{7, "d"}, got{8, "e"})
}

func TestStartAtBeginning(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	f := create(t, path, "a\nb\n")
	cfg := testConfig(path)
	cfg.StartAtBeginning = true
	cfg.ReadBufferBytes = 3 // lines span reads
	tl, s := start(t, cfg)
	s.waitLines(t, got{1, "a"}, got{2, "b"})
	write(t, f, "ccccc\n")
	s.waitLines(t, got{1, "a"}, got{2, "b"}, got{3, "ccccc"})
	if st := tl.Stats(); st.Lines != 3 || st.Bytes != 10 {
		t.Fatalf("stats %+v", st)
	}
}

func TestRenameRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	old := create(t, path, "")
	cfg := testConfig(path)
	// Long enough for the writes below to the old file, short enough
	// for a fast test.
	cfg.RotateWait = 500 * time.Millisecond
	tl, s := start(t, cfg)

	write(t, old, "a1\na2\n")
	s.waitLines(t, got{1, "a1"}, got{2, "a2"})

	// logrotate create: rename, create the new file; the writer keeps
	// writing the old file until it reopens.
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	write(t, old, "a3\n")
	s.waitLines(t, got{1, "a1"}, got{2, "a2"}, got{3, "a3"})
	nw := create(t, path, "b1\n")
	write(t, old, "a4\na5-partial")
	time.Sleep(cfg.RotateWait / 4) // the writer finishes the line a moment later, within RotateWait
	write(t, old, "-end\na6 no newline")
	// The writer reopens: everything after goes to the new file.
	write(t, nw, "b2\n")

	s.waitLines(t, got{1, "a1"}, got{2, "a2"}, got{3, "a3"}, got{4, "a4"}, got{5, "a5-partial-end"},
		got{6, "a6 no newline"}, got{1, "b1"}, got{2, "b2"})
	write(t, nw, "b3\n")
	s.waitLines(t, got{1, "a1"}, got{2, "a2"}, got{3, "a3"}, got{4, "a4"}, got{5, "a5-partial-end"},
		got{6, "a6 no newline"}, got{1, "b1"}, got{2, "b2"}, got{3, "b3"})
	if st := tl.Stats(); st.Rotations != 1 || st.Truncations != 0 || st.Errors != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestCopyTruncate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	f := create(t, path, "")
	cfg := testConfig(path)
	tl, s := start(t, cfg)

	write(t, f, "first line\nsecond line\nheld")
	s.waitLines(t, got{1, "first line"}, got{2, "second line"})
	s.settle(t, cfg, 2)
	// logrotate copytruncate: copy, then truncate in place; the writer's
	// O_APPEND descriptor continues at the new end.
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "truncation", waitTimeout, func() bool { return tl.Stats().Truncations == 1 })
	write(t, f, "x\ny\n")
	s.waitLines(t, got{1, "first line"}, got{2, "second line"}, got{3, "held"}, got{1, "x"}, got{2, "y"})
	if st := tl.Stats(); st.Rotations != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestFileCreatedAfterStart(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	cfg := testConfig(path) // StartAtBeginning false: a new file is read whole anyway
	_, s := start(t, cfg)
	s.settle(t, cfg, 0)
	// Created under another name and renamed, so it appears complete.
	tmp := filepath.Join(dir, "tmp")
	if err := os.WriteFile(tmp, []byte("one\ntwo\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	s.waitLines(t, got{1, "one"}, got{2, "two"})
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	write(t, f, "three\n")
	s.waitLines(t, got{1, "one"}, got{2, "two"}, got{3, "three"})
	if _, errs := s.snapshot(); len(errs) != 0 {
		t.Fatalf("errors while the file was missing: %v", errs)
	}
}

func TestDeletedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	f := create(t, path, "")
	cfg := testConfig(path)
	cfg.RotateWait = 200 * time.Millisecond
	tl, s := start(t, cfg)
	write(t, f, "a\nb")
	s.waitLines(t, got{1, "a"})
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	// Written to the deleted file before it is released: still read.
	write(t, f, "\nc\n")
	s.waitLines(t, got{1, "a"}, got{2, "b"}, got{3, "c"})
	testkit.Eventually(t, "release of the deleted file", waitTimeout, func() bool { return tl.Stats().Rotations == 1 })
	_ = f.Close()
	s.settle(t, cfg, 3)

	create(t, path, "new\n")
	s.waitLines(t, got{1, "a"}, got{2, "b"}, got{3, "c"}, got{1, "new"})
	if _, errs := s.snapshot(); len(errs) != 0 {
		t.Fatalf("errors: %v", errs)
	}
}

func TestLongLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	f := create(t, path, "")
	cfg := testConfig(path)
	cfg.MaxLineBytes = 10
	cfg.ReadBufferBytes = 4 // long lines span many reads, held and not
	tl, s := start(t, cfg)

	long := strings.Repeat("x", 25)
	write(t, f, "short\n"+long+"\n0123456789\n")
	write(t, f, "abcdefgh")
	write(t, f, "ijklmnop\nend\n")
	s.waitLines(t, got{1, "short"}, got{2, long[:10]}, got{3, "0123456789"}, got{4, "abcdefghij"}, got{5, "end"})
	_, errs := s.snapshot()
	if len(errs) != 2 || !errors.Is(errs[0], ErrLineTooLong) || !errors.Is(errs[1], ErrLineTooLong) {
		t.Fatalf("errors: %v", errs)
	}
	if !strings.Contains(errs[0].Error(), "line 2: 25 bytes") || !strings.Contains(errs[1].Error(), "line 4: 16 bytes") {
		t.Fatalf("errors do not say which line: %v", errs)
	}
	if st := tl.Stats(); st.Errors != 2 || st.Lines != 5 {
		t.Fatalf("stats %+v", st)
	}
}

// memState is an in-memory State.
type memState struct {
	mu    sync.Mutex
	m     map[string][2]int64
	saves int
}

func (m *memState) Load(path string) (uint64, int64, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.m[path]
	return uint64(v[0]), v[1], ok
}

func (m *memState) Save(path string, ino uint64, off int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil {
		m.m = map[string][2]int64{}
	}
	m.m[path] = [2]int64{int64(ino), off}
	m.saves++
	return nil
}

func TestResumeFromSavedOffset(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	f := create(t, path, "before start\n")
	st := &memState{}
	cfg := testConfig(path)
	cfg.Offsets = st

	run := func(do func(*sink)) *Tailer {
		s := &sink{}
		tl, err := newLines(cfg, s.emit)
		if err != nil {
			t.Fatal(err)
		}
		if err := tl.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		do(s)
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		if err := tl.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		return tl
	}

	run(func(s *sink) {
		write(t, f, "one\ntwo\nthr")
		s.waitLines(t, got{2, "one"}, got{3, "two"})
	})
	// Written while no Tailer runs; the held "thr" is read again.
	write(t, f, "ee\nfour\n")
	run(func(s *sink) {
		s.waitLines(t, got{4, "three"}, got{5, "four"})
		s.settle(t, cfg, 2)
	})

	// Replaced by another file while stopped: read from its beginning.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte("fresh 1\nfresh 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	run(func(s *sink) { s.waitLines(t, got{1, "fresh 1"}, got{2, "fresh 2"}) })

	// Truncated while stopped: read from its beginning too.
	if err := os.WriteFile(path, []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tl := run(func(s *sink) { s.waitLines(t, got{1, "x"}) })
	if tl.Stats().Truncations != 1 {
		t.Fatalf("stats %+v", tl.Stats())
	}
	if _, off, _ := st.Load(path); off != 2 {
		t.Fatalf("saved offset %d, want 2", off)
	}
}

func TestSaveIntervalBoundsSaves(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	f := create(t, path, "")
	st := &memState{}
	cfg := testConfig(path)
	cfg.Offsets = st
	cfg.SaveInterval = time.Hour
	tl, s := start(t, cfg)
	for i := range 20 {
		write(t, f, fmt.Sprintf("l%d\n", i))
		time.Sleep(cfg.PollInterval) // one line per poll: 20 chances to save
	}
	testkit.Eventually(t, "20 lines", waitTimeout, func() bool { l, _ := s.snapshot(); return len(l) == 20 })
	st.mu.Lock()
	saves := st.saves
	st.mu.Unlock()
	if saves > 1 {
		t.Fatalf("%d saves within SaveInterval", saves)
	}
	if err := tl.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, off, _ := st.Load(path); off != 20*4-10 {
		t.Fatalf("offset at shutdown %d", off)
	}
}

func TestShutdownIsPrompt(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"exists", "missing"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name)
			if name == "exists" {
				create(t, path, "a\n")
			}
			cfg := testConfig(path)
			cfg.PollInterval = time.Hour
			tl, err := newLines(cfg, func(Line) {})
			if err != nil {
				t.Fatal(err)
			}
			logreadtest.ShutdownIsPrompt(t, tl)
		})
	}
}

func TestShutdownWhileCallbackBlocks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	create(t, path, "a\n")
	cfg := testConfig(path)
	cfg.StartAtBeginning = true
	logreadtest.ShutdownWhileCallbackBlocks(t, func(emit func(Line)) (logreadtest.Reader, error) {
		return newLines(cfg, emit)
	})
}

func TestNotARegularFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	if err := os.Mkdir(path, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(path)
	tl, s := start(t, cfg)
	testkit.Eventually(t, "the error", waitTimeout, func() bool { _, errs := s.snapshot(); return len(errs) > 0 })
	time.Sleep(10 * cfg.PollInterval) // ten more polls: still reported only once
	_, errs := s.snapshot()
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "not a regular file") {
		t.Fatalf("errors %v (a lasting condition is reported once)", errs)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	create(t, path, "ok\n")
	s.waitLines(t, got{1, "ok"})
	_ = tl
}

func TestValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err == nil || !strings.Contains(err.Error(), "Path") {
		t.Fatalf("DefaultConfig without Path: %v", err)
	}
	bad := Config{Path: "x", RotateWait: -1, SaveInterval: -1}
	err := bad.Validate()
	for _, field := range []string{"PollInterval", "RotateWait", "MaxLineBytes", "ReadBufferBytes", "SaveInterval"} {
		if err == nil || !strings.Contains(err.Error(), "tail: "+field+":") {
			t.Errorf("error does not name %s: %v", field, err)
		}
	}
	if strings.Contains(err.Error(), "Path") {
		t.Errorf("valid Path reported: %v", err)
	}
	if _, err := newLines(bad, func(Line) {}); err == nil {
		t.Error("New accepted an invalid Config")
	}
	if _, err := newLines(testConfig("x"), nil); err == nil {
		t.Error("New accepted a nil callback")
	}
}
