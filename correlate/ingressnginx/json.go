package ingressnginx

import (
	"errors"
	"fmt"
	"strings"
	"time"

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
		return logparse.UnescapeJSON(v.raw)
	}
	return v.raw
}

// ParseJSON parses one JSON access-log line (see the package documentation
// for the keys and the mapping). Surrounding white space, a trailing
// newline included, is ignored.
func ParseJSON(line string) (correlate.IngressLog, error) {
	var v [numKeys]jvalue
	if err := object(line, &v); err != nil {
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

// errWantString: a known key holds an object, an array or a boolean.
var errWantString = errors.New("want a string or a number")

// object reads line as one flat JSON object (logparse.JSONScanner checks
// the syntax of everything), keeping the values of the known keys in v.
func object(line string, v *[numKeys]jvalue) error {
	p := logparse.JSONScanner{S: line}
	p.WS()
	if !p.Eat('{') {
		return p.Syntax("want '{'")
	}
	p.WS()
	if !p.Eat('}') {
		for {
			p.WS()
			if p.I == len(p.S) || p.S[p.I] != '"' {
				return p.Syntax("want a field name")
			}
			raw, esc, err := p.Str()
			if err != nil {
				return err
			}
			key := raw
			if esc {
				key = logparse.UnescapeJSON(raw)
			}
			p.Field = key
			p.WS()
			if !p.Eat(':') {
				return p.Syntax("want ':'")
			}
			p.WS()
			k := lookupKey(key)
			if p.I == len(p.S) {
				return p.Syntax("want a value")
			}
			switch c := p.S[p.I]; {
			case c == '"':
				raw, esc, err := p.Str()
				if err != nil {
					return err
				}
				if k != kNone {
					v[k] = jvalue{raw: raw, esc: esc, present: true}
				}
			case c == '-' || '0' <= c && c <= '9':
				raw, err := p.Number()
				if err != nil {
					return err
				}
				if k != kNone {
					v[k] = jvalue{raw: raw, present: true}
				}
			case c == 'n':
				if err := p.Literal("null"); err != nil {
					return err
				}
				if k != kNone {
					v[k] = jvalue{} // null is absent
				}
			default:
				if err := p.Skip(0); err != nil {
					return err
				}
				if k != kNone {
					return jsonErr(k, errWantString)
				}
			}
			p.WS()
			if p.Eat(',') {
				continue
			}
			if p.Eat('}') {
				break
			}
			return p.Syntax("want ',' or '}'")
		}
	}
	p.WS()
	if p.I != len(p.S) {
		p.Field = ""
		return p.Syntax("text after the object")
	}
	return nil
}
