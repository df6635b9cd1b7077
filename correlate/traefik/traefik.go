package traefik

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/hopscope/hopscope/correlate"
	"github.com/hopscope/hopscope/correlate/internal/logparse"
)

// Resolution is the precision given to Traefik's durations.
const Resolution = time.Microsecond

// Bounds that keep arithmetic and slices small: a duration of at most
// about 31.7 years, at most 100 retries.
const (
	maxDuration = int64(1_000_000_000) * int64(time.Second)
	maxRetries  = 100
)

var (
	errMissing = errors.New("missing")
	errNumber  = errors.New("not a non-negative integer in range")
	errStatus  = errors.New("not a status code")
	errTime    = errors.New("not an RFC 3339 time")
)

// The keys ParseJSON reads, by index into keys.
const (
	kStartUTC = iota
	kStartLocal
	kDuration
	kOriginDuration
	kDownstreamStatus
	kOriginStatus
	kRetryAttempts
	kServiceAddr
	kServiceURL
	kServiceName
	kRequestMethod
	kRequestPath
	kRequestHost
	kDownstreamContentSize
	kTraceparent
	kRequestID
	kB3
	kAmzn
)

var keys = []string{
	"StartUTC", "StartLocal", "Duration", "OriginDuration", "DownstreamStatus",
	"OriginStatus", "RetryAttempts", "ServiceAddr", "ServiceURL", "ServiceName",
	"RequestMethod", "RequestPath", "RequestHost", "DownstreamContentSize",
	"request_Traceparent", "request_X-Request-Id", "request_X-B3-Traceid",
	"request_X-Amzn-Trace-Id",
}

// ParseJSON parses one line of Traefik's JSON access log (see the package
// documentation). Surrounding white space is ignored.
func ParseJSON(line string) (correlate.IngressLog, error) {
	v, err := logparse.JSONFields(line, keys)
	if err == nil {
		var rec correlate.IngressLog
		if rec, err = fromFields(v); err == nil {
			return rec, nil
		}
	}
	return correlate.IngressLog{}, fmt.Errorf("traefik JSON log: %w", err)
}

func fromFields(v []string) (correlate.IngressLog, error) {
	rec := correlate.IngressLog{Resolution: Resolution}
	if v[kDuration] == "" {
		return rec, fieldErr(kDuration, "", errMissing)
	}
	d, err := number(v[kDuration], maxDuration)
	if err != nil {
		return rec, fieldErr(kDuration, v[kDuration], err)
	}
	rec.RequestTime = time.Duration(d)
	for _, k := range [...]int{kStartUTC, kStartLocal} {
		if s := v[k]; s != "" {
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil || t.Year() < 1 || t.Year() > 9999 {
				return rec, fieldErr(k, s, errTime)
			}
			rec.Start = t.UTC()
			break
		}
	}
	if s := v[kDownstreamStatus]; s != "" {
		if rec.Status, err = status(s); err != nil {
			return rec, fieldErr(kDownstreamStatus, s, err)
		}
	}
	if s := v[kDownstreamContentSize]; s != "" {
		if _, err := number(s, 1<<62); err != nil {
			return rec, fieldErr(kDownstreamContentSize, s, err)
		}
	}
	var retries int64
	if s := v[kRetryAttempts]; s != "" {
		if retries, err = number(s, maxRetries); err != nil {
			return rec, fieldErr(kRetryAttempts, s, err)
		}
	}
	var originStatus int
	if s := v[kOriginStatus]; s != "" {
		if originStatus, err = status(s); err != nil {
			return rec, fieldErr(kOriginStatus, s, err)
		}
	}
	if s := v[kOriginDuration]; s != "" {
		od, err := number(s, maxDuration)
		if err != nil {
			return rec, fieldErr(kOriginDuration, s, err)
		}
		addr := v[kServiceAddr]
		if addr == "" {
			addr = v[kServiceURL]
		}
		rec.Tries = make([]correlate.UpstreamTry, retries+1)
		rec.Tries[retries] = correlate.UpstreamTry{Addr: addr, Status: originStatus, Response: time.Duration(od)}
	}
	if logparse.IsToken(v[kRequestMethod]) {
		rec.Method = v[kRequestMethod]
	}
	rec.Path = logparse.PathOf(v[kRequestPath])
	rec.Host = v[kRequestHost]
	rec.Upstream = v[kServiceName]
	rec.RequestID = v[kRequestID]
	if id, ok := logparse.TraceparentID(v[kTraceparent]); ok {
		rec.TraceID = id
	} else if id, ok := logparse.B3TraceID(v[kB3]); ok {
		rec.TraceID = id
	}
	if root, id := logparse.XRayRoot(v[kAmzn]); root != "" {
		rec.XRayRoot = root
		if rec.TraceID == "" {
			rec.TraceID = id
		}
	}
	return rec, nil
}

// number parses a non-negative decimal integer of at most max.
func number(s string, max int64) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || s[0] < '0' || s[0] > '9' || n > max {
		return 0, errNumber
	}
	return n, nil
}

// status parses a status code: 0 (Traefik's "absent" for OriginStatus)
// or three digits.
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

func fieldErr(k int, val string, err error) error {
	if val == "" {
		return fmt.Errorf("field %q: %w", keys[k], err)
	}
	return fmt.Errorf("field %q: %s: %w", keys[k], logparse.Quote(val), err)
}
