package promcheck

import (
	"strings"
	"testing"
)

func TestSeriesNamesTheContract(t *testing.T) {
	reg, err := Series()
	if err != nil {
		t.Fatal(err)
	}
	// The names DESIGN.md fixes, each from the part that must expose it.
	for name, part := range map[string]string{
		"hopscope_requests_total":                  "sidecar",
		"hopscope_request_duration_seconds_bucket": "sidecar",
		"hopscope_inflight_requests":               "sidecar",
		"hopscope_proxy_overhead_seconds_count":    "sidecar",
		"hopscope_queue_time_seconds_sum":          "sidecar",
		"hopscope_telemetry_dropped_total":         "sidecar",
		"hopscope_backend_duration_seconds_bucket": "sidecar",
		"hopscope_backend_circuit_state":           "sidecar",
		"hopscope_hop_duration_seconds_bucket":     "collector",
		"hopscope_collector_received_total":        "collector",
		"hopscope_collector_traces_active":         "collector",
		"hopscope_collector_evicted_total":         "collector",
		"go_gc_duration_seconds_count":             "process",
		"process_resident_memory_bytes":            "process",
	} {
		if got := reg[name]; got != part {
			t.Errorf("%s: registered by %q, want %q", name, got, part)
		}
	}
	for _, n := range []string{"hopscope_requests_total_bucket", "hopscope_hop_duration_seconds"} {
		if _, ok := reg[n]; ok {
			t.Errorf("%s listed: a counter has no buckets, a histogram no bare series", n)
		}
	}
}

func TestExpand(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`rate(x{service=~"$service"}[$__rate_interval])`, `rate(x{service=~".*"}[5m])`},
		{`rate(x{route=~"${route:regex}"}[$__interval])`, `rate(x{route=~".*"}[1m])`},
		{`x{pod="[[pod]]"}`, `x{pod=".*"}`},
		{`x{cluster=~"$cluster"}`, `x{cluster=~"prod"}`},
	} {
		if got := Expand(tc.in, map[string]string{"cluster": "prod"}); got != tc.want {
			t.Errorf("Expand(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestCheck(t *testing.T) {
	c, err := NewChecker()
	if err != nil {
		t.Fatal(err)
	}
	c.AddRecorded("hopscope:hop_duration_seconds:p95_5m", "test rule")
	for _, tc := range []struct {
		expr, err string
	}{
		{`histogram_quantile(0.95, sum by (le, hop) (rate(hopscope_hop_duration_seconds_bucket{service=~"$service"}[$__rate_interval])))`, ""},
		{`hopscope:hop_duration_seconds:p95_5m > 2`, ""},
		{`kube_horizontalpodautoscaler_status_desired_replicas`, ""},
		{`sum(rate(hopscope_request_total[5m]))`, "hopscope_request_total"},
		{`sum(rate(hopscope_requests_total[5m])`, "parsing"},
		{`{job="x"}`, "names no metric"},
		{`{__name__="hopscope_inflight_requests"}`, ""},
	} {
		err := c.Check(tc.expr)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%s: %v", tc.expr, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: error %v, want one naming %q", tc.expr, err, tc.err)
		}
	}
}
