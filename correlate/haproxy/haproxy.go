package haproxy

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hopscope/hopscope/correlate"
	"github.com/hopscope/hopscope/correlate/internal/logparse"
)

// Kind is the value of LoadBalancerLog.Kind for HAProxy records.
const Kind = "haproxy"

// Resolution is the precision of HAProxy's timers.
const Resolution = time.Millisecond

// maxTimer bounds a timer (in ms, about 31.7 years) so that it cannot
// overflow a time.Duration.
const maxTimer = 1_000_000_000_000

// Field numbers and names of the manual's table (section 8.2.3).
const (
	fClient        = 2
	fDate          = 3
	fFrontend      = 4
	fBackendServer = 5
	fTimers        = 6
	fStatus        = 7
	fBytes         = 8
	fReqCookie     = 9
	fRespCookie    = 10
	fTermination   = 11
	fConns         = 12
	fQueues        = 13
	fReqHeaders    = 14
	fRespHeaders   = 15
	fRequest       = 16
)

var fieldNames = [...]string{
	fClient:        "client_ip:client_port",
	fDate:          "request_date",
	fFrontend:      "frontend_name",
	fBackendServer: "backend_name/server_name",
	fTimers:        "TR/Tw/Tc/Tr/Ta",
	fStatus:        "status_code",
	fBytes:         "bytes_read",
	fReqCookie:     "captured_request_cookie",
	fRespCookie:    "captured_response_cookie",
	fTermination:   "termination_state",
	fConns:         "actconn/feconn/beconn/srv_conn/retries",
	fQueues:        "srv_queue/backend_queue",
	fReqHeaders:    "captured_request_headers",
	fRespHeaders:   "captured_response_headers",
	fRequest:       "http_request",
}

var (
	errMissing      = errors.New("missing")
	errNoDate       = errors.New(`missing: no "[dd/Mon/yyyy:hh:mm:ss]" in the line`)
	errUnterminated = errors.New("unterminated quote")
	errNumber       = errors.New("not an integer")
	errStatus       = errors.New("not a status code")
	errTermination  = errors.New("not a 4-character termination state")
	errNotQuoted    = errors.New(`want the request line enclosed in '"'`)
	errDate         = errors.New("not a date in dd/Mon/yyyy:hh:mm:ss.mmm form")
)

// Parse parses one HAProxy HTTP log line (a trailing "\n" or "\r\n" is
// ignored); loc is the time zone HAProxy's local time is in (nil: UTC). See
// the package documentation for the format and the mapping.
func Parse(line string, loc *time.Location) (correlate.LoadBalancerLog, error) {
	rec, err := parse(line, loc)
	if err != nil {
		return correlate.LoadBalancerLog{}, err
	}
	return rec, nil
}

