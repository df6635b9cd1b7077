package envoy

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/hopscope/hopscope/correlate"
	"github.com/hopscope/hopscope/correlate/internal/logparse"
)

// Resolution is the precision of Envoy's logged durations.
const Resolution = time.Millisecond

// maxMS bounds a logged duration (about 11.6 days) and maxAttempts a
// logged attempt count, so that no arithmetic overflows and no huge slice
// is made.
const (
	maxMS       = 1_000_000_000
	maxAttempts = 100
)

var (
	errMissing = errors.New("missing")
	errNumber  = errors.New("not a non-negative integer in range")
	errStatus  = errors.New("not a status code")
	errTime    = errors.New("not an RFC 3339 time")
)

// fields are the values one line carries, as text ("" when absent).
type fields struct {
	start, method, path, code, flags, rx, tx, duration, upstreamTime,
	requestID, authority, upstreamHost, cluster, traceparent, traceID,
	b3, attempts string
}

// absent maps Envoy's "-" for an unset value to "".
func absent(s string) string {
	if s == "-" {
		return ""
	}
	return s
}

// number parses a non-negative decimal integer of at most max.
func number(s string, max uint64) (uint64, error) {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n > max {
		return 0, errNumber
	}
	return n, nil
}

// status parses %RESPONSE_CODE%: "0" (no response) or three digits.
func status(s string) (int, error) {
	if s == "0" {
		return 0, nil
	}
	n, err := logparse.ParseStatus(s)
	if err != nil || s == "-" {
		return 0, errStatus
	}
	return n, nil
}

// fieldErr names a field in an error: a number and name in text, a JSON
// key in JSON.
type fieldErr func(name string, val string, err error) error

// record builds the IngressLog from a line's fields.
func record(f *fields, ferr fieldErr) (correlate.IngressLog, error) {
	rec := correlate.IngressLog{Resolution: Resolution}
	if f.duration == "" {
		return rec, ferr("duration", "", errMissing)
	}
	d, err := number(f.duration, maxMS)
	if err != nil {
		return rec, ferr("duration", f.duration, err)
	}
	rec.RequestTime = time.Duration(d) * time.Millisecond
	if f.start != "" {
		t, err := time.Parse(time.RFC3339Nano, f.start)
		if err != nil || t.Year() < 1 || t.Year() > 9999 {
			return rec, ferr("start_time", f.start, errTime)
		}
		rec.Start = t.UTC()
	}
	if f.code != "" {
		if rec.Status, err = status(f.code); err != nil {
			return rec, ferr("response_code", f.code, err)
		}
	}
	for _, b := range [...]struct{ name, v string }{{"bytes_received", f.rx}, {"bytes_sent", f.tx}} {
		if b.v != "" {
			if _, err := number(b.v, 1<<62); err != nil {
				return rec, ferr(b.name, b.v, err)
			}
		}
	}
	attempts := uint64(1)
	if f.attempts != "" {
		if attempts, err = number(f.attempts, maxAttempts); err != nil {
			return rec, ferr("upstream_request_attempt_count", f.attempts, err)
		}
	}
	if f.upstreamTime != "" {
		ut, err := number(f.upstreamTime, maxMS)
		if err != nil {
			return rec, ferr("upstream_service_time", f.upstreamTime, err)
		}
		n := max(int(attempts), 1)
		rec.Tries = make([]correlate.UpstreamTry, n)
		rec.Tries[n-1] = correlate.UpstreamTry{
			Addr:     strings.TrimPrefix(f.upstreamHost, "tcp://"),
			Status:   rec.Status,
			Response: time.Duration(ut) * time.Millisecond,
		}
	}
	if logparse.IsToken(f.method) {
		rec.Method = f.method
	}
	if f.path != "" {
		rec.Path = logparse.PathOf(f.path)
	}
	rec.Host = f.authority
	rec.Upstream = f.cluster
	rec.RequestID = f.requestID
	if id, ok := logparse.TraceparentID(f.traceparent); ok {
		rec.TraceID = id
	} else if f.traceID != "" && len(f.traceID) == 32 {
		rec.TraceID, _ = logparse.B3TraceID(f.traceID)
	}
	if rec.TraceID == "" {
		rec.TraceID, _ = logparse.B3TraceID(f.b3)
	}
	return rec, nil
}
