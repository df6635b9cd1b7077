package ingressnginx

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/hopscope/hopscope/correlate"
	"github.com/hopscope/hopscope/correlate/internal/logparse"
)

// jkey is a JSON key ParseJSON reads.
type jkey int

const (
	kNone jkey = iota
	kMsec
	kTimeISO8601
	kTimeLocal
	kRequestTime
	kStatus
	kRequestMethod
	kRequestURI
	kURI
	kHost
	kProxyUpstreamName
	kUpstreamAddr
	kUpstreamStatus
	kUpstreamConnectTime
	kUpstreamHeaderTime
	kUpstreamResponseTime
	kReqID
	kRequestID
	kHTTPXRequestID
	kHTTPTraceparent
	kHTTPXAmznTraceID
	numKeys
)

// jsonKeys are the keys ParseJSON reads: the names of the nginx variables
// whose values they hold.
var jsonKeys = [numKeys - 1]string{
	"msec", "time_iso8601", "time_local", "request_time", "status",
	"request_method", "request_uri", "uri", "host", "proxy_upstream_name",
	"upstream_addr", "upstream_status", "upstream_connect_time",
	"upstream_header_time", "upstream_response_time", "req_id", "request_id",
	"http_x_request_id", "http_traceparent", "http_x_amzn_trace_id",
}

func lookupKey(k string) jkey {
	switch k { // a switch, which the compiler turns into a binary search
	case "msec":
		return kMsec
	case "time_iso8601":
		return kTimeISO8601
	case "time_local":
		return kTimeLocal
	case "request_time":
		return kRequestTime
	case "status":
		return kStatus
	case "request_method":
		return kRequestMethod
	case "request_uri":
		return kRequestURI
	case "uri":
		return kURI
	case "host":
		return kHost
	case "proxy_upstream_name":
		return kProxyUpstreamName
	case "upstream_addr":
		return kUpstreamAddr
	case "upstream_status":
		return kUpstreamStatus
	case "upstream_connect_time":
		return kUpstreamConnectTime
	case "upstream_header_time":
		return kUpstreamHeaderTime
	case "upstream_response_time":
		return kUpstreamResponseTime
	case "req_id":
		return kReqID
	case "request_id":
		return kRequestID
	case "http_x_request_id":
		return kHTTPXRequestID
	case "http_traceparent":
		return kHTTPTraceparent
	case "http_x_amzn_trace_id":
		return kHTTPXAmznTraceID
	}
	return kNone
}

var jsonListFields = listFields{
	`"upstream_addr"`, `"upstream_status"`, `"upstream_connect_time"`,
	`"upstream_header_time"`, `"upstream_response_time"`,
}

// maxDepth bounds the nesting of values ParseJSON skips.
const maxDepth = 64

// jvalue is the raw value of a known key: a string's contents (escapes
// not yet decoded) or a number's text.
type jvalue struct {
	raw     string
	esc     bool
	present bool
}

// text returns the value as a Go string; "" when absent or null.
func (v jvalue) text() string {
	if v.esc {
		return decodeString(v.raw)
	}
	return v.raw
}

// ParseJSON parses one JSON access-log line (see the package documentation
// for the keys and the mapping). Surrounding white space, a trailing
// newline included, is ignored.
func ParseJSON(line string) (correlate.IngressLog, error) {
	var v [numKeys]jvalue
	p := jsonParser{s: line}
	if err := p.object(&v); err != nil {
		return correlate.IngressLog{}, fmt.Errorf("ingress-nginx JSON log: %w", err)
	}
	rec, err := fromJSON(&v)
	if err != nil {
		return correlate.IngressLog{}, fmt.Errorf("ingress-nginx JSON log: %w", err)
	}
	return rec, nil
}