func parse(line string, loc *time.Location) (correlate.LoadBalancerLog, error) {
	line = strings.TrimSuffix(line, "\n")
	line = strings.TrimSuffix(line, "\r")
	if loc == nil {
		loc = time.UTC
	}
	rec := correlate.LoadBalancerLog{Kind: Kind, Resolution: Resolution}

	// The request date anchors the line: the client address is the word
	// before it, anything before that is a syslog header.
	open, date := findDate(line)
	if open < 0 {
		return rec, fieldErr(fDate, errNoDate)
	}
	if open < 2 || line[open-1] != ' ' || line[open-2] == ' ' {
		return rec, fieldErr(fClient, errMissing)
	}
	start, err := parseDate(date, loc)
	if err != nil {
		return rec, valueErr(fDate, date, err)
	}
	rec.Start = start.UTC()

	// The fields up to the queues are words; each is checked as soon as it
	// is read, so that a line of another format fails on the first field
	// that differs.
	p := lineParser{logparse.Scanner{Line: line, Pos: open + len(date) + 2}}
	var t [5]int64 // the timers
	for n := fFrontend; n <= fQueues; n++ {
		w, ok := p.Word()
		if !ok {
			return rec, fieldErr(n, errMissing)
		}
		var err error
		switch n {
		case fTimers:
			t, err = parseTimers(w)
		case fBackendServer:
			backend, server, ok := strings.Cut(w, "/")
			if !ok || backend == "" || server == "" {
				err = errors.New("want backend/server")
			} else if server[0] != '<' { // <NOSRV>, <STATS>, <CACHE>: no server
				rec.TargetAddr = w
			}
		case fStatus:
			if w != "-1" {
				if rec.Status = logparse.Num(w); rec.Status < 0 || len(w) != 3 {
					err = errStatus
				}
			}
		case fBytes:
			_, err = parseInt(strings.TrimPrefix(w, "+")) // '+': option logasap
		case fTermination:
			if !isTermination(w) {
				err = errTermination
			}
		case fConns:
			err = checkInts(w, 5, true)
		case fQueues:
			err = checkInts(w, 2, false)
		}
		if err != nil {
			return rec, valueErr(n, w, err)
		}
	}
	tc, tr, ta := t[2], t[3], t[4]
	rec.Total = time.Duration(ta) * time.Millisecond
	rec.Dispatched = tc >= 0 && tr >= 0
	if tr >= 0 {
		rec.Target = time.Duration(tr) * time.Millisecond
	}

	// Captured headers, then the request line.
	var blocks [2]string
	nblocks := 0
	for nblocks < 2 {
		p.SkipSpaces()
		if p.Pos == len(p.Line) || p.Line[p.Pos] != '{' {
			break
		}
		j := strings.IndexByte(p.Line[p.Pos:], '}')
		if j < 0 {
			return rec, fieldErr(fReqHeaders+nblocks, errors.New("unterminated '{'"))
		}
		blocks[nblocks] = p.Line[p.Pos+1 : p.Pos+j]
		p.Pos += j + 1
		if p.Pos < len(p.Line) && p.Line[p.Pos] != ' ' {
			return rec, fieldErr(fReqHeaders+nblocks, errors.New("'}' not followed by a space"))
		}
		nblocks++
	}
	p.SkipSpaces()
	if p.Pos == len(p.Line) {
		return rec, fieldErr(fRequest, errMissing)
	}
	req, err := p.request()
	if err != nil {
		return rec, fieldErr(fRequest, err)
	}
	rec.Method, rec.Path = logparse.RequestLine(decode(req))
	if nblocks > 0 {
		setKeys(&rec.Keys, blocks[0])
	}
	return rec, nil
}

// parseTimers parses TR/Tw/Tc/Tr/Ta (or Tq/Tw/Tc/Tr/Tt): integers of at
// least -1, the last not negative and maybe after a '+'.
func parseTimers(w string) (t [5]int64, err error) {
	parts := w
	for k := range t {
		var v string
		if k < 4 {
			var ok bool
			if v, parts, ok = strings.Cut(parts, "/"); !ok {
				return t, fmt.Errorf("want 5 values separated by '/', got %d: not an HTTP log", k+1)
			}
		} else {
			if strings.IndexByte(parts, '/') >= 0 {
				return t, errors.New("more than 5 values")
			}
			v = strings.TrimPrefix(parts, "+") // option logasap
		}
		n, err := parseInt(v)
		if err != nil || n < -1 || k == 4 && n < 0 {
			return t, fmt.Errorf("value %d %q: %w", k+1, v, errNumber)
		}
		if n > maxTimer {
			return t, fmt.Errorf("value %d %q: out of range", k+1, v)
		}
		t[k] = n
	}
	return t, nil
}

func fieldErr(n int, err error) error {
	return fmt.Errorf("HAProxy log: field %d %s: %w", n, fieldNames[n], err)
}

func valueErr(n int, val string, err error) error {
	return fmt.Errorf("HAProxy log: field %d %s: %s: %w", n, fieldNames[n], logparse.Quote(val), err)
}

// findDate returns the index of the '[' of the first request date in the
// line and the date between the brackets, or -1.
func findDate(s string) (int, string) {
	for i := 0; ; {
		k := strings.IndexByte(s[i:], '[')
		if k < 0 {
			return -1, ""
		}
		i += k
		// dd/Mon/yyyy:hh:mm:ss then ']' or '.' and digits then ']'.
		if d := s[i+1:]; len(d) > 20 && d[2] == '/' && d[6] == '/' && d[11] == ':' && d[14] == ':' && d[17] == ':' {
			j := 20
			if d[j] == '.' {
				j++
				for j < len(d) && '0' <= d[j] && d[j] <= '9' {
					j++
				}
			}
			if j < len(d) && d[j] == ']' {
				return i, d[:j]
			}
		}
		i++
	}
}

