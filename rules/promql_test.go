package rules

import (
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/hopscope/hopscope/internal/promcheck"
)

// TestQueriesReadKnownMetrics parses every rule expression and every
// prometheus-adapter query, and checks that each reads only series the
// sidecar or the collector register, or a rule records.
func TestQueriesReadKnownMetrics(t *testing.T) {
	for _, slo := range []SLO{DefaultSLO(), {LatencyThresholdSeconds: 1, LatencyObjective: 0.95, AvailabilityObjective: 0.995}} {
		c, err := promcheck.NewChecker()
		if err != nil {
			t.Fatal(err)
		}
		groups, err := Groups(slo)
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range groups {
			for _, r := range g.Rules {
				if r.Record != "" {
					c.AddRecorded(r.Record, "rules")
				}
			}
		}
		for _, g := range groups {
			for _, r := range g.Rules {
				if err := c.Check(r.Expr); err != nil {
					t.Errorf("%s %s%s: %v", g.Name, r.Record, r.Alert, err)
				}
			}
		}
		for _, r := range AdapterRules() {
			if err := c.Check(r.SeriesQuery); err != nil {
				t.Errorf("adapter seriesQuery: %v", err)
			}
			names, err := promcheck.Metrics(r.SeriesQuery)
			if err != nil || len(names) != 1 {
				t.Fatalf("adapter seriesQuery %q names %v (%v), want one series", r.SeriesQuery, names, err)
			}
			for _, m := range [][]string{
				{`namespace="shop"`, `pod="shop-1"`},
				{`namespace="shop"`, `pod=~"shop-1|shop-2"`},
			} {
				q, err := FillMetricsQuery(r.MetricsQuery, names[0], m, []string{"pod"})
				if err != nil {
					t.Fatal(err)
				}
				if err := c.Check(q); err != nil {
					t.Errorf("adapter metricsQuery for %s: %v", r.Name.As, err)
				}
			}
		}
	}
}

// TestThresholdBucketMatcher checks the le matcher of the slow ratio
// against the ways Prometheus stores a bucket bound.
func TestThresholdBucketMatcher(t *testing.T) {
	for _, tc := range []struct {
		threshold float64
		match     []string
		miss      []string
	}{
		{0.5, []string{"0.5"}, []string{"0.05", "0.25", "5", "+Inf"}},
		{0.0005, []string{"0.0005"}, []string{"0.005", "0.00050"}},
		{1, []string{"1", "1.0"}, []string{"10", "1.5", "0.1", "11.0", "1x0"}},
		{30, []string{"30", "30.0"}, []string{"3", "300", "30.5"}},
	} {
		e, err := parser.NewParser(parser.Options{}).ParseExpr("x{" + leMatcher(tc.threshold) + "}")
		if err != nil {
			t.Fatalf("%v: %v", tc.threshold, err)
		}
		var le *labels.Matcher
		for _, m := range e.(*parser.VectorSelector).LabelMatchers {
			if m.Name == "le" {
				le = m
			}
		}
		if le == nil {
			t.Fatalf("%v: no le matcher in %s", tc.threshold, e)
		}
		for _, v := range tc.match {
			if !le.Matches(v) {
				t.Errorf("threshold %v: %s does not match le=%q", tc.threshold, le, v)
			}
		}
		for _, v := range tc.miss {
			if le.Matches(v) {
				t.Errorf("threshold %v: %s matches le=%q", tc.threshold, le, v)
			}
		}
	}
}
