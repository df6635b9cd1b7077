package tail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/hopscope/hopscope/collector/consumer"
	"github.com/hopscope/hopscope/collector/internal/logread"
	"github.com/hopscope/hopscope/collector/logformat"
)

// ErrLineTooLong is wrapped by the error reported for a line longer than
// Config.MaxLineBytes.
var ErrLineTooLong = logread.ErrLineTooLong

// Line is one line of a followed file.
type Line struct {
	// Source is the path of the file the line was read from (for a
	// Tailer, Config.Path).
	Source string
	// Number is the 1-based number of the line in its file; it restarts
	// at 1 in a new file and after a truncation.
	Number int64
	// Text is the line without its newline, cut to MaxLineBytes. It is
	// valid only during the callback; copy it to keep it.
	Text []byte
}

// Stats are a Tailer's counters since Start.
type Stats struct {
	// Lines counts lines delivered.
	Lines uint64
	// Bytes counts bytes read from followed files, newlines included.
	Bytes uint64
	// Rotations counts followed files released because they no longer
	// were at Path (renamed away or deleted), after being drained.
	Rotations uint64
	// Truncations counts files found shorter than the read offset
	// (copytruncate), including at Start against a saved offset.
	Truncations uint64
	// Errors counts errors reported to OnError.
	Errors uint64
	// Pauses counts the pauses for Config.Pause.
	Pauses uint64
}

// Tailer follows one file. Create it with New.
type Tailer struct {
	cfg  Config
	emit func(Line)
	loop *logread.Loop

	// Owned by the loop's goroutine after Start.
	cur       *file
	startFI   os.FileInfo // the file at Path at Start, until it is opened
	buf       []byte
	pending   logread.LineBuf // held partial line
	stickyErr string
	lastSave  time.Time
	saved     bool
	savedIno  uint64
	savedOff  int64

	lines       atomic.Uint64
	bytes       atomic.Uint64
	rotations   atomic.Uint64
	truncations atomic.Uint64
	errs        atomic.Uint64
	pauses      atomic.Uint64
}

// file is the followed file.
type file struct {
	f   *os.File
	fi  os.FileInfo
	ino uint64
	// pos is the offset of the next byte to read; bytes between committed
	// and pos are the held partial line.
	pos       int64
	committed int64
	line      int64 // number of the last delivered line
	// prefix >= 0: the lines in [0, prefix) are still to be counted
	// before reading; toLastNL then moves the start back to just after
	// the prefix's last newline.
	prefix   int64
	toLastNL bool
	// moved: Path no longer names this file. quietSince: when it last
	// grew or was found moved, whichever is later.
	moved      bool
	quietSince time.Time
}

// New returns a Tailer that parses every line of cfg.Path as cfg.Format
// (package logformat) and hands each record, or the reason a line is not
// one, to next: from one goroutine, in file order. Empty lines are
// skipped.
func New(cfg Config, next consumer.Consumer) (*Tailer, error) {
	if next == nil {
		return nil, errors.New("tail: consumer must not be nil")
	}
	if cfg.Format == "" {
		return nil, errors.New("tail: Config.Format must be set")
	}
	p := logformat.Parser{HAProxyLoc: cfg.HAProxyLoc}
	source := logformat.Source(cfg.Format)
	return newLines(cfg, func(l Line) {
		if len(l.Text) == 0 {
			return
		}
		rec, err := p.Parse(cfg.Format, string(l.Text))
		if err != nil {
			rec = nil
		}
		_ = next.Consume(context.Background(), consumer.Input{Source: source,
			Where: l.Source + ":" + strconv.FormatInt(l.Number, 10), Record: rec, Err: err})
	})
}

// newLines returns a Tailer that calls emit with every line of cfg.Path,
// from one goroutine, in file order: New's reader, before parsing.
func newLines(cfg Config, emit func(Line)) (*Tailer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if emit == nil {
		return nil, errors.New("tail: emit callback must not be nil")
	}
	return &Tailer{
		cfg:     cfg,
		emit:    emit,
		loop:    logread.NewLoop(),
		buf:     make([]byte, cfg.ReadBufferBytes),
		pending: logread.LineBuf{Max: cfg.MaxLineBytes},
	}, nil
}

// Start opens the file if it exists, fixes where reading starts, and
// follows the file in the background until Shutdown. Every line appended
// after Start returns is delivered. ctx bounds Start only.
func (t *Tailer) Start(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("tail: start %s: %w", t.cfg.Path, err)
	}
	if err := t.loop.Claim(nil); err != nil {
		return fmt.Errorf("tail: start %s: %w", t.cfg.Path, err)
	}
	// Outside the loop's lock: open may call OnError.
	if fi, err := os.Stat(t.cfg.Path); err == nil && fi.Mode().IsRegular() {
		t.startFI = fi
	}
	t.open()
	t.loop.Go(t.cfg.PollInterval, t.poll, t.finish)
	return nil
}

