package charts

import (
	"os"
	"path/filepath"
	"testing"
)

// TestUpgradeWithReuseValues: `helm upgrade --reuse-values` renders the new
// templates with the values the release was installed with, without the
// new chart's defaults, so a template that reads a key added since (as
// .Values.collector.kubeMetadata.enabled did) fails the upgrade with a nil
// pointer. The chart's values.yaml of the last landed release
// (testdata/values-<commit>.yaml, taken with git show <commit>:charts/
// hopscope/values.yaml) stands in for a release's values: the current
// templates must render with it alone, as they must with --set of a new key.
func TestUpgradeWithReuseValues(t *testing.T) {
	olds, err := filepath.Glob(filepath.Join("testdata", "values-*.yaml"))
	if err != nil || len(olds) == 0 {
		t.Fatalf("no old values in testdata: %v", err)
	}
	for _, old := range olds {
		t.Run(filepath.Base(old), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "hopscope")
			if err := os.CopyFS(dir, os.DirFS(chartDir)); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(old)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "values.yaml"), b, 0o644); err != nil {
				t.Fatal(err)
			}
			for _, set := range [][]string{
				nil,
				{"--set", "collector.kubeMetadata.enabled=true"},
				{"--set", "collector.replicas=3", "--set", "collector.gateway.replicas=1"},
				{"--set", "dashboards.enabled=true"},
				{"--set", "sidecar.tracesSampler=parentbased_traceidratio", "--set", "sidecar.tracesSamplerArg=0.25"},
			} {
				args := append([]string{"template", "hopscope", dir, "-n", "hopscope"}, set...)
				if _, stderr, err := runHelm(t, args...); err != nil {
					t.Errorf("helm %v with the values of %s: %v\n%s", set, old, err, stderr)
				}
			}
		})
	}
}
