package alb

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hopscope/hopscope/correlate"
)

// Kind is the value of LoadBalancerLog.Kind for ALB records.
const Kind = "alb"

// numFields is the number of documented fields a line must have; fields
// after them are ignored.
const numFields = 29

// fieldNames are the documented names of the fields, in order (field n is
// fieldNames[n-1]).
var fieldNames = [numFields]string{
	"type", "time", "elb", "client:port", "target:port",
	"request_processing_time", "target_processing_time", "response_processing_time",
	"elb_status_code", "target_status_code", "received_bytes", "sent_bytes",
	"request", "user_agent", "ssl_cipher", "ssl_protocol", "target_group_arn",
	"trace_id", "domain_name", "chosen_cert_arn", "matched_rule_priority",
	"request_creation_time", "actions_executed", "redirect_url", "error_reason",
	"target:port_list", "target_status_code_list", "classification",
	"classification_reason",
}

// Indexes into the field array (field number − 1) of the fields mapped.
const (
	fTarget       = 4
	fRequestProc  = 5
	fTargetProc   = 6
	fResponseProc = 7
	fELBStatus    = 8
	fTargetStatus = 9
	fRequest      = 12
	fTraceID      = 17
	fCreationTime = 21
)

// maxSeconds bounds a timing so that the sum of three cannot overflow a
// time.Duration (about 31.7 years each).
const maxSeconds = 1_000_000_000

var (
	errUnterminated = errors.New("unterminated quote")
	errAfterQuote   = errors.New("closing quote not followed by a space")
	errEmpty        = errors.New("empty value")
	errNotDecimal   = errors.New("not a decimal number of seconds")
	errFracDigits   = errors.New("more than 9 decimal places")
	errRange        = errors.New("out of range")
	errStatus       = errors.New("not a three-digit status code")
	errTime         = errors.New("not an ISO 8601 time")
)

// Parse parses one ALB access-log entry (a trailing "\n" or "\r\n" is
// ignored). See the package documentation for the format and the mapping.
func Parse(line string) (correlate.LoadBalancerLog, error) {
	var f [numFields]string
	if err := split(line, &f); err != nil {
		return correlate.LoadBalancerLog{}, err
	}
	rec := correlate.LoadBalancerLog{Kind: Kind, Dispatched: true}

	var total time.Duration
	var res time.Duration
	for i := fRequestProc; i <= fResponseProc; i++ {
		d, r, ok, err := parseTiming(f[i])
		if err != nil {
			return correlate.LoadBalancerLog{}, fieldErr(i, f[i], err)
		}
		if !ok {
			rec.Dispatched = false
			continue
		}
		total += d
		if i == fTargetProc {
			rec.Target = d
		}
		res = max(res, r)
	}
	if rec.Dispatched {
		rec.Total = total
	} else {
		rec.Target = 0
	}
	if res == 0 {
		res = time.Millisecond
	}
	rec.Resolution = res

	var err error
	if rec.Status, err = parseStatus(f[fELBStatus]); err != nil {
		return correlate.LoadBalancerLog{}, fieldErr(fELBStatus, f[fELBStatus], err)
	}
	if rec.TargetStatus, err = parseStatus(f[fTargetStatus]); err != nil {
		return correlate.LoadBalancerLog{}, fieldErr(fTargetStatus, f[fTargetStatus], err)
	}
	if f[fCreationTime] != "-" {
		t, err := time.Parse(time.RFC3339Nano, f[fCreationTime])
		if err != nil {
			return correlate.LoadBalancerLog{}, fieldErr(fCreationTime, f[fCreationTime], errTime)
		}
		rec.Start = t.UTC()
	}
	if f[fTarget] != "-" {
		rec.TargetAddr = f[fTarget]
	}
	rec.Method, rec.Path = parseRequest(f[fRequest])
	rec.XRayRoot, rec.TraceID = xrayRoot(f[fTraceID])
	return rec, nil
}