// parseDate parses "06/Feb/2009:12:14:14.655" (milliseconds optional) in
// loc.
func parseDate(d string, loc *time.Location) (time.Time, error) {
	bad := errDate
	num := logparse.Num
	mon := logparse.Month(d[3:6])
	day, year, h, mi, s := num(d[0:2]), num(d[7:11]), num(d[12:14]), num(d[15:17]), num(d[18:20])
	if mon == 0 || day < 1 || day > 31 || year < 0 || h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 || s > 60 {
		return time.Time{}, bad
	}
	ns := 0
	if len(d) > 20 {
		frac := d[21:]
		if frac == "" || len(frac) > 9 {
			return time.Time{}, bad
		}
		ns = num(frac)
		for k := len(frac); k < 9; k++ {
			ns *= 10
		}
	}
	if time.Date(year, time.Month(mon), day, 0, 0, 0, 0, time.UTC).Day() != day { // 31 April and the like
		return time.Time{}, bad
	}
	return time.Date(year, time.Month(mon), day, h, mi, s, ns, loc), nil
}

// parseInt parses a decimal integer with an optional '-' (no more than 18
// digits, so it cannot overflow).
func parseInt(s string) (int64, error) {
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	if s == "" || len(s) > 18 {
		return 0, errNumber
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, errNumber
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, nil
}

// checkInts checks a '/'-separated group of n integers; lastPlus allows a
// '+' before the last one (the retries of a redispatched request).
func checkInts(s string, n int, lastPlus bool) error {
	for k := range n {
		v, rest, ok := strings.Cut(s, "/")
		if ok == (k == n-1) {
			return fmt.Errorf("want %d values separated by '/'", n)
		}
		if k == n-1 && lastPlus {
			v = strings.TrimPrefix(v, "+")
		}
		if _, err := parseInt(v); err != nil {
			return fmt.Errorf("value %d %q: %w", k+1, v, errNumber)
		}
		s = rest
	}
	return nil
}

func isTermination(s string) bool {
	if len(s) != 4 {
		return false
	}
	for i := 0; i < 4; i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || c == '-') {
			return false
		}
	}
	return true
}

// lineParser reads the fields of a line from left to right.
type lineParser struct {
	logparse.Scanner
}

// request reads the quoted request line. No quote can appear inside it
// (HAProxy writes '"' as #22); a syslog daemon that escapes quotes with a
// backslash (syslog-ng) gives \"…\", which is read too. Text after the
// closing quote is ignored.
func (p *lineParser) request() (string, error) {
	s := p.Line[p.Pos:]
	closing := `"`
	switch {
	case strings.HasPrefix(s, `\"`):
		s, closing = s[2:], `\"`
	case strings.HasPrefix(s, `"`):
		s = s[1:]
	default:
		return "", errNotQuoted
	}
	j := strings.Index(s, closing)
	if j < 0 {
		return "", errUnterminated
	}
	if rest := s[j+len(closing):]; rest != "" && rest[0] != ' ' {
		return "", fmt.Errorf("%s not followed by a space", closing)
	}
	return s[:j], nil
}

// decode replaces HAProxy's #XX escapes with the bytes they stand for.
func decode(s string) string { return logparse.UnescapeHex(s, "#") }

// setKeys reads the join keys from the captured request header values.
func setKeys(k *correlate.Keys, block string) {
	var xrayID string
	for rest := block; ; {
		v, more, found := strings.Cut(rest, "|")
		v = logparse.TrimOWS(decode(v))
		switch {
		case v == "":
		case strings.Contains(v, "Root=1-"):
			if k.XRayRoot == "" {
				k.XRayRoot, xrayID = logparse.XRayRoot(v)
			}
		case isTraceparent(v):
			if k.TraceID == "" {
				k.TraceID, _ = logparse.TraceparentID(v)
			}
		case k.RequestID == "":
			k.RequestID = v
		}
		if !found {
			break
		}
		rest = more
	}
	if k.TraceID == "" {
		k.TraceID = xrayID
	}
}

func isTraceparent(v string) bool {
	_, ok := logparse.TraceparentID(v)
	return ok
}