// Shutdown stops following, saves the offset to Offsets and closes the
// file. A held partial line is not delivered; a resumed Tailer reads it
// again. When ctx ends before the background goroutine (possibly inside
// the callback) returns, ctx's error is returned and the goroutine still
// finishes on its own.
func (t *Tailer) Shutdown(ctx context.Context) error {
	if err := t.loop.Shutdown(ctx); err != nil {
		return fmt.Errorf("tail: shutdown %s: %w", t.cfg.Path, err)
	}
	return nil
}

// Stats returns a snapshot of the counters.
func (t *Tailer) Stats() Stats {
	return Stats{
		Lines:       t.lines.Load(),
		Bytes:       t.bytes.Load(),
		Rotations:   t.rotations.Load(),
		Truncations: t.truncations.Load(),
		Errors:      t.errs.Load(),
		Pauses:      t.pauses.Load(),
	}
}

func (t *Tailer) stopping() bool { return t.loop.Stopping() }

// finish saves the offset and closes the file.
func (t *Tailer) finish() {
	t.save(true)
	if t.cur != nil {
		_ = t.cur.f.Close()
		t.cur = nil
	}
}

func (t *Tailer) poll() {
	if t.cur == nil && !t.open() {
		return
	}
	if t.step() && t.open() {
		// The old file was released: read the new one at once.
		t.step()
	}
	t.save(false)
}

// open opens the file at Path, reporting whether it is now followed.
func (t *Tailer) open() bool {
	f, err := os.Open(t.cfg.Path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			t.stickyErr = ""
			return false
		}
		t.reportSticky(fmt.Errorf("tail: %w", err))
		return false
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		t.reportSticky(fmt.Errorf("tail: stat %s: %w", t.cfg.Path, err))
		return false
	}
	if !fi.Mode().IsRegular() {
		_ = f.Close()
		t.reportSticky(fmt.Errorf("tail: %s: not a regular file (mode %v)", t.cfg.Path, fi.Mode()))
		return false
	}
	t.stickyErr = ""
	c := &file{f: f, fi: fi, ino: inode(fi), prefix: -1, quietSince: time.Now()}
	if t.startFI != nil && os.SameFile(fi, t.startFI) {
		// The file that was at Path at Start: apply the start policy.
		// Any other file appeared later and is read whole.
		t.startPolicy(c)
	}
	t.startFI = nil
	t.cur = c
	return true
}

// startPolicy sets where reading of the file found at Start begins.
func (t *Tailer) startPolicy(c *file) {
	size := c.fi.Size()
	if t.cfg.Offsets != nil {
		if ino, off, ok := t.cfg.Offsets.Load(t.cfg.Path); ok {
			switch {
			case ino != c.ino:
				// Another file than the one saved: all of it is new.
			case off < 0 || off > size:
				t.truncations.Add(1)
			default:
				c.prefix, c.pos, c.committed = off, off, off
			}
			return
		}
	}
	if t.cfg.StartAtBeginning || size == 0 {
		return
	}
	c.prefix, c.pos, c.committed = size, size, size
	c.toLastNL = true
}

// step reads the followed file to its end and checks it for truncation
// and rotation. It reports whether the file was released.
func (t *Tailer) step() (released bool) {
	c := t.cur
	if c.prefix >= 0 && !t.countPrefix(c) {
		return false
	}
	fi, err := c.f.Stat()
	if err != nil {
		t.reportSticky(fmt.Errorf("tail: stat open file %s: %w", t.cfg.Path, err))
		t.release(c)
		return true
	}
	if fi.Size() < c.pos {
		t.flushPending(c)
		c.pos, c.committed, c.line = 0, 0, 0
		c.quietSince = time.Now()
		t.truncations.Add(1)
	}
	if t.readToEOF(c) > 0 {
		c.quietSince = time.Now()
	}
	if t.stopping() {
		return false
	}

	pfi, err := os.Stat(t.cfg.Path)
	switch {
	case err == nil && os.SameFile(pfi, c.fi):
		c.moved = false
		return false
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		// Cannot tell (e.g. the directory became unreadable): keep
		// reading the open file.
		t.reportSticky(fmt.Errorf("tail: %w", err))
		return false
	}
	now := time.Now()
	if !c.moved {
		c.moved = true
		c.quietSince = now
	}
	if now.Sub(c.quietSince) < t.cfg.RotateWait {
		return false
	}
	t.readToEOF(c)
	if t.stopping() {
		return false
	}
	t.flushPending(c)
	t.rotations.Add(1)
	t.release(c)
	return true
}