func fromJSON(v *[numKeys]jvalue) (correlate.IngressLog, error) {
	rec := correlate.IngressLog{Resolution: Resolution}
	text := func(k jkey) string { return dash(v[k].text()) }

	rt := text(kRequestTime)
	if rt == "" {
		return rec, jsonErr(kRequestTime, errMissing)
	}
	var err error
	if rec.RequestTime, err = parseSeconds(rt, maxDuration); err != nil {
		return rec, jsonValueErr(kRequestTime, rt, err)
	}

	var end time.Time
	if s := text(kMsec); s != "" {
		d, err := parseSeconds(s, maxEpoch)
		if err != nil {
			return rec, jsonValueErr(kMsec, s, err)
		}
		end = time.Unix(int64(d/time.Second), int64(d%time.Second)).UTC()
	} else if s := text(kTimeISO8601); s != "" {
		if end, err = parseISO8601(s); err != nil {
			return rec, jsonValueErr(kTimeISO8601, s, err)
		}
	} else if s := text(kTimeLocal); s != "" {
		if end, err = parseTimeLocal(s); err != nil {
			return rec, jsonValueErr(kTimeLocal, s, err)
		}
	}
	if !end.IsZero() {
		rec.Start = end.Add(-rec.RequestTime)
	}

	if s := text(kStatus); s != "" {
		if rec.Status, err = parseStatus(s); err != nil {
			return rec, jsonValueErr(kStatus, s, err)
		}
	}
	lists := upstreamLists{
		addr:     v[kUpstreamAddr].text(),
		status:   v[kUpstreamStatus].text(),
		connect:  v[kUpstreamConnectTime].text(),
		header:   v[kUpstreamHeaderTime].text(),
		response: v[kUpstreamResponseTime].text(),
	}
	if rec.Tries, err = tries(lists, jsonListFields); err != nil {
		return rec, err
	}

	rec.Method = text(kRequestMethod)
	if !logparse.IsToken(rec.Method) {
		rec.Method = ""
	}
	if s := text(kRequestURI); s != "" {
		rec.Path = logparse.PathOf(s)
	} else if u := text(kURI); strings.HasPrefix(u, "/") {
		rec.Path = u // already without query, decoded by nginx
	}
	rec.Host = text(kHost)
	rec.Upstream = text(kProxyUpstreamName)
	for _, k := range [...]jkey{kReqID, kHTTPXRequestID, kRequestID} {
		if s := text(k); s != "" {
			rec.RequestID = s
			break
		}
	}
	setTraceKeys(&rec.Keys, v[kHTTPTraceparent].text(), v[kHTTPXAmznTraceID].text())
	return rec, nil
}

func jsonErr(k jkey, err error) error {
	return fmt.Errorf("field %q: %w", jsonKeys[k-1], err)
}

func jsonValueErr(k jkey, val string, err error) error {
	return fmt.Errorf("field %q: %s: %w", jsonKeys[k-1], logparse.Quote(val), err)
}

// jsonParser reads one flat JSON object, keeping the values of known keys
// and checking the syntax of everything.
type jsonParser struct {
	s    string
	i    int
	last string // the key being read, for errors
}

var (
	errUnterminatedString = errors.New("unterminated string")
	errWantString         = errors.New("want a string or a number")
)

// syntax wraps a syntax error with its position and the field it is in.
func (p *jsonParser) syntax(msg string) error {
	if p.last != "" {
		return fmt.Errorf("field %q: invalid JSON at byte %d: %s", p.last, p.i, msg)
	}
	return fmt.Errorf("invalid JSON at byte %d: %s", p.i, msg)
}

func (p *jsonParser) ws() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *jsonParser) eat(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *jsonParser) object(v *[numKeys]jvalue) error {
	p.ws()
	if !p.eat('{') {
		return p.syntax("want '{'")
	}
	p.ws()
	if !p.eat('}') {
		for {
			p.ws()
			if p.i == len(p.s) || p.s[p.i] != '"' {
				return p.syntax("want a field name")
			}
			raw, esc, err := p.str()
			if err != nil {
				return err
			}
			key := raw
			if esc {
				key = decodeString(raw)
			}
			p.last = key
			p.ws()
			if !p.eat(':') {
				return p.syntax("want ':'")
			}
			p.ws()
			k := lookupKey(key)
			if p.i == len(p.s) {
				return p.syntax("want a value")
			}
			switch c := p.s[p.i]; {
			case c == '"':
				raw, esc, err := p.str()
				if err != nil {
					return err
				}
				if k != kNone {
					v[k] = jvalue{raw: raw, esc: esc, present: true}
				}
			case c == '-' || '0' <= c && c <= '9':
				raw, err := p.number()
				if err != nil {
					return err
				}
				if k != kNone {
					v[k] = jvalue{raw: raw, present: true}
				}
			case c == 'n':
				if err := p.literal("null"); err != nil {
					return err
				}
				if k != kNone {
					v[k] = jvalue{} // null is absent
				}
			default:
				if err := p.skip(0); err != nil {
					return err
				}
				if k != kNone {
					return jsonErr(k, errWantString)
				}
			}
			p.ws()
			if p.eat(',') {
				continue
			}
			if p.eat('}') {
				break
			}
			return p.syntax("want ',' or '}'")
		}
	}
	p.ws()
	if p.i != len(p.s) {
		p.last = ""
		return p.syntax("text after the object")
	}
	return nil
}

