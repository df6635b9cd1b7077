package main

import (
	"math"
	"testing"
)

const wrkOut = `Running 8s test @ http://127.0.0.1:40001/
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.02ms  512.33us  24.10ms   93.12%
    Req/Sec    31.51k     1.20k   33.02k    80.00%
  Latency Distribution
     50%  950.00us
     75%    1.10ms
     90%    1.32ms
     99%    2.71ms
  250812 requests in 8.00s, 36.60MB read
  Socket errors: connect 0, read 3, write 0, timeout 12
  Non-2xx or 3xx responses: 7
Requests/sec:  31351.33
Transfer/sec:      4.58MB
`

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestParseWrk(t *testing.T) {
	r, err := parseWrk(wrkOut)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want float64
	}{
		{"req/s", r.ReqPerSec, 31351.33},
		{"avg", r.LatencyAvgMs, 1.02},
		{"max", r.LatencyMaxMs, 24.10},
		{"p50", r.P50Ms, 0.95},
		{"p75", r.P75Ms, 1.10},
		{"p90", r.P90Ms, 1.32},
		{"p99", r.P99Ms, 2.71},
		{"seconds", r.Seconds, 8},
		{"requests", float64(r.Requests), 250812},
		{"errors", float64(r.Errors()), 22},
		{"non2xx", float64(r.Non2xx3xx), 7},
		{"timeouts", float64(r.ErrTimeout), 12},
	}
	for _, c := range checks {
		if !near(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestParseWrkNoErrorLines(t *testing.T) {
	out := `Running 1s test @ http://127.0.0.1:1/
  Latency Distribution
     50%    1.00s
     75%    1.00s
     90%    1.50m
     99%    2.00m
  10 requests in 1.00m, 1.00KB read
Requests/sec:      0.17
`
	r, err := parseWrk(out)
	if err != nil {
		t.Fatal(err)
	}
	if r.Errors() != 0 || !near(r.P50Ms, 1000) || !near(r.P99Ms, 120000) || !near(r.Seconds, 60) {
		t.Errorf("got %+v", r)
	}
}

func TestParseWrkRejects(t *testing.T) {
	for name, out := range map[string]string{
		"empty":      "",
		"no latency": "Requests/sec: 10.0\n",
		"no rps":     "  Latency Distribution\n     50%  1.00ms\n     99%  2.00ms\n",
		"bad unit":   "     50%  1.00xs\n     99%  2.00ms\nRequests/sec: 1.0\n",
	} {
		if _, err := parseWrk(out); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestWrkArgs(t *testing.T) {
	got := wrkArgs(1, 32, 8e9, "http://x/")
	want := []string{"-t1", "-c32", "-d8s", "--latency", "http://x/"}
	if len(got) != len(want) {
		t.Fatalf("%q", got)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%q, want %q", got, want)
		}
	}
}
