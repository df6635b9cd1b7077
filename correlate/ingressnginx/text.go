package ingressnginx

import (
	"errors"
	"fmt"
	"strings"

	"github.com/hopscope/hopscope/correlate"
	"github.com/hopscope/hopscope/correlate/internal/logparse"
)

// textFields are the variables of the default log-format-upstream, in
// order; field n of a line is textFields[n-1].
var textFields = [...]string{
	"remote_addr", "-", "remote_user", "time_local", "request", "status",
	"body_bytes_sent", "http_referer", "http_user_agent", "request_length",
	"request_time", "proxy_upstream_name", "proxy_alternative_upstream_name",
	"upstream_addr", "upstream_response_length", "upstream_response_time",
	"upstream_status", "req_id",
}

// Field numbers (1-based) of the default format.
const (
	tTimeLocal        = 4
	tRequest          = 5
	tStatus           = 6
	tRequestTime      = 11
	tUpstreamName     = 12
	tAltUpstreamName  = 13
	tUpstreamAddr     = 14
	tUpstreamRespLen  = 15
	tUpstreamRespTime = 16
	tUpstreamStatus   = 17
	tReqID            = 18
)

var textListFields = listFields{
	"14 upstream_addr", "17 upstream_status", "", "", "16 upstream_response_time",
}

var (
	errWantQuote   = errors.New(`want a field enclosed in '"'`)
	errWantBracket = errors.New("want a field enclosed in '[' and ']'")
	errTrailing    = errors.New("unexpected text after the last field")
)

// ParseText parses one line of ingress-nginx's default log format (a
// trailing "\n" or "\r\n" is ignored). See the package documentation for
// the format and the mapping.
func ParseText(line string) (correlate.IngressLog, error) {
	line = strings.TrimSuffix(line, "\n")
	line = strings.TrimSuffix(line, "\r")
	p := textParser{logparse.Scanner{Line: line}}
	var f [len(textFields)]string
	for n := 1; n <= tAltUpstreamName; n++ {
		var err error
		switch n {
		case tTimeLocal, tUpstreamName, tAltUpstreamName:
			f[n-1], err = p.enclosed('[', ']')
		case tRequest, 8, 9:
			f[n-1], err = p.enclosed('"', '"')
		default:
			f[n-1], err = p.word()
		}
		if err != nil {
			return correlate.IngressLog{}, textErr(n, err)
		}
	}
	// The upstream lists may hold ", " and " : ": group the remaining
	// words into the four lists and $req_id.
	for n := tUpstreamAddr; n <= tReqID; n++ {
		v, err := p.list()
		if err != nil {
			return correlate.IngressLog{}, textErr(n, err)
		}
		f[n-1] = v
	}
	if p.SkipSpaces(); p.Pos < len(p.Line) {
		return correlate.IngressLog{}, textErr(tReqID, errTrailing)
	}

	rec := correlate.IngressLog{Resolution: Resolution}
	var err error
	if rec.RequestTime, err = parseSeconds(f[tRequestTime-1], maxDuration); err != nil {
		return correlate.IngressLog{}, textValueErr(tRequestTime, f[tRequestTime-1], err)
	}
	end, err := parseTimeLocal(f[tTimeLocal-1])
	if err != nil {
		return correlate.IngressLog{}, textValueErr(tTimeLocal, f[tTimeLocal-1], err)
	}
	rec.Start = end.Add(-rec.RequestTime)
	if rec.Status, err = parseStatus(f[tStatus-1]); err != nil {
		return correlate.IngressLog{}, textValueErr(tStatus, f[tStatus-1], err)
	}
	// $upstream_response_length (field 15) is not mapped, but its entries
	// must match the tries like the others'.
	lists := upstreamLists{
		addr:     f[tUpstreamAddr-1],
		status:   f[tUpstreamStatus-1],
		response: f[tUpstreamRespTime-1],
	}
	if rec.Tries, err = tries(lists, textListFields); err != nil {
		return correlate.IngressLog{}, fmt.Errorf("ingress-nginx log: %w", err)
	}
	if n := len(rec.Tries); n > 0 && !noList(f[tUpstreamRespLen-1]) {
		if c := newList(f[tUpstreamRespLen-1]).count(); c != n {
			return correlate.IngressLog{}, textValueErr(tUpstreamRespLen, f[tUpstreamRespLen-1], countErr(c, n))
		}
	}
	// nginx's default log escaping writes '"', backslash and bytes outside
	// printable ASCII as \xHH.
	rec.Method, rec.Path = logparse.RequestLine(logparse.UnescapeHex(f[tRequest-1], `\x`))
	rec.Upstream = dash(f[tUpstreamName-1])
	rec.RequestID = dash(f[tReqID-1])
	return rec, nil
}

func textErr(n int, err error) error {
	return fmt.Errorf("ingress-nginx log: field %d %s: %w", n, textFields[n-1], err)
}

func textValueErr(n int, val string, err error) error {
	return fmt.Errorf("ingress-nginx log: field %d %s: %s: %w", n, textFields[n-1], logparse.Quote(val), err)
}

// textParser reads the fields of a text line from left to right.
type textParser struct {
	logparse.Scanner
}

// word reads a field that holds no space.
func (p *textParser) word() (string, error) {
	w, ok := p.Word()
	if !ok {
		return "", errMissing
	}
	return w, nil
}

// enclosed reads a field written between open and close, which must be
// followed by a space or the end of the line.
func (p *textParser) enclosed(open, close byte) (string, error) {
	p.SkipSpaces()
	if p.Pos == len(p.Line) {
		return "", errMissing
	}
	if p.Line[p.Pos] != open {
		if open == '"' {
			return "", errWantQuote
		}
		return "", errWantBracket
	}
	j := strings.IndexByte(p.Line[p.Pos+1:], close)
	if j < 0 {
		return "", fmt.Errorf("unterminated %q", open)
	}
	start := p.Pos + 1
	end := start + j
	if end+1 < len(p.Line) && p.Line[end+1] != ' ' {
		return "", fmt.Errorf("%q not followed by a space", close)
	}
	p.Pos = end + 1
	return p.Line[start:end], nil
}

// list reads one upstream list: words joined by ", " or " : ".
func (p *textParser) list() (string, error) {
	p.SkipSpaces()
	if p.Pos == len(p.Line) {
		return "", errMissing
	}
	start := p.Pos
	for {
		for p.Pos < len(p.Line) && p.Line[p.Pos] != ' ' {
			p.Pos++
		}
		end := p.Pos
		rest := p.Line[end:]
		switch {
		case p.Line[end-1] == ',' && len(rest) > 1 && rest[1] != ' ':
			p.Pos++ // ", next"
		case strings.HasPrefix(rest, " : ") && len(rest) > 3 && rest[3] != ' ':
			p.Pos += 3
		default:
			if p.Line[end-1] == ',' {
				return "", errors.New("list ends with ','")
			}
			return p.Line[start:end], nil
		}
	}
}
