package ingressnginx

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hopscope/hopscope/correlate"
)

// Resolution is the precision of nginx's logged durations.
const Resolution = time.Millisecond

var (
	errMissing    = errors.New("missing")
	errEmpty      = errors.New("empty value")
	errNotDecimal = errors.New("not a decimal number of seconds")
	errFracDigits = errors.New("more than 9 decimal places")
	errRange      = errors.New("out of range")
	errStatus     = errors.New("not a three-digit status code")
	errTime       = errors.New("not a time in nginx's format")
)

// maxDuration bounds a logged duration (about 31.7 years) and maxEpoch the
// seconds of msec (year 2255), so that no arithmetic overflows.
const (
	maxDuration = 1_000_000_000
	maxEpoch    = 9_000_000_000
)

// pow10ns[k] is 10^k nanoseconds.
var pow10ns = [10]time.Duration{1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9}

// parseSeconds parses a non-negative decimal number of seconds (at most 9
// decimal places, whole seconds at most maxSec) exactly.
func parseSeconds(s string, maxSec int64) (time.Duration, error) {
	if s == "" {
		return 0, errEmpty
	}
	var sec int64
	i := 0
	for ; i < len(s) && s[i] != '.'; i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, errNotDecimal
		}
		sec = sec*10 + int64(c-'0')
		if sec > maxSec {
			return 0, errRange
		}
	}
	if i == 0 {
		return 0, errNotDecimal
	}
	var frac int64
	digits := 0
	if i < len(s) {
		i++ // '.'
		if i == len(s) {
			return 0, errNotDecimal
		}
		for ; i < len(s); i++ {
			c := s[i]
			if c < '0' || c > '9' {
				return 0, errNotDecimal
			}
			if digits == 9 {
				return 0, errFracDigits
			}
			frac = frac*10 + int64(c-'0')
			digits++
		}
	}
	return time.Duration(sec)*time.Second + time.Duration(frac)*pow10ns[9-digits], nil
}

// parseStatus parses a three-digit status code; "-" and "" are 0.
func parseStatus(s string) (int, error) {
	if s == "-" || s == "" {
		return 0, nil
	}
	if len(s) != 3 {
		return 0, errStatus
	}
	n := 0
	for i := range 3 {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, errStatus
		}
		n = n*10 + int(c-'0')
	}
	return n, nil
}

var months = [12]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}