// str reads a string at p.i (a '"') and returns its contents, whose
// escapes are checked but not decoded.
func (p *jsonParser) str() (raw string, esc bool, err error) {
	p.i++
	start := p.i
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '"':
			raw = p.s[start:p.i]
			p.i++
			return raw, esc, nil
		case c == '\\':
			esc = true
			if p.i+1 == len(p.s) {
				return "", false, p.syntax(errUnterminatedString.Error())
			}
			switch p.s[p.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				p.i += 2
			case 'u':
				if p.i+6 > len(p.s) || !isHex(p.s[p.i+2:p.i+6]) {
					return "", false, p.syntax(`\u not followed by 4 hex digits`)
				}
				p.i += 6
			default:
				return "", false, p.syntax("invalid escape")
			}
		case c < 0x20:
			return "", false, p.syntax("control character in string")
		default:
			p.i++
		}
	}
	return "", false, p.syntax(errUnterminatedString.Error())
}

// number reads a JSON number and returns its text.
func (p *jsonParser) number() (string, error) {
	start := p.i
	p.eat('-')
	switch {
	case p.eat('0'):
	case p.i < len(p.s) && '1' <= p.s[p.i] && p.s[p.i] <= '9':
		p.digits()
	default:
		return "", p.syntax("invalid number")
	}
	if p.eat('.') {
		if p.digits() == 0 {
			return "", p.syntax("invalid number")
		}
	}
	if p.eat('e') || p.eat('E') {
		if !p.eat('+') {
			p.eat('-')
		}
		if p.digits() == 0 {
			return "", p.syntax("invalid number")
		}
	}
	return p.s[start:p.i], nil
}

func (p *jsonParser) digits() int {
	n := 0
	for p.i < len(p.s) && '0' <= p.s[p.i] && p.s[p.i] <= '9' {
		p.i++
		n++
	}
	return n
}

func (p *jsonParser) literal(lit string) error {
	if !strings.HasPrefix(p.s[p.i:], lit) {
		return p.syntax("invalid value")
	}
	p.i += len(lit)
	return nil
}

// skip reads and checks any value.
func (p *jsonParser) skip(depth int) error {
	if p.i == len(p.s) {
		return p.syntax("want a value")
	}
	switch c := p.s[p.i]; {
	case c == '"':
		_, _, err := p.str()
		return err
	case c == '-' || '0' <= c && c <= '9':
		_, err := p.number()
		return err
	case c == 't':
		return p.literal("true")
	case c == 'f':
		return p.literal("false")
	case c == 'n':
		return p.literal("null")
	case c == '{' || c == '[':
		if depth == maxDepth {
			return p.syntax("nested too deeply")
		}
		closing := byte('}')
		if c == '[' {
			closing = ']'
		}
		p.i++
		p.ws()
		if p.eat(closing) {
			return nil
		}
		for {
			p.ws()
			if c == '{' {
				if p.i == len(p.s) || p.s[p.i] != '"' {
					return p.syntax("want a field name")
				}
				if _, _, err := p.str(); err != nil {
					return err
				}
				p.ws()
				if !p.eat(':') {
					return p.syntax("want ':'")
				}
				p.ws()
			}
			if err := p.skip(depth + 1); err != nil {
				return err
			}
			p.ws()
			if p.eat(',') {
				continue
			}
			if p.eat(closing) {
				return nil
			}
			return p.syntax(fmt.Sprintf("want ',' or '%c'", closing))
		}
	}
	return p.syntax("invalid value")
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if logparse.Unhex(s[i]) < 0 {
			return false
		}
	}
	return true
}

// decodeString decodes the escapes of a JSON string's contents (already
// checked by jsonParser.str). Like encoding/json, a lone UTF-16 surrogate
// becomes U+FFFD; other bytes are kept as they are.
func decodeString(raw string) string {
	var b strings.Builder
	b.Grow(len(raw))
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c != '\\' || i+1 == len(raw) {
			b.WriteByte(c)
			continue
		}
		i++
		switch raw[i] {
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'u':
			r := hex4(raw[i+1 : i+5])
			i += 4
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if i+6 < len(raw) && raw[i+1] == '\\' && raw[i+2] == 'u' {
					r2 = hex4(raw[i+3 : i+7])
				}
				if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
					i += 6
					r = dec
				} else {
					r = utf8.RuneError
				}
			}
			b.WriteRune(r)
		default: // '"', '\\', '/'
			b.WriteByte(raw[i])
		}
	}
	return b.String()
}

func hex4(s string) rune {
	var r rune
	for i := 0; i < 4; i++ {
		r = r<<4 | rune(logparse.Unhex(s[i]))
	}
	return r
}
