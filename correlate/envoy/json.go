package envoy

import (
	"fmt"
	"slices"

	"github.com/hopscope/hopscope/correlate"
	"github.com/hopscope/hopscope/correlate/internal/logparse"
)

// jsonKeys are the keys ParseJSON reads, one list per value: where Envoy
// Gateway's default JSON format, Istio's and others spell a value
// differently, every spelling is listed and the first present counts.
var jsonKeys = [...][]string{
	{"start_time"},
	{"method"},
	{"x-envoy-origin-path", "path"},
	{"response_code"},
	{"response_flags"},
	{"bytes_received"},
	{"bytes_sent"},
	{"duration"},
	{"x-envoy-upstream-service-time", "upstream_service_time", "x_envoy_upstream_service_time"},
	{"x-request-id", "request_id", "x_request_id"},
	{":authority", "authority"},
	{"upstream_host"},
	{"upstream_cluster"},
	{"traceparent"},
	{"trace_id"},
	{"x-b3-traceid", "x_b3_traceid"},
	{"upstream_request_attempt_count"},
}

// flatKeys is jsonKeys in one list, for logparse.JSONFields, and
// firstKey the index in it of each value's first spelling.
var flatKeys, firstKey = func() ([]string, []int) {
	var keys []string
	var first []int
	for _, k := range jsonKeys {
		first = append(first, len(keys))
		keys = append(keys, k...)
	}
	return keys, first
}()

// ParseJSON parses one JSON access-log line written by an Envoy
// json_format (see the package documentation for the keys). Surrounding
// white space is ignored.
func ParseJSON(line string) (correlate.IngressLog, error) {
	vals, err := logparse.JSONFields(line, flatKeys)
	if err != nil {
		return correlate.IngressLog{}, fmt.Errorf("envoy JSON log: %w", err)
	}
	get := func(i int) string { // the i-th value, by its first spelling present
		for j := range jsonKeys[i] {
			if v := absent(vals[firstKey[i]+j]); v != "" {
				return v
			}
		}
		return ""
	}
	f := fields{
		start: get(0), method: get(1), path: get(2), code: get(3), flags: get(4),
		rx: get(5), tx: get(6), duration: get(7), upstreamTime: get(8), requestID: get(9),
		authority: get(10), upstreamHost: get(11), cluster: get(12), traceparent: get(13),
		traceID: get(14), b3: get(15), attempts: get(16),
	}
	rec, err := record(&f, func(name, val string, err error) error {
		key := name
		for _, k := range jsonKeys {
			if slices.Contains(k, name) {
				key = k[0]
			}
		}
		if val == "" {
			return fmt.Errorf("field %q: %w", key, err)
		}
		return fmt.Errorf("field %q: %s: %w", key, logparse.Quote(val), err)
	})
	if err != nil {
		return correlate.IngressLog{}, fmt.Errorf("envoy JSON log: %w", err)
	}
	return rec, nil
}