// parseTimeLocal parses nginx's $time_local, "26/Nov/2026:03:30:38 +0100",
// and returns the instant in UTC.
func parseTimeLocal(s string) (time.Time, error) {
	// 02/Jan/2006:15:04:05 -0700
	if len(s) != 26 || s[2] != '/' || s[6] != '/' || s[11] != ':' || s[14] != ':' || s[17] != ':' || s[20] != ' ' {
		return time.Time{}, errTime
	}
	mon := 0
	for i, m := range months {
		if s[3:6] == m {
			mon = i + 1
			break
		}
	}
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

// num parses a short string of decimal digits; it returns -1 for anything
// else.
func num(s string) int {
	if s == "" {
		return -1
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int(c-'0')
	}
	return n
}

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
			return nil, fmt.Errorf("field %s: %s: %w", names[1], quote(l.status), countErr(c, n))
		}
		for i := range out {
			v, _ := it.next()
			s, err := parseStatus(v)
			if err != nil {
				return nil, fmt.Errorf("field %s: entry %d %s: %w", names[1], i+1, quote(v), err)
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
			return nil, fmt.Errorf("field %s: %s: %w", names[2+k], quote(list), countErr(c, n))
		}
		for i := range out {
			v, _ := it.next()
			var d time.Duration
			if v != "-" {
				var err error
				if d, err = parseSeconds(v, maxDuration); err != nil {
					return nil, fmt.Errorf("field %s: entry %d %s: %w", names[2+k], i+1, quote(v), err)
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

// quote quotes v for an error message, shortened to 64 bytes.
func quote(v string) string {
	if len(v) > 64 {
		return fmt.Sprintf("%q…", v[:64])
	}
	return fmt.Sprintf("%q", v)
}

// requestLine splits "METHOD TARGET VERSION" and returns the method and the
// target's path; what cannot be found is empty.
func requestLine(r string) (method, path string) {
	method, target, ok := strings.Cut(r, " ")
	if !ok {
		return "", ""
	}
	if !isToken(method) {
		method = ""
	}
	// The version is the last word; without one (HTTP/0.9) the target is
	// the rest.
	if k := strings.LastIndexByte(target, ' '); k >= 0 {
		target = target[:k]
	}
	return method, pathOf(target)
}

// pathOf returns the path of a request target in origin form ("/p?q") or
// absolute form ("https://host/p?q"), without query and fragment; "*" for
// the asterisk form and "" for anything else.
func pathOf(target string) string {
	switch {
	case target == "*":
		return "*"
	case strings.HasPrefix(target, "/"):
	default:
		i := strings.Index(target, "://")
		if i <= 0 {
			return ""
		}
		rest := target[i+3:]
		j := strings.IndexAny(rest, "/?#")
		if j < 0 || rest[j] != '/' {
			return ""
		}
		target = rest[j:]
	}
	if j := strings.IndexAny(target, "?#"); j >= 0 {
		target = target[:j]
	}
	return target
}

// isToken reports whether s is an HTTP token (RFC 9110), as a method is.
func isToken(s string) bool {
	if s == "" || s == "-" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// setTraceKeys sets TraceID and XRayRoot from the traceparent and
// X-Amzn-Trace-Id header values.
func setTraceKeys(k *correlate.Keys, traceparent, amzn string) {
	if id, ok := traceparentID(traceparent); ok {
		k.TraceID = id
	}
	if root, id := xrayRoot(amzn); root != "" {
		k.XRayRoot = root
		if k.TraceID == "" {
			k.TraceID = id
		}
	}
}

// traceparentID validates a W3C traceparent value and returns its trace id.
// Version 00 must be exactly 00-<32 hex>-<16 hex>-<2 hex>; a later version
// (not ff) may append "-" and more. Hex digits are lower case and neither
// id may be all zeros.
func traceparentID(v string) (string, bool) {
	v = trimOWS(v)
	if len(v) < 55 || v[2] != '-' || v[35] != '-' || v[52] != '-' {
		return "", false
	}
	if !isLowerHex(v[0:2]) || v[0:2] == "ff" || !isLowerHex(v[53:55]) {
		return "", false
	}
	if v[0:2] == "00" && len(v) != 55 || len(v) > 55 && v[55] != '-' {
		return "", false
	}
	trace, parent := v[3:35], v[36:52]
	if !isLowerHex(trace) || !isLowerHex(parent) || allZeros(trace) || allZeros(parent) {
		return "", false
	}
	return trace, true
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func allZeros(s string) bool {
	return strings.Trim(s, "0") == ""
}

// xrayRoot finds the Root field of an X-Amzn-Trace-Id value and returns it
// and the trace id it holds (its two hex parts, lower case). Both are empty
// when there is no well-formed Root.
func xrayRoot(h string) (root, traceID string) {
	for rest := h; rest != ""; {
		var field string
		field, rest, _ = strings.Cut(rest, ";")
		key, val, ok := strings.Cut(field, "=")
		if !ok || trimOWS(key) != "Root" {
			continue
		}
		val = trimOWS(val)
		if id, ok := rootTraceID(val); ok {
			return val, id
		}
	}
	return "", ""
}

// rootTraceID validates an X-Ray Root, 1-<8 hex>-<24 hex> with a trace id
// that is not all zeros, and returns the trace id in lower case.
func rootTraceID(r string) (string, bool) {
	if len(r) != 35 || r[0] != '1' || r[1] != '-' || r[10] != '-' {
		return "", false
	}
	var id [32]byte
	var or byte
	n := 0
	for i := 2; i < 35; i++ {
		if i == 10 {
			continue
		}
		c := r[i]
		switch {
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f':
		case 'A' <= c && c <= 'F':
			c += 'a' - 'A'
		default:
			return "", false
		}
		id[n] = c
		or |= c - '0'
		n++
	}
	if or == 0 {
		return "", false
	}
	return string(id[:]), true
}

func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// dash maps nginx's "-" for an unset variable to "".
func dash(s string) string {
	if s == "-" {
		return ""
	}
	return s
}
