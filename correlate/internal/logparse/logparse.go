// Package logparse holds the helpers that the access-log parsers
// (correlate/alb, correlate/haproxy, correlate/ingressnginx,
// correlate/envoy and correlate/traefik) share: exact decimal seconds,
// status codes, request lines and paths, the W3C traceparent, B3 and X-Ray
// Root join keys, hex escapes, a left-to-right field scanner, and the
// scalar values of a flat JSON object.
//
// The helpers return bare sentinel errors (ErrNotDecimal, …) or report
// failure with ok or -1; each parser wraps them with its own format's
// name and field ("ALB log: field 6 request_processing_time: …"), so that
// no message here names a format.
//
// Trace keys are read leniently: a traceparent or X-Amzn-Trace-Id that is
// not well formed yields no key and is not an error, since clients send
// anything. XRayRoot in particular looks only at the Root field; unlike
// correlate/xray, which rejects a whole header for a bad Parent or Sampled
// field, it keeps a valid Root whatever the other fields hold.
//
// Like the parsers, the package is pure: no I/O, no state, no clock.
package logparse

import (
	"errors"
	"fmt"
	"github.com/hopscope/hopscope/internal/tracectx"
	"strings"
	"time"
)

// Errors of ParseSeconds and ParseStatus. The parsers wrap them with the
// field they were reading.
var (
	ErrEmpty      = errors.New("empty value")
	ErrNotDecimal = errors.New("not a decimal number of seconds")
	ErrFracDigits = errors.New("more than 9 decimal places")
	ErrRange      = errors.New("out of range")
	ErrStatus     = errors.New("not a three-digit status code")
)

// pow10ns[k] is 10^k nanoseconds.
var pow10ns = [10]time.Duration{1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9}

// ParseSeconds parses a non-negative decimal number of seconds ("0.048",
// "61", at most 9 decimal places, whole seconds at most maxSec) exactly,
// without floating point. res is the precision it was written with: 1 ms
// for "0.048", 1 s for "61".
func ParseSeconds(s string, maxSec int64) (d, res time.Duration, err error) {
	if s == "" {
		return 0, 0, ErrEmpty
	}
	var sec int64
	i := 0
	for ; i < len(s) && s[i] != '.'; i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, 0, ErrNotDecimal
		}
		sec = sec*10 + int64(c-'0')
		if sec > maxSec {
			return 0, 0, ErrRange
		}
	}
	if i == 0 {
		return 0, 0, ErrNotDecimal
	}
	var frac int64
	digits := 0
	if i < len(s) {
		i++ // '.'
		if i == len(s) {
			return 0, 0, ErrNotDecimal
		}
		for ; i < len(s); i++ {
			c := s[i]
			if c < '0' || c > '9' {
				return 0, 0, ErrNotDecimal
			}
			if digits == 9 {
				return 0, 0, ErrFracDigits
			}
			frac = frac*10 + int64(c-'0')
			digits++
		}
	}
	res = pow10ns[9-digits]
	return time.Duration(sec)*time.Second + time.Duration(frac)*res, res, nil
}

// ParseStatus parses a three-digit status code; "-" is 0.
func ParseStatus(s string) (int, error) {
	if s == "-" {
		return 0, nil
	}
	if len(s) != 3 {
		return 0, ErrStatus
	}
	n := 0
	for i := range 3 {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, ErrStatus
		}
		n = n*10 + int(c-'0')
	}
	return n, nil
}

// Num parses a short string of decimal digits (a date's parts); it returns
// -1 for anything else, the empty string included.
func Num(s string) int {
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

var months = [12]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}

// Month returns the number (1 to 12) of an English month abbreviation as
// Apache-style log dates write it ("Nov"), or 0.
func Month(s string) int {
	for i, m := range months {
		if s == m {
			return i + 1
		}
	}
	return 0
}

// Quote quotes v for an error message, shortened to 64 bytes.
func Quote(v string) string {
	if len(v) > 64 {
		return fmt.Sprintf("%q…", v[:64])
	}
	return fmt.Sprintf("%q", v)
}

// RequestLine splits a logged request line "METHOD TARGET VERSION" and
// returns the method and the target's path; what cannot be found is
// empty. The version is the last word; a target may contain spaces (load
// balancers log such requests), and without a version (HTTP/0.9) the
// target is the rest.
func RequestLine(r string) (method, path string) {
	method, target, ok := strings.Cut(r, " ")
	if !ok {
		return "", ""
	}
	if !IsToken(method) {
		method = ""
	}
	if k := strings.LastIndexByte(target, ' '); k >= 0 {
		target = target[:k]
	}
	return method, PathOf(target)
}

