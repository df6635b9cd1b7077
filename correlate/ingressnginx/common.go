package ingressnginx

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hopscope/hopscope/correlate"
	"github.com/hopscope/hopscope/correlate/internal/logparse"
)

// Resolution is the precision of nginx's logged durations.
const Resolution = time.Millisecond

var (
	errMissing = errors.New("missing")
	errTime    = errors.New("not a time in nginx's format")
)

// maxDuration bounds a logged duration (about 31.7 years) and maxEpoch the
// seconds of msec (year 2255), so that no arithmetic overflows.
const (
	maxDuration = 1_000_000_000
	maxEpoch    = 9_000_000_000
)

// parseSeconds parses a non-negative decimal number of seconds (at most 9
// decimal places, whole seconds at most maxSec) exactly.
func parseSeconds(s string, maxSec int64) (time.Duration, error) {
	d, _, err := logparse.ParseSeconds(s, maxSec)
	return d, err
}

// parseStatus parses a three-digit status code; "-" and "" are 0.
func parseStatus(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	return logparse.ParseStatus(s)
}

// parseTimeLocal parses nginx's $time_local, "26/Nov/2026:03:30:38 +0100",
// and returns the instant in UTC.
func parseTimeLocal(s string) (time.Time, error) {
	// 02/Jan/2006:15:04:05 -0700
	if len(s) != 26 || s[2] != '/' || s[6] != '/' || s[11] != ':' || s[14] != ':' || s[17] != ':' || s[20] != ' ' {
		return time.Time{}, errTime
	}
	mon := logparse.Month(s[3:6])
	if mon == 0 {
		return time.Time{}, errTime
	}
	return makeTime(num(s[7:11]), mon, num(s[0:2]), num(s[12:14]), num(s[15:17]), num(s[18:20]), s[21:])
}

// parseISO8601 parses nginx's $time_iso8601, "2026-11-26T03:30:38+01:00"
// ("Z" is accepted for the offset too), and returns the instant in UTC.
func parseISO8601(s string) (time.Time, error) {
	// 2006-01-02T15:04:05-07:00
	if len(s) < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return time.Time{}, errTime
	}
	return makeTime(num(s[0:4]), num(s[5:7]), num(s[8:10]), num(s[11:13]), num(s[14:16]), num(s[17:19]), s[19:])
}

// makeTime checks the parts of a date and time (a part that was not all
// digits is -1) and an offset "+hhmm", "+hh:mm" (or with '-') or "Z", and
// returns the instant in UTC.
func makeTime(y, mo, d, h, mi, sec int, off string) (time.Time, error) {
	if y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 60 {
		return time.Time{}, errTime
	}
	var offset int
	if off != "Z" {
		mm := off[min(3, len(off)):] // "mm" of "+hhmm", ":mm" of "+hh:mm"
		if len(off) == 6 && off[3] == ':' {
			mm = off[4:]
		}
		if len(off) < 3 || len(mm) != 2 || off[0] != '+' && off[0] != '-' {
			return time.Time{}, errTime
		}
		oh, om := num(off[1:3]), num(mm)
		if oh < 0 || oh > 23 || om < 0 || om > 59 {
			return time.Time{}, errTime
		}
		offset = oh*3600 + om*60
		if off[0] == '-' {
			offset = -offset
		}
	}
	t := time.Date(y, time.Month(mo), d, h, mi, sec, 0, time.UTC)
	if t.Day() != d { // 31 April and the like
		return time.Time{}, errTime
	}
	return t.Add(-time.Duration(offset) * time.Second), nil
}

// num parses the digits of a date's part; it returns -1 for anything else.
func num(s string) int { return logparse.Num(s) }

// listIter walks an nginx upstream list: entries separated by ", "
// (attempts within one upstream block) or " : " (internal redirects).
type listIter struct {
	s    string
	done bool
}

func newList(s string) listIter { return listIter{s: s, done: s == ""} }

func (it *listIter) next() (string, bool) {
	if it.done {
		return "", false
	}
	s := it.s
	comma := strings.IndexByte(s, ',')
	colon := strings.Index(s, " : ")
	var item string
	switch {
	case comma < 0 && colon < 0:
		item, it.done = s, true
	case colon < 0 || comma >= 0 && comma < colon:
		item, it.s = s[:comma], s[comma+1:]
	default:
		item, it.s = s[:colon], s[colon+3:]
	}
	return strings.TrimSpace(item), true
}

// count returns the number of entries of a list.
func (it listIter) count() int {
	n := 0
	for {
		if _, ok := it.next(); !ok {
			return n
		}
		n++
	}
}

// noList reports whether a list value carries no entries at all.
func noList(s string) bool { return s == "" || s == "-" }

// upstreamLists are the raw upstream variables of one line.
type upstreamLists struct {
	addr, status, connect, header, response string
}

// listField names a list in errors: what goes after "field " for each of
// addr, status, connect, header and response.
type listFields [5]string

// tries builds the attempts from the parallel upstream lists.
func tries(l upstreamLists, names listFields) ([]correlate.UpstreamTry, error) {
	if noList(l.addr) {
		return nil, nil
	}
	addrs := newList(l.addr)
	n := addrs.count()
	out := make([]correlate.UpstreamTry, n)
	for i := range out {
		out[i].Addr, _ = addrs.next()
	}
	if !noList(l.status) {
		it := newList(l.status)
		if c := it.count(); c != n {
			return nil, fmt.Errorf("field %s: %s: %w", names[1], logparse.Quote(l.status), countErr(c, n))
		}
		for i := range out {
			v, _ := it.next()
			s, err := parseStatus(v)
			if err != nil {
				return nil, fmt.Errorf("field %s: entry %d %s: %w", names[1], i+1, logparse.Quote(v), err)
			}
			out[i].Status = s
		}
	}
	for k, list := range [3]string{l.connect, l.header, l.response} {
		if noList(list) {
			continue
		}
		it := newList(list)
		if c := it.count(); c != n {
			return nil, fmt.Errorf("field %s: %s: %w", names[2+k], logparse.Quote(list), countErr(c, n))
		}
		for i := range out {
			v, _ := it.next()
			var d time.Duration
			if v != "-" {
				var err error
				if d, err = parseSeconds(v, maxDuration); err != nil {
					return nil, fmt.Errorf("field %s: entry %d %s: %w", names[2+k], i+1, logparse.Quote(v), err)
				}
			}
			switch k {
			case 0:
				out[i].Connect = d
			case 1:
				out[i].Header = d
			default:
				out[i].Response = d
			}
		}
	}
	return out, nil
}

func countErr(got, want int) error {
	return fmt.Errorf("%d entries, upstream_addr has %d", got, want)
}

// setTraceKeys sets TraceID and XRayRoot from the traceparent and
// X-Amzn-Trace-Id header values.
func setTraceKeys(k *correlate.Keys, traceparent, amzn string) {
	if id, ok := logparse.TraceparentID(traceparent); ok {
		k.TraceID = id
	}
	if root, id := logparse.XRayRoot(amzn); root != "" {
		k.XRayRoot = root
		if k.TraceID == "" {
			k.TraceID = id
		}
	}
}

// dash maps nginx's "-" for an unset variable to "".
func dash(s string) string {
	if s == "-" {
		return ""
	}
	return s
}
