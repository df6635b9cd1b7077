package alb

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hopscope/hopscope/correlate"
	"github.com/hopscope/hopscope/correlate/internal/logparse"
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
	if rec.Status, err = logparse.ParseStatus(f[fELBStatus]); err != nil {
		return correlate.LoadBalancerLog{}, fieldErr(fELBStatus, f[fELBStatus], err)
	}
	if rec.TargetStatus, err = logparse.ParseStatus(f[fTargetStatus]); err != nil {
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
	rec.XRayRoot, rec.TraceID = logparse.XRayRoot(f[fTraceID])
	return rec, nil
}

// split cuts the first numFields fields of line into f, without their
// quotes. Runs of spaces separate fields; a field that starts with '"' ends
// at the next unescaped '"', which must be followed by a space or the end
// of the line.
func split(line string, f *[numFields]string) error {
	line = strings.TrimSuffix(line, "\n")
	line = strings.TrimSuffix(line, "\r")
	p := logparse.Scanner{Line: line}
	for n := range numFields {
		p.SkipSpaces()
		if p.Pos == len(line) {
			return fmt.Errorf("ALB log: field %d %s: missing (the line has %d fields, want at least %d)",
				n+1, fieldNames[n], n, numFields)
		}
		if line[p.Pos] != '"' {
			f[n], _ = p.Word()
			continue
		}
		j := p.Pos + 1
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
		f[n] = line[p.Pos+1 : j]
		j++
		if j < len(line) && line[j] != ' ' {
			return fmt.Errorf("ALB log: field %d %s: %w", n+1, fieldNames[n], errAfterQuote)
		}
		p.Pos = j
	}
	return nil
}

func fieldErr(i int, val string, err error) error {
	return fmt.Errorf("ALB log: field %d %s: %s: %w", i+1, fieldNames[i], logparse.Quote(val), err)
}

// parseTiming parses one of the processing times and the precision it is
// written with. ok is false for -1 (and "-"): no duration was measured.
func parseTiming(s string) (d, res time.Duration, ok bool, err error) {
	if s == "-1" || s == "-" {
		return 0, 0, false, nil
	}
	d, res, err = logparse.ParseSeconds(s, maxSeconds)
	if err != nil {
		return 0, 0, false, err
	}
	return d, res, true, nil
}

// parseRequest splits the logged request line "METHOD TARGET VERSION",
// whose quotes and backslashes the load balancer escaped with a backslash,
// and returns the method and the target's path. Parts that cannot be found
// are empty.
func parseRequest(r string) (method, path string) {
	if strings.IndexByte(r, '\\') >= 0 {
		r = unescape(r)
	}
	return logparse.RequestLine(r)
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
