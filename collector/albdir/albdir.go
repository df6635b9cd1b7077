package albdir

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hopscope/hopscope/collector/consumer"
	"github.com/hopscope/hopscope/collector/internal/logread"
	"github.com/hopscope/hopscope/collector/logformat"
	"github.com/hopscope/hopscope/collector/tail"
	"github.com/hopscope/hopscope/correlate/alb"
)

// Line is one line of a log file; the same type as tail.Line, so that one
// callback serves both. Source is the file's path (Dir joined with its
// path below Dir) and Number its 1-based line number in the decompressed
// file.
type Line = tail.Line

// ErrLineTooLong is wrapped by the error reported for a line longer than
// Config.MaxLineBytes; it is tail.ErrLineTooLong.
var ErrLineTooLong = tail.ErrLineTooLong

// saveEvery bounds how often the state file is written during one scan.
const saveEvery = time.Second

// Stats are a Reader's counters since Start.
type Stats struct {
	// Scans counts completed scans of Dir.
	Scans uint64
	// Files counts files read to their end (damaged ones included).
	Files uint64
	// Deferred counts the times a file was left for a later scan because
	// it may still be written.
	Deferred uint64
	// Lines counts lines delivered.
	Lines uint64
	// Bytes counts bytes read, after decompression, newlines included.
	Bytes uint64
	// Errors counts errors reported to OnError.
	Errors uint64
	// Pauses counts the pauses for Config.Pause.
	Pauses uint64
}

// Reader reads each log file under a directory once. Create it with New.
type Reader struct {
	cfg       Config
	emit      func(Line)
	statePath string // empty: state in memory only
	loop      *logread.Loop

	// Owned by the loop's goroutine after Start.
	files    map[string]entry    // the state
	seen     map[string]snapshot // files left by the previous scans
	warned   map[string]bool     // files whose lasting problem was reported
	dirty    bool
	lastSave time.Time
	lr       *logread.Lines

	scans    atomic.Uint64
	nfiles   atomic.Uint64
	deferred atomic.Uint64
	lines    atomic.Uint64
	bytes    atomic.Uint64
	errs     atomic.Uint64
	pauses   atomic.Uint64
}

// snapshot is a file as one scan saw it.
type snapshot struct {
	rel, path string
	size      int64
	mtime     time.Time
}

func (s snapshot) sameAs(e entry) bool {
	return s.size == e.Size && s.mtime.UnixNano() == e.MtimeNS
}

// New returns a Reader that parses every line of every log file under
// cfg.Dir as an ALB access log line (correlate/alb) and hands each record,
// or the reason a line is not one, to next: from one goroutine, file
// after file. Empty lines are skipped.
func New(cfg Config, next consumer.Consumer) (*Reader, error) {
	if next == nil {
		return nil, errors.New("albdir: consumer must not be nil")
	}
	return newLines(cfg, func(l Line) {
		if len(l.Text) == 0 {
			return
		}
		r, err := alb.Parse(string(l.Text))
		in := consumer.Input{Source: logformat.SourceALB, Where: l.Source + ":" + strconv.FormatInt(l.Number, 10), Err: err}
		if err == nil {
			in.Record = &r
		}
		_ = next.Consume(context.Background(), in)
	})
}

// newLines returns a Reader that calls emit with every line of every log
// file under cfg.Dir, from one goroutine, file after file: New's reader,
// before parsing.
func newLines(cfg Config, emit func(Line)) (*Reader, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if emit == nil {
		return nil, errors.New("albdir: emit callback must not be nil")
	}
	r := &Reader{
		cfg:    cfg,
		emit:   emit,
		loop:   logread.NewLoop(),
		files:  map[string]entry{},
		seen:   map[string]snapshot{},
		warned: map[string]bool{},
	}
	r.setLineBuffer(64 << 10)
	if cfg.StateDir != "" {
		r.statePath = filepath.Join(cfg.StateDir, StateFileName)
	}
	return r, nil
}

// Start loads the state file, checks that it can be written, and scans Dir
// in the background until Shutdown. An unreadable or invalid state file
// fails Start with an error naming it; it is not overwritten. ctx bounds
// Start only.
func (r *Reader) Start(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("albdir: start: %w", err)
	}
	switch err := r.loop.Claim(r.loadState); {
	case errors.Is(err, logread.ErrStarted):
		return fmt.Errorf("albdir: start: %w", err)
	case err != nil:
		return err
	}
	r.loop.Go(r.cfg.ScanInterval, r.scan, func() { r.save(true) })
	return nil
}

