package rules

import (
	"math"
	"strings"
	"testing"
)

func TestSLOValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		slo  SLO
		want []string // substrings of the error; none: valid
	}{
		{"default", DefaultSLO(), nil},
		{"every bucket bound is a threshold", SLO{0.0005, 0.5, 0.5}, nil},
		{"the last bound", SLO{30, 0.9999, 0.99999}, nil},
		{"integral bound", SLO{1, 0.95, 0.995}, nil},
		{"threshold between bounds", SLO{0.3, 0.99, 0.999},
			[]string{"slo.latencyThresholdSeconds", "0.3", "0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30"}},
		{"threshold zero", SLO{0, 0.99, 0.999}, []string{"slo.latencyThresholdSeconds"}},
		{"threshold +Inf", SLO{math.Inf(1), 0.99, 0.999}, []string{"slo.latencyThresholdSeconds", "+Inf"}},
		{"threshold in milliseconds", SLO{500, 0.99, 0.999}, []string{"slo.latencyThresholdSeconds", "500"}},
		{"latency objective 1", SLO{0.5, 1, 0.999}, []string{"slo.latencyObjective", "strictly between 0 and 1"}},
		{"latency objective 0", SLO{0.5, 0, 0.999}, []string{"slo.latencyObjective"}},
		{"latency objective as a percentage", SLO{0.5, 99, 0.999}, []string{"slo.latencyObjective", "99"}},
		{"latency objective NaN", SLO{0.5, math.NaN(), 0.999}, []string{"slo.latencyObjective"}},
		{"availability objective 1", SLO{0.5, 0.99, 1}, []string{"slo.availabilityObjective"}},
		{"availability objective negative", SLO{0.5, 0.99, -0.5}, []string{"slo.availabilityObjective"}},
		{"availability objective missing", SLO{LatencyThresholdSeconds: 0.5, LatencyObjective: 0.99}, []string{"slo.availabilityObjective"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.slo.Validate()
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Validate(%+v) = %v, want nil", tc.slo, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate(%+v) = nil, want an error naming %v", tc.slo, tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate(%+v) = %q, want it to contain %q", tc.slo, err, w)
				}
			}
		})
	}
}

func TestDefaultSLO(t *testing.T) {
	if got, want := DefaultSLO(), (SLO{0.5, 0.99, 0.999}); got != want {
		t.Errorf("DefaultSLO() = %+v, want %+v", got, want)
	}
}
