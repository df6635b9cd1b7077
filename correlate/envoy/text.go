package envoy

import (
	"errors"
	"fmt"
	"strings"

	"github.com/hopscope/hopscope/correlate"
	"github.com/hopscope/hopscope/correlate/internal/logparse"
)

// textNames are the default format's fields, numbered from 1 in errors.
var textNames = [...]string{
	"start_time", "request", "response_code", "response_flags", "bytes_received",
	"bytes_sent", "duration", "upstream_service_time", "x_forwarded_for",
	"user_agent", "request_id", "authority", "upstream_host",
}

var (
	errBracket = errors.New(`want "[" … "]"`)
	errQuote   = errors.New(`want a quoted field`)
	errEnd     = errors.New("missing")
	errExtra   = errors.New("text after the last field")
)

// ParseText parses one line of Envoy's default access-log format (see
// the package documentation). A trailing newline is ignored.
func ParseText(line string) (correlate.IngressLog, error) {
	rec, err := parseText(strings.TrimRight(line, "\r\n"))
	if err != nil {
		return correlate.IngressLog{}, fmt.Errorf("envoy log: %w", err)
	}
	return rec, nil
}

func parseText(line string) (correlate.IngressLog, error) {
	var v [len(textNames)]string
	p := logparse.Scanner{Line: line}
	for i := range v {
		p.SkipSpaces()
		if p.Pos == len(line) {
			return correlate.IngressLog{}, textErr(i, "", errEnd)
		}
		rest := line[p.Pos:]
		switch i {
		case 0: // [START_TIME]
			end := strings.IndexByte(rest, ']')
			if rest[0] != '[' || end < 0 {
				return correlate.IngressLog{}, textErr(i, rest, errBracket)
			}
			v[i], p.Pos = rest[1:end], p.Pos+end+1
		case 1, 8, 9, 10, 11, 12: // quoted
			if rest[0] != '"' {
				return correlate.IngressLog{}, textErr(i, rest, errQuote)
			}
			end := closingQuote(rest)
			if end < 0 {
				return correlate.IngressLog{}, textErr(i, rest, errQuote)
			}
			v[i], p.Pos = rest[1:end], p.Pos+end+1
		default:
			v[i], _ = p.Word()
		}
	}
	p.SkipSpaces()
	if p.Pos != len(line) {
		return correlate.IngressLog{}, fmt.Errorf("%w: %s", errExtra, logparse.Quote(line[p.Pos:]))
	}
	f := fields{
		start: absent(v[0]), code: absent(v[2]), flags: absent(v[3]), rx: absent(v[4]),
		tx: absent(v[5]), duration: absent(v[6]), upstreamTime: absent(v[7]),
		requestID: absent(v[10]), authority: absent(v[11]), upstreamHost: absent(v[12]),
	}
	f.method, f.path = requestLine(v[1])
	return record(&f, func(name, val string, err error) error {
		for i, n := range textNames {
			if n == name {
				return textErr(i, val, err)
			}
		}
		return fmt.Errorf("field %s: %w", name, err)
	})
}

// requestLine splits "METHOD PATH PROTOCOL"; Envoy writes "-" for a part
// it does not have.
func requestLine(r string) (method, path string) {
	parts := strings.Split(r, " ")
	if len(parts) < 2 {
		return "", ""
	}
	return absent(parts[0]), absent(parts[1])
}

// closingQuote returns the index in s (which starts with '"') of the
// quote that closes the field: the first one after the opening quote
// that is followed by a space or ends the line; -1 when there is none.
func closingQuote(s string) int {
	for i := 1; i < len(s); i++ {
		if s[i] == '"' && (i+1 == len(s) || s[i+1] == ' ') {
			return i
		}
	}
	return -1
}

func textErr(i int, val string, err error) error {
	if val == "" {
		return fmt.Errorf("field %d %s: %w", i+1, textNames[i], err)
	}
	return fmt.Errorf("field %d %s: %s: %w", i+1, textNames[i], logparse.Quote(val), err)
}