func (r *Reader) loadState() error {
	if r.statePath == "" {
		return nil
	}
	if err := os.MkdirAll(r.cfg.StateDir, 0o750); err != nil {
		return fmt.Errorf("albdir: StateDir %s: %w", r.cfg.StateDir, err)
	}
	files, err := loadState(r.statePath)
	if err != nil {
		return err
	}
	// Write it back now: a state file that cannot be written fails here,
	// not after the first scan has delivered lines.
	if err := saveState(r.statePath, files); err != nil {
		return err
	}
	r.files = files
	r.lastSave = time.Now()
	return nil
}

// Shutdown stops scanning, finishing the line being delivered, and writes
// the state file. When ctx ends before the background goroutine (possibly
// inside the callback) returns, ctx's error is returned and the goroutine
// still finishes on its own.
func (r *Reader) Shutdown(ctx context.Context) error {
	if err := r.loop.Shutdown(ctx); err != nil {
		return fmt.Errorf("albdir: shutdown: %w", err)
	}
	return nil
}

// Stats returns a snapshot of the counters.
func (r *Reader) Stats() Stats {
	return Stats{
		Scans:    r.scans.Load(),
		Files:    r.nfiles.Load(),
		Deferred: r.deferred.Load(),
		Lines:    r.lines.Load(),
		Bytes:    r.bytes.Load(),
		Errors:   r.errs.Load(),
		Pauses:   r.pauses.Load(),
	}
}

func (r *Reader) stopping() bool { return r.loop.Stopping() }

// scan walks Dir once and reads the files that are due.
func (r *Reader) scan() {
	found, failed, ok := r.walk()
	if !ok {
		return
	}
	r.prune(found, failed)

	now := time.Now()
	for _, s := range found {
		if r.stopping() {
			break
		}
		e, known := r.files[s.rel]
		if known && !e.Partial {
			if !s.sameAs(e) && !r.warned[s.rel] {
				r.warned[s.rel] = true
				r.report(s.path, fmt.Errorf("albdir: %s changed after it was read (size %d→%d, mtime %s→%s); not read again",
					s.path, e.Size, s.size, time.Unix(0, e.MtimeNS).UTC().Format(time.RFC3339Nano), s.mtime.UTC().Format(time.RFC3339Nano)))
			}
			continue
		}
		prev, seenBefore := r.seen[s.rel]
		fresh := now.Sub(s.mtime) < r.cfg.SettleTime
		if s.mtime.After(now) {
			// A clock ahead of ours (a network mount): the time says
			// nothing, so the file settles by being seen unchanged.
			fresh = !seenBefore
		}
		changed := seenBefore && (prev.size != s.size || !prev.mtime.Equal(s.mtime))
		if fresh || changed {
			r.seen[s.rel] = s
			r.deferred.Add(1)
			continue
		}
		delete(r.seen, s.rel)
		var skip int64
		if known && s.sameAs(e) {
			skip = e.Lines
		}
		read, final, st := r.readFile(s, skip)
		if st == retry {
			continue
		}
		if st == stopped {
			// Stopped while skipping: keep the progress made before.
			r.files[s.rel] = entry{Size: s.size, MtimeNS: s.mtime.UnixNano(), Partial: true, Lines: max(read, skip)}
			r.dirty = true
			break
		}
		delete(r.warned, s.rel)
		r.files[s.rel] = entry{Size: final.size, MtimeNS: final.mtime.UnixNano()}
		r.dirty = true
		r.nfiles.Add(1)
		r.save(false)
	}
	r.save(true)
	r.scans.Add(1)
}

// walk lists the log files under Dir, sorted by relative path, and the
// relative paths of the directories it could not read. ok is false when
// Dir itself could not be read.
func (r *Reader) walk() (found []snapshot, failed []string, ok bool) {
	root := r.cfg.Dir
	var rootErr error
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if r.stopping() {
			return fs.SkipAll
		}
		if err != nil {
			if path == root {
				rootErr = err
				return err
			}
			r.report(path, fmt.Errorf("albdir: scan: %w", err))
			failed = append(failed, r.rel(path))
			if d == nil || d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() || !isLogName(d.Name()) {
			return nil
		}
		var fi fs.FileInfo
		switch {
		case d.Type().IsRegular():
			fi, err = d.Info()
		case d.Type()&fs.ModeSymlink != 0:
			fi, err = os.Stat(path)
		default:
			return nil
		}
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				r.report(path, fmt.Errorf("albdir: scan: %w", err))
				failed = append(failed, r.rel(path))
			}
			return nil
		}
		if !fi.Mode().IsRegular() {
			return nil
		}
		found = append(found, snapshot{rel: r.rel(path), path: path, size: fi.Size(), mtime: fi.ModTime()})
		return nil
	})
	if rootErr != nil || (err != nil && !errors.Is(err, fs.SkipAll)) {
		if rootErr == nil {
			rootErr = err
		}
		r.report(root, fmt.Errorf("albdir: scan %s: %w", root, rootErr))
		return nil, nil, false
	}
	if r.stopping() {
		return nil, nil, false
	}
	slices.SortFunc(found, func(a, b snapshot) int { return strings.Compare(a.rel, b.rel) })
	return found, failed, true
}