// split cuts the first numFields fields of line into f, without their
// quotes. Runs of spaces separate fields; a field that starts with '"' ends
// at the next unescaped '"', which must be followed by a space or the end
// of the line.
func split(line string, f *[numFields]string) error {
	line = strings.TrimSuffix(line, "\n")
	line = strings.TrimSuffix(line, "\r")
	i := 0
	for n := range numFields {
		for i < len(line) && line[i] == ' ' {
			i++
		}
		if i == len(line) {
			return fmt.Errorf("ALB log: field %d %s: missing (the line has %d fields, want at least %d)",
				n+1, fieldNames[n], n, numFields)
		}
		if line[i] != '"' {
			j := strings.IndexByte(line[i:], ' ')
			if j < 0 {
				j = len(line)
			} else {
				j += i
			}
			f[n] = line[i:j]
			i = j
			continue
		}
		j := i + 1
		for {
			if j >= len(line) {
				return fmt.Errorf("ALB log: field %d %s: %w", n+1, fieldNames[n], errUnterminated)
			}
			if c := line[j]; c == '\\' {
				j += 2
				continue
			} else if c == '"' {
				break
			}
			j++
		}
		f[n] = line[i+1 : j]
		j++
		if j < len(line) && line[j] != ' ' {
			return fmt.Errorf("ALB log: field %d %s: %w", n+1, fieldNames[n], errAfterQuote)
		}
		i = j
	}
	return nil
}

func fieldErr(i int, val string, err error) error {
	return fmt.Errorf("ALB log: field %d %s: %s: %w", i+1, fieldNames[i], quote(val), err)
}

// quote quotes v for an error message, shortened to 64 bytes.
func quote(v string) string {
	if len(v) > 64 {
		return fmt.Sprintf("%q…", v[:64])
	}
	return fmt.Sprintf("%q", v)
}

// parseTiming parses one of the processing times. ok is false for -1 (and
// "-"): no duration was measured.
func parseTiming(s string) (d, res time.Duration, ok bool, err error) {
	if s == "-1" || s == "-" {
		return 0, 0, false, nil
	}
	d, digits, err := parseSeconds(s)
	if err != nil {
		return 0, 0, false, err
	}
	return d, pow10ns[9-digits], true, nil
}

// pow10ns[k] is 10^k nanoseconds.
var pow10ns = [10]time.Duration{1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9}

// parseSeconds parses a non-negative decimal number of seconds with at
// most 9 decimal places exactly, and returns the number of decimal places
// written.
func parseSeconds(s string) (time.Duration, int, error) {
	if s == "" {
		return 0, 0, errEmpty
	}
	var sec int64
	i := 0
	for ; i < len(s) && s[i] != '.'; i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, 0, errNotDecimal
		}
		sec = sec*10 + int64(c-'0')
		if sec > maxSeconds {
			return 0, 0, errRange
		}
	}
	if i == 0 {
		return 0, 0, errNotDecimal
	}
	var frac int64
	digits := 0
	if i < len(s) {
		i++ // '.'
		if i == len(s) {
			return 0, 0, errNotDecimal
		}
		for ; i < len(s); i++ {
			c := s[i]
			if c < '0' || c > '9' {
				return 0, 0, errNotDecimal
			}
			if digits == 9 {
				return 0, 0, errFracDigits
			}
			frac = frac*10 + int64(c-'0')
			digits++
		}
	}
	return time.Duration(sec)*time.Second + time.Duration(frac)*pow10ns[9-digits], digits, nil
}

// parseStatus parses a three-digit status code; "-" is 0.
func parseStatus(s string) (int, error) {
	if s == "-" {
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

// parseRequest splits the logged request line "METHOD TARGET VERSION" and
// returns the method and the target's path. Parts that cannot be found are
// empty.
func parseRequest(r string) (method, path string) {
	if strings.IndexByte(r, '\\') >= 0 {
		r = unescape(r)
	}
	method, target, ok := strings.Cut(r, " ")
	if !ok {
		return "", ""
	}
	if !isToken(method) {
		method = ""
	}
	// The version is the last word; a target may contain spaces (the
	// load balancer classifies such requests but still logs them).
	if k := strings.LastIndexByte(target, ' '); k >= 0 {
		target = target[:k]
	}
	return method, pathOf(target)
}

// pathOf returns the path of a request target in origin form ("/p?q") or
// absolute form ("https://host:443/p?q"), without query and fragment. It is
// "*" for the asterisk form and "" for anything else.
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

// isToken reports whether s is a non-empty HTTP token (RFC 9110), which a
// method must be.
func isToken(s string) bool {
	if s == "" || s == "-" { // "-" is the load balancer's "no method"
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

// unescape removes the backslashes that escape characters inside a quoted
// field.
func unescape(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' && i+1 < len(s) {
			i++
			c = s[i]
		}
		b.WriteByte(c)
	}
	return b.String()
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
