package albdir

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hopscope/hopscope/collector/internal/logread/logreadtest"
	"github.com/hopscope/hopscope/internal/testkit"
)

const waitTimeout = 5 * time.Second

// A real ALB log line, from the AWS documentation's examples.
const albLine = `http 2018-07-02T22:23:00.186641Z app/my-loadbalancer/50dc6c495c0c9188 192.168.131.39:2817 10.0.0.1:80 0.000 0.001 0.000 200 200 34 366 "GET http://www.example.com:80/ HTTP/1.1" "curl/7.46.0" - - arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/73e2d6bc24d8a067 "Root=1-58337262-36d228ad5d99923122bbe354" "-" "-" 0 2018-07-02T22:22:48.364000Z "forward" "-" "-" "10.0.0.1:80" "200" "-" "-" TID_1234abcd5678ef90`

// albPath returns the path of an ALB log object below dir, in S3's layout.
func albPath(dir, stamp string) string {
	return filepath.Join(dir, "AWSLogs", "123456789012", "elasticloadbalancing", "us-east-2",
		stamp[0:4], stamp[4:6], stamp[6:8],
		"123456789012_elasticloadbalancing_us-east-2_app.my-loadbalancer.50dc6c495c0c9188_"+stamp+"_192.168.131.39_2ahq0dy3.log.gz")
}

type got struct {
	Source string
	Number int64
	Text   string
}

type sink struct {
	mu    sync.Mutex
	lines []got
	errs  []string
}

func (s *sink) emit(l Line) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lines = append(s.lines, got{l.Source, l.Number, string(l.Text)})
}

func (s *sink) onError(path string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errs = append(s.errs, path+": "+err.Error())
}

func (s *sink) take() ([]got, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, e := s.lines, s.errs
	s.lines, s.errs = nil, nil
	return l, e
}

func testConfig(dir, stateDir string) Config {
	cfg := DefaultConfig()
	cfg.Dir = dir
	cfg.StateDir = stateDir
	cfg.ScanInterval = 5 * time.Millisecond
	cfg.SettleTime = 0
	return cfg
}

// newReader returns a Reader whose state is loaded but that does not
// scan on its own: tests call scan, as the background goroutine does.
func newReader(t *testing.T, cfg Config) (*Reader, *sink) {
	t.Helper()
	s := &sink{}
	cfg.OnError = s.onError
	r, err := newLines(cfg, s.emit)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.loadState(); err != nil {
		t.Fatal(err)
	}
	return r, s
}