func isLogName(name string) bool {
	return strings.HasSuffix(name, ".log") || strings.HasSuffix(name, ".log.gz")
}

// rel returns path relative to Dir with forward slashes, the key of the
// state.
func (r *Reader) rel(path string) string {
	rel, err := filepath.Rel(r.cfg.Dir, path)
	if err != nil {
		return filepath.ToSlash(path)
	}
	return filepath.ToSlash(rel)
}

// prune forgets files that no longer exist, except below directories that
// could not be read, and keeps everything when no file was found at all.
func (r *Reader) prune(found []snapshot, failed []string) {
	exists := make(map[string]bool, len(found))
	for _, s := range found {
		exists[s.rel] = true
	}
	for rel := range r.seen {
		if !exists[rel] {
			delete(r.seen, rel)
		}
	}
	for rel := range r.warned {
		if !exists[rel] {
			delete(r.warned, rel)
		}
	}
	if len(found) == 0 && len(failed) == 0 {
		return
	}
outer:
	for rel := range r.files {
		if exists[rel] {
			continue
		}
		for _, f := range failed {
			if f == "." || rel == f || strings.HasPrefix(rel, f+"/") {
				continue outer
			}
		}
		delete(r.files, rel)
		r.dirty = true
	}
}

// Outcomes of readFile.
const (
	done    = iota // read to the end, damaged or not: never read again
	stopped        // interrupted by Shutdown
	retry          // could not be opened: try again next scan
)

// readFile delivers the lines of one file after the first skip lines. It
// returns the number of lines read (skipped ones included) and the file
// as it was after reading.
func (r *Reader) readFile(s snapshot, skip int64) (lines int64, final snapshot, outcome int) {
	final = s
	f, err := os.Open(s.path)
	if err != nil {
		// Gone since the walk (pruned by the next scan), or not readable
		// yet (reported once): not done.
		if !errors.Is(err, fs.ErrNotExist) && !r.warned[s.rel] {
			r.warned[s.rel] = true
			r.report(s.path, fmt.Errorf("albdir: %w (retried every scan)", err))
		}
		return 0, final, retry
	}
	defer f.Close()

	src, closeSrc, err := logread.Decompress(s.path, f)
	if err != nil {
		r.report(s.path, fmt.Errorf("albdir: %s: %w", s.path, err))
		return 0, final, done
	}
	defer closeSrc()
	lines, complete, err := r.readLines(s.path, src, skip)
	if err != nil {
		r.report(s.path, fmt.Errorf("albdir: %s: after line %d: %w", s.path, lines, err))
	}
	if !complete {
		return lines, final, stopped
	}
	if fi, err := f.Stat(); err == nil && (fi.Size() != s.size || !fi.ModTime().Equal(s.mtime)) {
		final.size, final.mtime = fi.Size(), fi.ModTime()
		r.report(s.path, fmt.Errorf("albdir: %s changed while it was read (size %d→%d)", s.path, s.size, fi.Size()))
	}
	return lines, final, done
}

// setLineBuffer makes the line reader's buffer size bytes long.
func (r *Reader) setLineBuffer(size int) {
	r.lr = logread.NewLines(r.loop, size, r.cfg.MaxLineBytes, r.cfg.Pause, r.cfg.OnPause,
		logread.LineCounters{Lines: &r.lines, Bytes: &r.bytes, Pauses: &r.pauses})
}

// readLines delivers the lines of src after the first skip. A last line
// without newline is delivered at EOF and dropped on a read error.
func (r *Reader) readLines(path string, src io.Reader, skip int64) (n int64, complete bool, err error) {
	return r.lr.Read(path, src, skip, func(n int64, text []byte, tooLong error) {
		if tooLong != nil {
			r.report(path, fmt.Errorf("albdir: %w", tooLong))
		}
		r.emit(Line{Source: path, Number: n, Text: text})
	})
}

// save writes the state file when it changed, at most every saveEvery
// unless forced.
func (r *Reader) save(force bool) {
	if !r.dirty || r.statePath == "" {
		r.dirty = false
		return
	}
	now := time.Now()
	if !force && now.Sub(r.lastSave) < saveEvery {
		return
	}
	r.lastSave = now
	if err := saveState(r.statePath, r.files); err != nil {
		r.report(r.statePath, err)
		return
	}
	r.dirty = false
}

func (r *Reader) report(path string, err error) {
	r.errs.Add(1)
	if r.cfg.OnError != nil {
		r.cfg.OnError(path, err)
	}
}
