package rules

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// promtool finds the real promtool; the rules are never left unchecked.
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool is not on PATH (%v): install Debian's prometheus package (apt-get install prometheus), which ships /usr/bin/promtool", err)
	}
	return p
}

func runPromtool(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), promtool(t), args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %v: %v\n%s", args, err, out)
	}
	t.Logf("promtool %v:\n%s", args, out)
}

func TestPromtoolCheckRules(t *testing.T) {
	runPromtool(t, "check", "rules", filepath.Join("generated", "hopscope-rules.yaml"))
}

// Rules for an SLO other than the default (an integral threshold, whose le
// matcher is a regular expression) are valid too.
func TestPromtoolCheckRulesOtherSLO(t *testing.T) {
	for _, slo := range []SLO{
		{LatencyThresholdSeconds: 1, LatencyObjective: 0.95, AvailabilityObjective: 0.995},
		{LatencyThresholdSeconds: 0.0005, LatencyObjective: 0.5, AvailabilityObjective: 0.99999},
	} {
		data, err := File(slo)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "rules.yaml")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		runPromtool(t, "check", "rules", path)
	}
}

// TestPromtoolTestRules runs the unit tests under testdata/ on the
// generated rule file (their rule_files point at ../generated/, resolved by
// promtool relative to each test file).
func TestPromtoolTestRules(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no testdata/*.test.yaml")
	}
	runPromtool(t, append([]string{"test", "rules"}, files...)...)
}