func gz(t *testing.T, content string) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := w.Write([]byte(content)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// put writes a file with a modification time in the past, as a finished
// object looks.
func put(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
}

func readState(t *testing.T, stateDir string) map[string]entry {
	t.Helper()
	files, err := loadState(filepath.Join(stateDir, StateFileName))
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func keys(m map[string]entry) []string {
	var k []string
	for key := range m {
		k = append(k, key)
	}
	sort.Strings(k)
	return k
}

func TestPlainGzipMultiMemberNested(t *testing.T) {
	dir := t.TempDir()
	a := albPath(dir, "20180702T2220Z")
	b := albPath(dir, "20180702T2225Z")
	plain := filepath.Join(dir, "synced", "deep", "x.log")
	put(t, b, append(gz(t, "b1\nb2\n"), gz(t, "b3\n")...)) // two gzip members
	put(t, a, gz(t, albLine+"\n"))
	put(t, plain, []byte("p1\n\np3 no newline"))
	put(t, filepath.Join(dir, "notes.txt"), []byte("ignored\n"))
	put(t, filepath.Join(dir, "x.log.gz.tmp"), []byte("ignored\n"))
	put(t, filepath.Join(dir, "empty.log.gz"), nil)

	r, s := newReader(t, testConfig(dir, t.TempDir()))
	r.scan()
	lines, errs := s.take()
	// Ordered by path below dir: AWSLogs/… (a before b), then synced/….
	want := []got{
		{a, 1, albLine},
		{b, 1, "b1"}, {b, 2, "b2"}, {b, 3, "b3"},
		{plain, 1, "p1"}, {plain, 2, ""}, {plain, 3, "p3 no newline"},
	}
	if fmt.Sprint(lines) != fmt.Sprint(want) {
		t.Fatalf("lines:\n got %v\nwant %v", lines, want)
	}
	if len(errs) != 0 {
		t.Fatalf("errors: %v", errs)
	}
	st := r.Stats()
	if st.Files != 4 || st.Lines != 7 || st.Scans != 1 || st.Errors != 0 {
		t.Fatalf("stats %+v", st)
	}
	r.scan()
	if lines, _ := s.take(); len(lines) != 0 {
		t.Fatalf("read again: %v", lines)
	}
}

func TestStateSurvivesRestart(t *testing.T) {
	dir, stateDir := t.TempDir(), t.TempDir()
	put(t, albPath(dir, "20240101T0000Z"), gz(t, "one\n"))
	put(t, albPath(dir, "20240101T0005Z"), gz(t, "two\n"))

	// The real lifecycle: Start scans in the background, Shutdown.
	runOnce := func(wantLines int) []got {
		s := &sink{}
		cfg := testConfig(dir, stateDir)
		cfg.OnError = s.onError
		r, err := newLines(cfg, s.emit)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		testkit.Eventually(t, "two scans and every line", waitTimeout, func() bool {
			return r.Stats().Scans >= 2 && r.Stats().Lines >= uint64(wantLines)
		}, func() string { return fmt.Sprintf("stats %+v", r.Stats()) })
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		if err := r.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		lines, errs := s.take()
		if len(errs) != 0 {
			t.Fatalf("errors: %v", errs)
		}
		return lines
	}

	if lines := runOnce(2); len(lines) != 2 {
		t.Fatalf("first run: %v", lines)
	}
	if lines := runOnce(0); len(lines) != 0 {
		t.Fatalf("second run read again: %v", lines)
	}
	c := albPath(dir, "20240101T0010Z")
	put(t, c, gz(t, "three\n"))
	if lines := runOnce(1); fmt.Sprint(lines) != fmt.Sprint([]got{{c, 1, "three"}}) {
		t.Fatalf("third run: %v", lines)
	}
	if k := keys(readState(t, stateDir)); len(k) != 3 {
		t.Fatalf("state: %v", k)
	}
}

func TestShutdownWithinFileResumes(t *testing.T) {
	dir, stateDir := t.TempDir(), t.TempDir()
	path := filepath.Join(dir, "a.log")
	put(t, path, []byte("1\n2\n3\n4\n5\n"))

	cfg := testConfig(dir, stateDir)
	var r *Reader
	var seen []string
	r, err := newLines(cfg, func(l Line) {
		seen = append(seen, string(l.Text))
		if len(seen) == 2 {
			r.loop.Stop() // what Shutdown does, without waiting for itself
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.loadState(); err != nil {
		t.Fatal(err)
	}
	r.scan()
	if fmt.Sprint(seen) != "[1 2]" {
		t.Fatalf("delivered %v before stopping", seen)
	}
	if e := readState(t, stateDir)["a.log"]; !e.Partial || e.Lines != 2 {
		t.Fatalf("state entry %+v", e)
	}

	r2, s2 := newReader(t, cfg)
	r2.scan()
	lines, _ := s2.take()
	want := []got{{path, 3, "3"}, {path, 4, "4"}, {path, 5, "5"}}
	if fmt.Sprint(lines) != fmt.Sprint(want) {
		t.Fatalf("resumed:\n got %v\nwant %v", lines, want)
	}
	if e := readState(t, stateDir)["a.log"]; e.Partial {
		t.Fatalf("state entry %+v", e)
	}
}

func TestFileBeingWrittenIsDeferred(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.log")
	cfg := testConfig(dir, "")
	cfg.SettleTime = time.Minute
	r, s := newReader(t, cfg)

	// Fresh modification time: left alone.
	if err := os.WriteFile(path, []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r.scan()
	if lines, _ := s.take(); len(lines) != 0 {
		t.Fatalf("read a fresh file: %v", lines)
	}

	// Old modification time, but grown since the last scan (a writer
	// that sets the time, or a clock in the past): left once more.
	if err := os.WriteFile(path, []byte("x\ny\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	r.scan()
	if lines, _ := s.take(); len(lines) != 0 {
		t.Fatalf("read a file whose size changed: %v", lines)
	}

	// Unchanged since: read.
	r.scan()
	lines, errs := s.take()
	if fmt.Sprint(lines) != fmt.Sprint([]got{{path, 1, "x"}, {path, 2, "y"}}) || len(errs) != 0 {
		t.Fatalf("lines %v errors %v", lines, errs)
	}
	if st := r.Stats(); st.Deferred != 2 || st.Files != 1 {
		t.Fatalf("stats %+v", st)
	}

	// A time in the future (a clock ahead of ours): read once a second
	// scan sees the file unchanged, not never.
	future := filepath.Join(dir, "b.log")
	put(t, future, []byte("z\n"))
	ahead := time.Now().Add(time.Hour)
	if err := os.Chtimes(future, ahead, ahead); err != nil {
		t.Fatal(err)
	}
	r.scan()
	if lines, _ := s.take(); len(lines) != 0 {
		t.Fatalf("read a file from the future at once: %v", lines)
	}
	r.scan()
	if lines, _ := s.take(); fmt.Sprint(lines) != fmt.Sprint([]got{{future, 1, "z"}}) {
		t.Fatalf("lines %v", lines)
	}
}

func TestCorruptGzip(t *testing.T) {
	dir, stateDir := t.TempDir(), t.TempDir()
	good := gz(t, "ok 1\nok 2\n")
	member2 := gz(t, "m2 1\nm2 2\n")

	// A stored (uncompressed) member cut inside its second line, as an
	// interrupted upload leaves it: the cut fragment is not delivered.
	var stored bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&stored, gzip.NoCompression)
	_, _ = zw.Write([]byte("cut 1\ncut 2 fragment\n"))
	_ = zw.Close()
	cut := filepath.Join(dir, "a-truncated.log.gz")
	put(t, cut, append(append([]byte{}, good...), stored.Bytes()[:stored.Len()-16]...))
	flipped := append([]byte{}, member2...)
	flipped[len(flipped)-6] ^= 0xff // CRC of the second member's data
	badcrc := filepath.Join(dir, "b-badcrc.log.gz")
	put(t, badcrc, append(append([]byte{}, good...), flipped...))
	garbage := filepath.Join(dir, "c-trailing-garbage.log.gz")
	put(t, garbage, append(append([]byte{}, good...), "not gzip at all\n"...))
	notgz := filepath.Join(dir, "d-not-gzip.log.gz")
	put(t, notgz, []byte("plain text\n"))
	after := filepath.Join(dir, "e.log")
	put(t, after, []byte("still read\n"))

	r, s := newReader(t, testConfig(dir, stateDir))
	r.scan()
	lines, errs := s.take()
	var texts []string
	for _, l := range lines {
		texts = append(texts, filepath.Base(l.Source)+":"+l.Text)
	}
	wantTexts := []string{
		"a-truncated.log.gz:ok 1", "a-truncated.log.gz:ok 2", "a-truncated.log.gz:cut 1",
		// A bad checksum is known only at the member's end.
		"b-badcrc.log.gz:ok 1", "b-badcrc.log.gz:ok 2", "b-badcrc.log.gz:m2 1", "b-badcrc.log.gz:m2 2",
		"c-trailing-garbage.log.gz:ok 1", "c-trailing-garbage.log.gz:ok 2",
		"e.log:still read",
	}
	if strings.Join(texts, "|") != strings.Join(wantTexts, "|") {
		t.Fatalf("lines:\n got %q\nwant %q", texts, wantTexts)
	}
	if len(errs) != 4 {
		t.Fatalf("want 4 errors, got %q", errs)
	}
	for i, name := range []string{cut, badcrc, garbage, notgz} {
		if !strings.HasPrefix(errs[i], name+": albdir: "+name) {
			t.Errorf("error %d does not name %s: %s", i, name, errs[i])
		}
	}
	// Done all the same: never read or reported again.
	r.scan()
	if lines, errs := s.take(); len(lines) != 0 || len(errs) != 0 {
		t.Fatalf("second scan: %v %v", lines, errs)
	}
	if k := keys(readState(t, stateDir)); len(k) != 5 {
		t.Fatalf("state: %v", k)
	}
}

func TestUnreadableStateFile(t *testing.T) {
	dir := t.TempDir()
	for name, setup := range map[string]func(t *testing.T, stateFile string){
		"invalid JSON":  func(t *testing.T, p string) { put(t, p, []byte("{not json")) },
		"wrong version": func(t *testing.T, p string) { put(t, p, []byte(`{"version":99,"files":{}}`)) },
		"a directory":   func(t *testing.T, p string) { _ = os.MkdirAll(p, 0o755) },
	} {
		t.Run(name, func(t *testing.T) {
			stateDir := t.TempDir()
			stateFile := filepath.Join(stateDir, StateFileName)
			setup(t, stateFile)
			r, err := newLines(testConfig(dir, stateDir), func(Line) {})
			if err != nil {
				t.Fatal(err)
			}
			err = r.Start(context.Background())
			if err == nil {
				_ = r.Shutdown(context.Background())
				t.Fatal("Start succeeded")
			}
			if !strings.Contains(err.Error(), stateFile) {
				t.Fatalf("error does not name the state file: %v", err)
			}
		})
	}

	t.Run("state dir not creatable", func(t *testing.T) {
		blocker := filepath.Join(t.TempDir(), "file")
		put(t, blocker, nil)
		r, err := newLines(testConfig(dir, filepath.Join(blocker, "state")), func(Line) {})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "StateDir") {
			t.Fatalf("Start = %v", err)
		}
	})
}

func TestRemovedFilesArePruned(t *testing.T) {
	dir, stateDir := t.TempDir(), t.TempDir()
	a, b, c := filepath.Join(dir, "a.log"), filepath.Join(dir, "sub", "b.log"), filepath.Join(dir, "c.log.gz")
	put(t, a, []byte("a\n"))
	put(t, b, []byte("b\n"))
	put(t, c, gz(t, "c\n"))
	r, s := newReader(t, testConfig(dir, stateDir))
	r.scan()
	if k := keys(readState(t, stateDir)); fmt.Sprint(k) != "[a.log c.log.gz sub/b.log]" {
		t.Fatalf("state: %v", k)
	}

	if err := os.RemoveAll(filepath.Join(dir, "sub")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(a); err != nil {
		t.Fatal(err)
	}
	r.scan()
	if k := keys(readState(t, stateDir)); fmt.Sprint(k) != "[c.log.gz]" {
		t.Fatalf("state after removal: %v", k)
	}

	// A tree with no log file at all looks like an unmounted bucket: the
	// state is kept, so nothing is read twice when it comes back.
	if err := os.Remove(c); err != nil {
		t.Fatal(err)
	}
	r.scan()
	if k := keys(readState(t, stateDir)); fmt.Sprint(k) != "[c.log.gz]" {
		t.Fatalf("state after emptying: %v", k)
	}
	put(t, c, gz(t, "c\n"))
	mtime := time.Unix(0, readState(t, stateDir)["c.log.gz"].MtimeNS)
	if err := os.Chtimes(c, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	r.scan()
	if lines, errs := s.take(); len(lines) != 3 || len(errs) != 0 {
		t.Fatalf("lines %v errors %v", lines, errs)
	}

	var sf stateFile
	data, err := os.ReadFile(filepath.Join(stateDir, StateFileName))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &sf); err != nil || sf.Version != stateVersion {
		t.Fatalf("state file %s: %v", data, err)
	}
	left, _ := filepath.Glob(filepath.Join(stateDir, "*"))
	if len(left) != 1 {
		t.Fatalf("temporary files left: %v", left)
	}
}

func TestUnreadableSubdirKeepsItsEntries(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads every directory")
	}
	dir, stateDir := t.TempDir(), t.TempDir()
	sub := filepath.Join(dir, "sub")
	put(t, filepath.Join(sub, "b.log"), []byte("b\n"))
	put(t, filepath.Join(dir, "a.log"), []byte("a\n"))
	r, s := newReader(t, testConfig(dir, stateDir))
	r.scan()
	if err := os.Chmod(sub, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(sub, 0o755) })
	r.scan()
	if k := keys(readState(t, stateDir)); fmt.Sprint(k) != "[a.log sub/b.log]" {
		t.Fatalf("state: %v", k)
	}
	if _, errs := s.take(); len(errs) != 1 || !strings.Contains(errs[0], sub) {
		t.Fatalf("errors %v", errs)
	}
}

func TestMissingDirIsReportedAndWaitedFor(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "not-yet")
	r, s := newReader(t, testConfig(dir, ""))
	r.scan()
	if _, errs := s.take(); len(errs) != 1 || !strings.Contains(errs[0], dir) {
		t.Fatalf("errors %v", errs)
	}
	put(t, filepath.Join(dir, "a.log"), []byte("a\n"))
	r.scan()
	if lines, errs := s.take(); len(lines) != 1 || len(errs) != 0 {
		t.Fatalf("lines %v errors %v", lines, errs)
	}
}

func TestLongLines(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.log.gz")
	long := strings.Repeat("y", 200<<10) // longer than the read buffer
	put(t, path, gz(t, "0123456789abc\n"+long+"\nend\n"))
	cfg := testConfig(dir, "")
	cfg.MaxLineBytes = 10
	r, s := newReader(t, cfg)
	r.scan()
	lines, errs := s.take()
	want := []got{{path, 1, "0123456789"}, {path, 2, "yyyyyyyyyy"}, {path, 3, "end"}}
	if fmt.Sprint(lines) != fmt.Sprint(want) {
		t.Fatalf("lines %v", lines)
	}
	if len(errs) != 2 || !strings.Contains(errs[1], fmt.Sprintf("line 2: %d bytes", len(long))) {
		t.Fatalf("errors %v", errs)
	}
	if st := r.Stats(); st.Bytes != uint64(14+len(long)+1+4) {
		t.Fatalf("stats %+v", st)
	}
}

func TestChangedAfterReadIsReportedOnce(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.log")
	put(t, path, []byte("a\n"))
	r, s := newReader(t, testConfig(dir, ""))
	r.scan()
	put(t, path, []byte("a\nb\n"))
	r.scan()
	r.scan()
	lines, errs := s.take()
	if len(lines) != 1 || len(errs) != 1 || !strings.Contains(errs[0], "changed after it was read") {
		t.Fatalf("lines %v errors %v", lines, errs)
	}
}

func TestShutdownIsPrompt(t *testing.T) {
	cfg := testConfig(t.TempDir(), t.TempDir())
	cfg.ScanInterval = time.Hour
	r, err := newLines(cfg, func(Line) {})
	if err != nil {
		t.Fatal(err)
	}
	logreadtest.ShutdownIsPrompt(t, r)
}

func TestShutdownWhileCallbackBlocks(t *testing.T) {
	dir := t.TempDir()
	put(t, filepath.Join(dir, "a.log"), []byte("a\n"))
	logreadtest.ShutdownWhileCallbackBlocks(t, func(emit func(Line)) (logreadtest.Reader, error) {
		return newLines(testConfig(dir, ""), emit)
	})
}

func TestValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err == nil || !strings.Contains(err.Error(), "albdir: Dir:") {
		t.Fatalf("DefaultConfig without Dir: %v", err)
	}
	err := Config{Dir: "x", SettleTime: -1}.Validate()
	for _, field := range []string{"ScanInterval", "SettleTime", "MaxLineBytes"} {
		if err == nil || !strings.Contains(err.Error(), "albdir: "+field+":") {
			t.Errorf("error does not name %s: %v", field, err)
		}
	}
	if _, err := newLines(testConfig("x", ""), nil); err == nil {
		t.Error("New accepted a nil callback")
	}
}
