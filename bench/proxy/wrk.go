package main

import (
	"bufio"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// wrkResult is what one wrk run printed.
type wrkResult struct {
	ReqPerSec    float64 `json:"req_per_sec"`
	Requests     int64   `json:"requests"`
	Seconds      float64 `json:"seconds"`
	LatencyAvgMs float64 `json:"latency_avg_ms"`
	LatencyMaxMs float64 `json:"latency_max_ms"`
	P50Ms        float64 `json:"p50_ms"`
	P75Ms        float64 `json:"p75_ms"`
	P90Ms        float64 `json:"p90_ms"`
	P99Ms        float64 `json:"p99_ms"`
	Non2xx3xx    int64   `json:"non_2xx_3xx"`
	ErrConnect   int64   `json:"socket_errors_connect"`
	ErrRead      int64   `json:"socket_errors_read"`
	ErrWrite     int64   `json:"socket_errors_write"`
	ErrTimeout   int64   `json:"socket_errors_timeout"`
}

// Errors is every failed request wrk counted: socket errors plus responses
// with a status of 400 or above (wrk's "Non-2xx or 3xx responses").
func (r wrkResult) Errors() int64 {
	return r.Non2xx3xx + r.ErrConnect + r.ErrRead + r.ErrWrite + r.ErrTimeout
}

var (
	reLatency = regexp.MustCompile(`^Latency\s+(\S+)\s+\S+\s+(\S+)`)
	rePct     = regexp.MustCompile(`^(50|75|90|99)%\s+(\S+)$`)
	reTotal   = regexp.MustCompile(`^(\d+) requests in ([0-9.]+\w+),`)
	reSockErr = regexp.MustCompile(`^Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)$`)
	reNon2xx  = regexp.MustCompile(`^Non-2xx or 3xx responses: (\d+)$`)
	reReqPerS = regexp.MustCompile(`^Requests/sec:\s+([0-9.]+)$`)
)

// parseWrk reads the output of `wrk --latency`. Requests/sec and the four
// latency percentiles are required; the error lines appear only when non-zero.
func parseWrk(out string) (wrkResult, error) {
	var r wrkResult
	var haveRPS bool
	pcts := map[string]*float64{"50": &r.P50Ms, "75": &r.P75Ms, "90": &r.P90Ms, "99": &r.P99Ms}
	seen := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		var err error
		switch {
		case reLatency.MatchString(line):
			m := reLatency.FindStringSubmatch(line)
			if r.LatencyAvgMs, err = parseWrkDuration(m[1]); err == nil {
				r.LatencyMaxMs, err = parseWrkDuration(m[2])
			}
		case rePct.MatchString(line):
			m := rePct.FindStringSubmatch(line)
			*pcts[m[1]], err = parseWrkDuration(m[2])
			seen[m[1]] = true
		case reTotal.MatchString(line):
			m := reTotal.FindStringSubmatch(line)
			r.Requests, _ = strconv.ParseInt(m[1], 10, 64)
			var d float64
			d, err = parseWrkDuration(m[2])
			r.Seconds = d / 1000
		case reSockErr.MatchString(line):
			m := reSockErr.FindStringSubmatch(line)
			r.ErrConnect, _ = strconv.ParseInt(m[1], 10, 64)
			r.ErrRead, _ = strconv.ParseInt(m[2], 10, 64)
			r.ErrWrite, _ = strconv.ParseInt(m[3], 10, 64)
			r.ErrTimeout, _ = strconv.ParseInt(m[4], 10, 64)
		case reNon2xx.MatchString(line):
			r.Non2xx3xx, _ = strconv.ParseInt(reNon2xx.FindStringSubmatch(line)[1], 10, 64)
		case reReqPerS.MatchString(line):
			r.ReqPerSec, err = strconv.ParseFloat(reReqPerS.FindStringSubmatch(line)[1], 64)
			haveRPS = err == nil
		}
		if err != nil {
			return r, fmt.Errorf("wrk output line %q: %v", line, err)
		}
	}
	if !haveRPS {
		return r, fmt.Errorf("no Requests/sec line in wrk output")
	}
	for _, p := range []string{"50", "99"} {
		if !seen[p] {
			return r, fmt.Errorf("no %s%% line in wrk's Latency Distribution (was --latency passed?)", p)
		}
	}
	return r, nil
}

// parseWrkDuration turns wrk's "512.00us", "1.23ms", "2.00s", "1.50m" into
// milliseconds.
func parseWrkDuration(s string) (float64, error) {
	units := []struct {
		suffix string
		ms     float64
	}{{"us", 1e-3}, {"ms", 1}, {"s", 1e3}, {"m", 60e3}, {"h", 3600e3}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseFloat(num, 64)
			if err != nil {
				return 0, fmt.Errorf("bad duration %q", s)
			}
			return v * u.ms, nil
		}
	}
	return 0, fmt.Errorf("bad duration %q", s)
}

// wrkArgs builds the wrk command line.
func wrkArgs(threads, conns int, d time.Duration, url string) []string {
	return []string{
		"-t" + strconv.Itoa(threads),
		"-c" + strconv.Itoa(conns),
		"-d" + strconv.Itoa(int(d.Round(time.Second)/time.Second)) + "s",
		"--latency",
		url,
	}
}
