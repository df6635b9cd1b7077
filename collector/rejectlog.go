package collector

import (
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"
)

// Rejection logging: every refused input is counted in
// hopscope_collector_rejected_total{source,reason} (reason a fixed word),
// and logged at Warn with why — the parse error names the field — at most
// once per rejectLogEvery per source, with the number of rejections since
// the source's previous line. Texts are cut to maxRejectTextBytes: raw
// lines are never logged, but an error may quote part of one (a URL with
// its query string).
const (
	rejectLogEvery     = 10 * time.Second
	maxRejectTextBytes = 200
)

// rejectLog rate-limits the rejection lines per source. Its state is one
// entry per source name, a fixed set (the Src* constants).
type rejectLog struct {
	log   *zap.Logger
	every time.Duration

	mu sync.Mutex
	by map[string]*rejectState
}

type rejectState struct {
	logged time.Time // when the source's last line was written
	count  int       // rejections since then
	reason string    // of the last rejection
	where  string
	err    string
}

func newRejectLog(log *zap.Logger, every time.Duration) *rejectLog {
	return &rejectLog{log: log, every: every, by: map[string]*rejectState{}}
}

// note records one rejection: where is the input's origin (file:line,
// forward tag, peer), err why it was refused (nil when the reason says it
// all). It logs at once when the source logged nothing for every.
func (r *rejectLog) note(now time.Time, source, reason, where string, err error) {
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	r.mu.Lock()
	st := r.by[source]
	if st == nil {
		st = &rejectState{}
		r.by[source] = st
	}
	st.count++
	st.reason, st.where, st.err = reason, clip(where), clip(msg)
	var line []zap.Field
	if st.logged.IsZero() || now.Sub(st.logged) >= r.every {
		line = r.take(now, source, st)
	}
	r.mu.Unlock()
	if line != nil {
		r.log.Warn("input rejected", line...)
	}
}

// flush logs the rejections not logged yet of every source whose last
// line is older than every (all of them when force is set: shutdown).
func (r *rejectLog) flush(now time.Time, force bool) {
	var lines [][]zap.Field
	r.mu.Lock()
	for source, st := range r.by {
		if st.count > 0 && (force || now.Sub(st.logged) >= r.every) {
			lines = append(lines, r.take(now, source, st))
		}
	}
	r.mu.Unlock()
	for _, l := range lines {
		r.log.Warn("input rejected", l...)
	}
}

// take builds the line of st and starts its next period. r.mu is held.
func (r *rejectLog) take(now time.Time, source string, st *rejectState) []zap.Field {
	// count: rejections of the source since its previous line (over
	// since_previous), this one included.
	f := []zap.Field{zap.String("source", source), zap.String("reason", st.reason), zap.Int("count", st.count)}
	if !st.logged.IsZero() {
		f = append(f, zap.Duration("since_previous", now.Sub(st.logged)))
	}
	if st.where != "" {
		f = append(f, zap.String("input", st.where))
	}
	if st.err != "" {
		f = append(f, zap.String("error", st.err))
	}
	st.logged, st.count = now, 0
	return f
}

// clip makes s one line of at most maxRejectTextBytes bytes, cut at a
// character boundary.
func clip(s string) string {
	s = strings.ReplaceAll(s, "\n", "; ")
	if len(s) <= maxRejectTextBytes {
		return s
	}
	cut := maxRejectTextBytes
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