// PathOf returns the path of a request target in origin form ("/p?q") or
// absolute form ("https://host:443/p?q"), without query and fragment and
// not percent-decoded. It is "*" for the asterisk form and "" for anything
// else.
func PathOf(target string) string {
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

// IsToken reports whether s is an HTTP token (RFC 9110), which a method
// must be. "-", which logs write for "no method", is not one.
func IsToken(s string) bool {
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

// TraceparentID validates a W3C traceparent value (surrounding spaces and
// tabs ignored) and returns its trace id. Version 00 must be exactly
// 00-<32 hex>-<16 hex>-<2 hex>; a later version (not ff) may append "-"
// and more. Hex digits are lower case and neither id may be all zeros.
func TraceparentID(v string) (string, bool) {
	tp, err := tracectx.ParseTraceparent(TrimOWS(v))
	return tp.TraceIDHex, err == nil
}

// XRayRoot finds the Root field of an X-Amzn-Trace-Id value
// ("Self=1-…;Root=1-58337262-36d228ad5d99923122bbe354;…") and returns it
// and the trace id it holds (its two hex parts, lower case). Both are
// empty when there is no well-formed Root; the other fields are not
// looked at.
func XRayRoot(h string) (root, traceID string) {
	root = tracectx.XRayHeaderRoot(h)
	if root == "" {
		return "", ""
	}
	traceID, _ = tracectx.XRayRootTraceID(root)
	return root, traceID
}

// RootTraceID validates an X-Ray Root, 1-<8 hex>-<24 hex> (either case)
// with a trace id that is not all zeros, and returns the trace id in lower
// case.
func RootTraceID(r string) (string, bool) { return tracectx.XRayRootTraceID(r) }

// TrimOWS removes the optional white space (spaces and tabs) of RFC 9110
// around a header value or field.
func TrimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// Unhex returns the value of a hex digit (either case), or -1.
func Unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// UnescapeHex replaces every escape followed by two hex digits with the
// byte they stand for: HAProxy writes "#22" for '"' (escape "#"), nginx
// "\x22" (escape `\x`). An escape not followed by two hex digits is kept
// as it is.
func UnescapeHex(s, escape string) string {
	if !strings.Contains(s, escape) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if j := i + len(escape); j+1 < len(s) && strings.HasPrefix(s[i:], escape) {
			if hi, lo := Unhex(s[j]), Unhex(s[j+1]); hi >= 0 && lo >= 0 {
				b.WriteByte(byte(hi<<4 | lo))
				i = j + 1
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Scanner reads the space-separated fields of a log line from left to
// right. Parsers embed it and read enclosed fields ("…", […], {…})
// themselves from Line[Pos:].
type Scanner struct {
	Line string // the line
	Pos  int    // offset of the next byte to read
}

// SkipSpaces moves Pos past a run of spaces.
func (p *Scanner) SkipSpaces() {
	for p.Pos < len(p.Line) && p.Line[p.Pos] == ' ' {
		p.Pos++
	}
}

// Word skips spaces and reads a field that holds no space; ok is false at
// the end of the line.
func (p *Scanner) Word() (w string, ok bool) {
	p.SkipSpaces()
	if p.Pos == len(p.Line) {
		return "", false
	}
	start := p.Pos
	for p.Pos < len(p.Line) && p.Line[p.Pos] != ' ' {
		p.Pos++
	}
	return p.Line[start:p.Pos], true
}

// B3TraceID validates an X-B3-TraceId value (surrounding spaces and tabs
// ignored): 16 or 32 hex digits of either case, not all zeros. It returns
// the trace id as 32 lower-case hex digits; a 64-bit id is padded on the
// left with zeros, as the B3 specification says to widen it.
func B3TraceID(v string) (string, bool) {
	v = TrimOWS(v)
	if len(v) != 16 && len(v) != 32 {
		return "", false
	}
	zero := true
	for i := 0; i < len(v); i++ {
		if Unhex(v[i]) < 0 {
			return "", false
		}
		zero = zero && v[i] == '0'
	}
	if zero {
		return "", false
	}
	v = strings.ToLower(v)
	if len(v) == 16 {
		v = "0000000000000000" + v
	}
	return v, true
}
