package logread

import (
	"bufio"
	"compress/gzip"
	"io"
	"strings"
	"sync/atomic"
)

// LineCounters are the counters a Lines adds to; nil ones are skipped.
type LineCounters struct {
	// Lines counts lines delivered, Bytes bytes read (after
	// decompression, newlines included), Pauses pauses for Pause.
	Lines, Bytes, Pauses *atomic.Uint64
}

// Lines reads whole log objects line by line — a file of collector/albdir,
// an S3 object of collector/albs3 — holding while Pause reports true and
// stopping when Loop stops. Create it with NewLines. One goroutine only.
type Lines struct {
	loop     *Loop
	br       *bufio.Reader
	held     LineBuf
	pause    func() bool
	onPause  func(source string)
	counters LineCounters
}

// NewLines returns a Lines reading through a buffer of bufSize bytes
// (lines longer than it are assembled in pieces), delivering at most max
// bytes of a line, stopping with loop, holding while pause reports true
// (nil: never) and calling onPause (nil: nothing) with the source once
// per pause.
func NewLines(loop *Loop, bufSize, max int, pause func() bool, onPause func(source string), c LineCounters) *Lines {
	return &Lines{loop: loop, br: bufio.NewReaderSize(nil, bufSize), held: LineBuf{Max: max},
		pause: pause, onPause: onPause, counters: c}
}

// Decompress returns src gunzipped when name ends in .gz (concatenated
// gzip members included) and src itself otherwise. An empty .gz object
// has no lines. close releases the gzip reader.
func Decompress(name string, src io.Reader) (r io.Reader, close func(), err error) {
	if !strings.HasSuffix(name, ".gz") {
		return src, func() {}, nil
	}
	zr, err := gzip.NewReader(src)
	switch {
	case err == io.EOF:
		return eofReader{}, func() {}, nil
	case err != nil:
		return nil, nil, err
	}
	return zr, func() { _ = zr.Close() }, nil
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

func add(c *atomic.Uint64, n uint64) {
	if c != nil {
		c.Add(n)
	}
}

// Read calls deliver with every line of src after the first skip, its
// 1-based number and its text cut to max bytes (valid only during the
// call) plus the error to report when it was cut (wrapping
// ErrLineTooLong), and returns the number of lines read, skipped ones
// included. A last line without newline is delivered at EOF and dropped
// on a read error, which is returned. complete is false when the loop
// stopped first.
func (l *Lines) Read(source string, src io.Reader, skip int64, deliver func(n int64, text []byte, tooLong error)) (n int64, complete bool, err error) {
	br := l.br
	br.Reset(src)
	defer br.Reset(nil)
	l.held.Reset()
	onPause := func() {
		add(l.counters.Pauses, 1)
		if l.onPause != nil {
			l.onPause(source)
		}
	}
	for {
		if l.loop.Stopping() {
			return n, false, nil
		}
		b, err := br.ReadSlice('\n')
		// A line (or part of one) waits, read but not delivered, while
		// Pause holds; stopped meanwhile, it is read again on resuming.
		if len(b) > 0 && !l.loop.WaitWhile(l.pause, onPause) {
			return n, false, nil
		}
		add(l.counters.Bytes, uint64(len(b)))
		if err == bufio.ErrBufferFull {
			l.held.Hold(b)
			continue
		}
		if err == nil {
			b = b[:len(b)-1]
		} else if err != io.EOF || (len(b) == 0 && !l.held.Held()) {
			if err == io.EOF {
				err = nil
			}
			return n, true, err
		}
		n++
		if n > skip {
			text, full := l.held.Line(b)
			add(l.counters.Lines, 1)
			deliver(n, text, l.held.TooLong(source, n, full))
		}
		l.held.Reset()
		if err == io.EOF {
			return n, true, nil
		}
	}
}
