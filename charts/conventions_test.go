package charts

// Tests of the values users of the reference charts (OpenTelemetry
// Collector, Jaeger, kube-prometheus-stack, Linkerd) expect (issue 12,
// item 3).

import (
	"strings"
	"testing"
)

// TestEnabledFalseRendersNothing: `enabled: false` renders no object and
// no hook for any ci/*-values.yaml (the chart as a subchart switched off),
// passes helm lint --strict, and NOTES.txt says so.
func TestEnabledFalseRendersNothing(t *testing.T) {
	for variant, path := range ciFiles(t) {
		t.Run(variant, func(t *testing.T) {
			t.Parallel()
			if on := decodeAll(t, renderCI(t, variant)); len(on) == 0 {
				t.Fatal("the variant renders nothing with enabled true")
			}
			objs := decodeAll(t, mustTemplate(t, "-f", path, "--set", "enabled=false"))
			if len(objs) != 0 {
				t.Errorf("enabled=false renders %s", names(objs))
			}
			out, stderr, err := runHelm(t, "lint", "--strict", "--kube-version", defaultKubeVersion, chartDir, "-f", path, "--set", "enabled=false")
			if err != nil {
				t.Errorf("helm lint --strict --set enabled=false: %v\n%s%s", err, out, stderr)
			}
		})
	}
	notes := renderNotes(t, "--set", "enabled=false")
	if !strings.Contains(notes, "disabled") || strings.Contains(notes, "kubectl") {
		t.Errorf("NOTES.txt with enabled=false:\n%s", notes)
	}
}
