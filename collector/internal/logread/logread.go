// Package logread holds what the collector's log readers,
// collector/tail, collector/albdir and collector/albs3, share: the
// lifecycle of a reader that polls from one background goroutine between
// Start and Shutdown ([Loop]), the assembly of a line that arrives in
// pieces, kept to a maximum length ([LineBuf]), and the reading of a
// whole, possibly gzipped, log object line by line ([Lines],
// [Decompress]).
package logread

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrStarted is returned by Loop.Claim when the loop was started or shut
// down before.
var ErrStarted = errors.New("already started or shut down")

// ErrLineTooLong is wrapped by the errors LineBuf.TooLong returns (and
// the readers report as tail.ErrLineTooLong).
var ErrLineTooLong = errors.New("line too long")

// Loop runs a reader's poll function on one goroutine: at once, then
// every interval, until Stop. It starts once: after Shutdown it cannot be
// started again. Create it with NewLoop.
type Loop struct {
	mu      sync.Mutex
	started bool
	stopped bool
	stop    chan struct{}
	done    chan struct{}
}

// NewLoop returns a Loop that is not started.
func NewLoop() *Loop {
	return &Loop{stop: make(chan struct{}), done: make(chan struct{})}
}

// Claim marks the loop started, so that it is started once: it returns
// ErrStarted when it was started or shut down before. prepare, if not nil,
// runs first, under the loop's lock; when it fails, the loop is not
// started (a later Claim may try again) and its error is returned. After
// a successful Claim the caller must call Go.
func (l *Loop) Claim(prepare func() error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.started || l.stopped {
		return ErrStarted
	}
	if prepare != nil {
		if err := prepare(); err != nil {
			return err
		}
	}
	l.started = true
	return nil
}

// Go starts the goroutine: it calls poll at once and then interval after
// each poll returned, until Stop; then it calls finish and ends.
func (l *Loop) Go(interval time.Duration, poll, finish func()) {
	go func() {
		defer close(l.done)
		defer finish()
		timer := time.NewTimer(0)
		defer timer.Stop()
		for {
			select {
			case <-l.stop:
				return
			case <-timer.C:
			}
			poll()
			timer.Reset(interval)
		}
	}()
}

// Stop asks the goroutine to stop, without waiting for it: Stopping
// reports true from now on. It may be called more than once.
func (l *Loop) Stop() { l.halt() }

// halt stops the loop and reports whether it was started.
func (l *Loop) halt() (started bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.stopped {
		l.stopped = true
		close(l.stop)
	}
	return l.started
}

// Shutdown stops the loop and waits until the goroutine, if it was
// started, has ended. When ctx ends first, it returns ctx's error (the
// goroutine still finishes on its own).
func (l *Loop) Shutdown(ctx context.Context) error {
	if !l.halt() {
		return nil
	}
	select {
	case <-l.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stopping reports whether Stop or Shutdown was called. A long poll
// checks it to return early.
func (l *Loop) Stopping() bool {
	select {
	case <-l.stop:
		return true
	default:
		return false
	}
}

// PauseCheck is how often a reader paused by WaitWhile asks again.
const PauseCheck = 50 * time.Millisecond

// WaitWhile holds the poll while pause reports true — the memory limiter
// refusing input — so that the reader reads nothing and keeps its place.
// It returns true at once when pause is nil or reports false. Otherwise it
// calls onPause (when not nil), once, and asks pause again every
// PauseCheck: it returns true once pause reports false, false when the
// loop is stopped first.
func (l *Loop) WaitWhile(pause func() bool, onPause func()) bool {
	if pause == nil || !pause() {
		return true
	}
	if onPause != nil {
		onPause()
	}
	t := time.NewTicker(PauseCheck)
	defer t.Stop()
	for pause() {
		select {
		case <-l.stop:
			return false
		case <-t.C:
		}
	}
	return !l.Stopping()
}

// LineBuf assembles a line that arrives in pieces (it is longer than a
// read, or its newline has not been written yet), keeping at most Max
// bytes of it and counting the rest.
type LineBuf struct {
	// Max is the longest line kept, without its newline. Must be
	// positive.
	Max int

	held []byte // the first Max bytes, at most, of the pieces held
	n    int64  // the full length of the pieces held
}

// Hold appends a piece of a line that has not ended.
func (b *LineBuf) Hold(piece []byte) {
	if room := b.Max - len(b.held); room > 0 {
		b.held = append(b.held, piece[:min(room, len(piece))]...)
	}
	b.n += int64(len(piece))
}

// Held reports whether part of a line is held.
func (b *LineBuf) Held() bool { return b.n > 0 }

// Line returns the line that ends with the piece last (nil when it ends
// without one), cut to Max bytes, and its full length. When nothing is
// held the text is last itself; otherwise it is the LineBuf's buffer,
// valid until the next Hold. Reset the LineBuf once the line is used.
func (b *LineBuf) Line(last []byte) (text []byte, full int64) {
	if b.n == 0 {
		return last[:min(len(last), b.Max)], int64(len(last))
	}
	b.Hold(last)
	return b.held, b.n
}

// Reset drops what is held.
func (b *LineBuf) Reset() {
	b.held, b.n = b.held[:0], 0
}

// TooLong returns the error to report for line number n of path when its
// full length is more than Max bytes, and nil otherwise. The error wraps
// ErrLineTooLong.
func (b *LineBuf) TooLong(path string, n, full int64) error {
	if full <= int64(b.Max) {
		return nil
	}
	return fmt.Errorf("%s line %d: %d bytes, delivered the first %d: %w", path, n, full, b.Max, ErrLineTooLong)
}
