package cli

import (
	"bufio"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Some libraries print to os.Stderr themselves, with no logger to hand
// them: fluent-logger-golang writes "[<time>] Unable to send logs to
// fluentd, reconnecting..." about ten times a second while Fluent Bit is
// down. Plain lines among the JSON ones break log pipelines that parse
// stderr as JSON, so while a command runs, os.Stderr is a pipe whose lines
// are logged as JSON through the command's logger. The logger itself
// writes to the stderr it was given (the original file), as do the log
// and grpclog packages and the runtime, which took os.Stderr at start.

// stderrEvery rate-limits the lines of one text: the first is logged at
// once, the next after stderrEvery with the number of lines since.
const stderrEvery = 10 * time.Second

var stderrCapture struct {
	mu   sync.Mutex
	refs int
	orig *os.File
	w    *os.File
	done chan struct{}
}

// CaptureStderr routes what is printed to os.Stderr through logger until
// the returned function is called. Nested calls share the first capture.
func CaptureStderr(logger *zap.Logger) (restore func()) {
	c := &stderrCapture
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.refs == 0 {
		r, w, err := os.Pipe()
		if err != nil {
			logger.Warn("library output on stderr stays unstructured", zap.Error(err))
			return func() {}
		}
		c.orig, c.w, c.done = os.Stderr, w, make(chan struct{})
		os.Stderr = w
		go relayStderr(r, logger.Named("stderr"), c.done, time.Now)
	}
	c.refs++
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.refs--; c.refs > 0 {
				return
			}
			os.Stderr = c.orig
			c.w.Close()
			<-c.done // every line read is logged
		})
	}
}

// timePrefix is the "[2026-12-06T10:00:00Z] " fluent-logger-golang puts
// before its messages: the JSON line has a time of its own.
var timePrefix = regexp.MustCompile(`^\[[0-9]{4}-[0-9]{2}-[0-9]{2}T[^\]]*\] `)

// relayStderr logs each line read from r at Warn, cut to 200 bytes, at
// most once per stderrEvery for the same text (with count, the lines of
// that text since the last one logged), until r ends; then closes done.
func relayStderr(r *os.File, logger *zap.Logger, done chan<- struct{}, now func() time.Time) {
	defer close(done)
	defer r.Close()
	type seen struct {
		at    time.Time
		count int
	}
	last := map[string]*seen{}
	log := func(text string) {
		text = strings.TrimRight(timePrefix.ReplaceAllString(text, ""), "\r\n")
		if text == "" {
			return
		}
		text = cut(text, 200)
		t := now()
		s := last[text]
		if s == nil {
			if len(last) >= 64 {
				clear(last) // many different texts: bound the memory
			}
			s = &seen{}
			last[text] = s
		}
		s.count++
		if !s.at.IsZero() && t.Sub(s.at) < stderrEvery {
			return
		}
		logger.Warn("library output on stderr", zap.String("text", text), zap.Int("count", s.count))
		s.at, s.count = t, 0
	}
	br := bufio.NewReaderSize(r, 4096)
	for {
		line, err := br.ReadSlice('\n')
		text := string(line)
		for err == bufio.ErrBufferFull { // a longer line: its start is enough
			_, err = br.ReadSlice('\n')
		}
		log(text)
		if err != nil {
			break
		}
	}
	for text, s := range last {
		if s.count > 0 { // held back by the rate limit
			logger.Warn("library output on stderr", zap.String("text", text), zap.Int("count", s.count))
		}
	}
}

// cut returns s cut to at most n bytes, on a UTF-8 boundary.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
