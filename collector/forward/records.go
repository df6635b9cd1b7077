package forward

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hopscope/hopscope/collector/consumer"
	"github.com/hopscope/hopscope/collector/logformat"
	"github.com/hopscope/hopscope/correlate"
	"github.com/hopscope/hopscope/correlate/ingressnginx"
	"github.com/hopscope/hopscope/internal/contract"
)

// Source is the source label of what the forward receiver takes in.
const Source = "forward"

// Input reads one forwarded event by its shape: a hopscope sidecar
// access-log record, ingress-nginx fields already parsed by Fluent Bit, or
// a raw log line under "log" or "message" whose format is sniffed (the tag
// is a hint: a tag containing "alb", "haproxy" or "ingress" is tried
// first). Whatever it carries, a forwarded record is received (and
// rejected) under the forward source: the receiver that took it in.
func Input(p logformat.Parser, ev Event) consumer.Input {
	rec, shape, err := route(p, ev)
	where := "tag " + ev.Tag
	if shape != "" {
		where += " (" + shape + ")"
	}
	in := consumer.Input{Source: Source, Where: where, Err: err}
	if err == nil {
		in.Record = rec
	}
	return in
}

// route reads one forwarded record; shape says what it was taken for (a
// sidecar access log, ingress-nginx fields, a log line of a format), ""
// when nothing.
func route(p logformat.Parser, ev Event) (rec correlate.Record, shape string, err error) {
	r := ev.Record
	if _, ok := r[contract.LogAppMS]; ok {
		if _, ok := r[contract.LogTraceID]; ok {
			rec, err := sidecarFromAccessLog(r, ev.Time)
			return rec, "sidecar access log", err
		}
	}
	if _, ok := r["request_time"]; ok {
		const shape = "ingress-nginx fields"
		b, err := json.Marshal(bytesToStrings(r))
		if err != nil {
			return nil, shape, err
		}
		rec, err := ingressnginx.ParseJSON(string(b))
		return &rec, shape, err
	}
	for _, k := range []string{"log", "message"} {
		if s, ok := r[k].(string); ok {
			rec, format, err := p.Sniff(strings.TrimRight(s, "\r\n"), ev.Tag)
			return rec, lineShape(k, format), err
		}
		if b, ok := r[k].([]byte); ok {
			rec, format, err := p.Sniff(strings.TrimRight(string(b), "\r\n"), ev.Tag)
			return rec, lineShape(k, format), err
		}
	}
	return nil, "", errors.New("forward record: not a sidecar access log, ingress-nginx fields or a log line")
}

func lineShape(key, format string) string {
	if format == "" {
		return key + ": no known log format"
	}
	return key + ": " + format
}

// sidecarFromAccessLog reads a sidecar access-log record (internal/contract
// keys) as the sidecar's span: what a pod sends when only its logs, not its
// spans, reach the collector.
func sidecarFromAccessLog(r map[string]any, at time.Time) (*correlate.SidecarSpan, error) {
	s := func(k string) string {
		switch v := r[k].(type) {
		case string:
			return v
		case []byte:
			return string(v)
		}
		return ""
	}
	f := func(k string) (float64, bool) {
		switch v := r[k].(type) {
		case float64:
			return v, true
		case int64:
			return float64(v), true
		case uint64:
			return float64(v), true
		case string:
			x, err := strconv.ParseFloat(v, 64)
			return x, err == nil
		}
		return 0, false
	}
	tid := strings.ToLower(s(contract.LogTraceID))
	if _, err := correlate.ParseTraceID(tid); err != nil {
		return nil, fmt.Errorf("access log %s: %w", contract.LogTraceID, err)
	}
	// The span id is parsed here, at the edge; one that is not 16 hex
	// digits counts as none (the record is still joined by its trace).
	sid, _ := correlate.ParseSpanID(s(contract.LogSpanID))
	dur, ok := f(contract.LogDurationMS)
	if !ok {
		return nil, fmt.Errorf("access log %s: missing or not a number", contract.LogDurationMS)
	}
	app, _ := f(contract.LogAppMS)
	overhead, _ := f(contract.LogOverheadMS)
	status, _ := f(contract.LogStatus)
	start := at
	if ts := s(contract.LogTime); ts != "" {
		if t, err := time.Parse(time.RFC3339Nano, ts); err == nil {
			start = t
		}
	}
	return &correlate.SidecarSpan{
		Keys:     correlate.Keys{TraceID: tid, RequestID: s(contract.LogRequestID)},
		SpanID:   sid,
		Service:  s(contract.LogService),
		Method:   s(contract.LogMethod),
		Route:    s(contract.LogRoute),
		Status:   int(status),
		Start:    start,
		Duration: msDuration(dur),
		App:      msDuration(app),
		// The log has no forwarding instant: half the overhead is taken
		// as spent before forwarding.
		AppStart: msDuration(overhead / 2),
	}, nil
}

// bytesToStrings turns msgpack bin values ([]byte) into strings, so that
// encoding/json writes them as text and not base64.
func bytesToStrings(v any) any {
	switch x := v.(type) {
	case []byte:
		return string(x)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = bytesToStrings(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = bytesToStrings(e)
		}
		return out
	}
	return v
}

func msDuration(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }
