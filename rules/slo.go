package rules

import (
	"fmt"
	"strconv"
	"strings"
)

// requestDurationBuckets are the upper bounds (le) of the sidecar's
// hopscope_request_duration_seconds histogram. A latency threshold must be
// one of them: the slow ratio is read from the bucket at the threshold, and
// a threshold between two bounds has no bucket.
var requestDurationBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// SLO is the service-level objective every sidecar-fronted service is held
// to. The same objective applies to each (namespace, service); the alerts
// fire per service.
type SLO struct {
	// LatencyThresholdSeconds is the latency a request must beat to count
	// as fast. It must equal one of requestDurationBuckets, the bucket
	// bounds of hopscope_request_duration_seconds.
	LatencyThresholdSeconds float64 `yaml:"latencyThresholdSeconds" json:"latencyThresholdSeconds"`
	// LatencyObjective is the fraction of inbound requests that must be
	// faster than LatencyThresholdSeconds: 0.99 means 99% of requests. Its
	// error budget, 1 − LatencyObjective, is the slow ratio allowed.
	LatencyObjective float64 `yaml:"latencyObjective" json:"latencyObjective"`
	// AvailabilityObjective is the fraction of inbound requests that must
	// not answer 5xx nor fail with a gRPC server error
	// (contract.GRPCServerErrors): 0.999 means 99.9%. Its error budget,
	// 1 − AvailabilityObjective, is the error ratio allowed.
	AvailabilityObjective float64 `yaml:"availabilityObjective" json:"availabilityObjective"`
}

// DefaultSLO is 99% of requests under 0.5 s and 99.9% of requests
// answered without a 5xx or a gRPC server error.
func DefaultSLO() SLO {
	return SLO{LatencyThresholdSeconds: 0.5, LatencyObjective: 0.99, AvailabilityObjective: 0.999}
}

// Validate reports the first field that cannot make rules, named by its key
// in the chart's values (slo.<field>).
func (s SLO) Validate() error {
	if !isBucket(s.LatencyThresholdSeconds) {
		bounds := make([]string, len(requestDurationBuckets))
		for i, b := range requestDurationBuckets {
			bounds[i] = formatFloat(b)
		}
		return fmt.Errorf("slo.latencyThresholdSeconds: %s is not a bucket bound of hopscope_request_duration_seconds; use one of %s",
			formatFloat(s.LatencyThresholdSeconds), strings.Join(bounds, ", "))
	}
	for _, o := range []struct {
		key string
		v   float64
	}{
		{"slo.latencyObjective", s.LatencyObjective},
		{"slo.availabilityObjective", s.AvailabilityObjective},
	} {
		// Written so that NaN fails too.
		if !(o.v > 0 && o.v < 1) {
			return fmt.Errorf("%s: %s must be strictly between 0 and 1 (e.g. 0.999 for 99.9%%)", o.key, formatFloat(o.v))
		}
	}
	return nil
}

func isBucket(v float64) bool {
	for _, b := range requestDurationBuckets {
		if v == b {
			return true
		}
	}
	return false
}

// formatFloat writes v the shortest way that reads back as v, as
// client_golang writes a bucket's le label.
func formatFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