func (t *Tailer) release(c *file) {
	_ = c.f.Close()
	t.pending.Reset()
	t.cur = nil
}

// countPrefix counts the lines before the start offset. It reports false
// when interrupted by Shutdown.
func (t *Tailer) countPrefix(c *file) bool {
	var lines, lastEnd, off int64
	for off < c.prefix {
		if t.stopping() {
			return false
		}
		n := int64(len(t.buf))
		if rest := c.prefix - off; rest < n {
			n = rest
		}
		m, err := c.f.ReadAt(t.buf[:n], off)
		chunk := t.buf[:m]
		lines += int64(bytes.Count(chunk, []byte{'\n'}))
		if i := bytes.LastIndexByte(chunk, '\n'); i >= 0 {
			lastEnd = off + int64(i) + 1
		}
		off += int64(m)
		if err != nil {
			if err != io.EOF {
				t.reportSticky(fmt.Errorf("tail: read %s: %w", t.cfg.Path, err))
			}
			// Shrunk meanwhile: the truncation check takes over.
			break
		}
	}
	if c.toLastNL {
		c.pos, c.committed = lastEnd, lastEnd
	}
	c.line = lines
	c.prefix = -1
	c.toLastNL = false
	return true
}

// readToEOF reads from c.pos to the end of the file, delivering lines, and
// returns the number of bytes read. It stops early at Shutdown.
func (t *Tailer) readToEOF(c *file) int64 {
	var total int64
	for !t.stopping() {
		m, err := c.f.ReadAt(t.buf, c.pos)
		// New bytes wait, read but not delivered, while Pause holds
		// (stopped meanwhile: c.pos has not moved, they are read again).
		if m > 0 && !t.loop.WaitWhile(t.cfg.Pause, t.paused) {
			break
		}
		if m > 0 {
			total += int64(m)
			t.bytes.Add(uint64(m))
			t.consume(c, t.buf[:m])
		}
		if err != nil {
			if err != io.EOF {
				t.reportSticky(fmt.Errorf("tail: read %s: %w", t.cfg.Path, err))
			}
			break
		}
		if m == 0 {
			break
		}
	}
	return total
}

// consume splits chunk, read at c.pos, into lines.
func (t *Tailer) consume(c *file, chunk []byte) {
	for len(chunk) > 0 {
		i := bytes.IndexByte(chunk, '\n')
		if i < 0 {
			t.pending.Hold(chunk)
			c.pos += int64(len(chunk))
			return
		}
		c.pos += int64(i) + 1
		t.deliver(c, chunk[:i])
		c.committed = c.pos
		chunk = chunk[i+1:]
	}
}

// flushPending delivers a held partial line: the file will not get its
// newline (it was rotated or truncated).
func (t *Tailer) flushPending(c *file) {
	if !t.pending.Held() {
		return
	}
	t.deliver(c, nil)
	c.committed = c.pos
}

// deliver delivers the line that ends with last (after what is held).
func (t *Tailer) deliver(c *file, last []byte) {
	text, full := t.pending.Line(last)
	c.line++
	if err := t.pending.TooLong(t.cfg.Path, c.line, full); err != nil {
		t.report(fmt.Errorf("tail: %w", err))
	}
	t.lines.Add(1)
	t.emit(Line{Source: t.cfg.Path, Number: c.line, Text: text})
	t.pending.Reset()
}

// save stores the offset after the last delivered line, at most every
// SaveInterval unless forced.
func (t *Tailer) save(force bool) {
	c := t.cur
	if t.cfg.Offsets == nil || c == nil || c.prefix >= 0 {
		return
	}
	if t.saved && t.savedIno == c.ino && t.savedOff == c.committed {
		return
	}
	now := time.Now()
	if !force && now.Sub(t.lastSave) < t.cfg.SaveInterval {
		return
	}
	t.lastSave = now
	if err := t.cfg.Offsets.Save(t.cfg.Path, c.ino, c.committed); err != nil {
		t.reportSticky(fmt.Errorf("tail: save offset of %s: %w", t.cfg.Path, err))
		return
	}
	t.saved, t.savedIno, t.savedOff = true, c.ino, c.committed
}

// paused counts a pause for Config.Pause.
func (t *Tailer) paused() {
	t.pauses.Add(1)
	if t.cfg.OnPause != nil {
		t.cfg.OnPause(t.cfg.Path)
	}
}

func (t *Tailer) report(err error) {
	t.errs.Add(1)
	if t.cfg.OnError != nil {
		t.cfg.OnError(t.cfg.Path, err)
	}
}

// reportSticky reports err unless it is the same as the last sticky error,
// so that a condition lasting many polls is reported once.
func (t *Tailer) reportSticky(err error) {
	if msg := err.Error(); msg != t.stickyErr {
		t.stickyErr = msg
		t.report(err)
	}
}
