package charts

// Tests of the values users of the reference charts (OpenTelemetry
// Collector, Jaeger, kube-prometheus-stack, Linkerd) expect (issue 12,
// item 3).

import (
	"maps"
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

// TestGlobalIsShared: a parent chart's globals pass the schema next to
// global.imageRegistry.
func TestGlobalIsShared(t *testing.T) {
	out := mustTemplate(t, "--set", "global.imageRegistry=mirror.example.com", "--set", "global.storageClass=fast",
		"--set-json", `global.parent={"any":["thing"]}`, "--show-only", "templates/collector-deployment.yaml")
	if !strings.Contains(out, "image: mirror.example.com/hopscope/hopscope:") {
		t.Errorf("the collector's image is not under global.imageRegistry:\n%s", out)
	}
}

// renderedImages returns the image of every container the release runs or
// injects: "collector", "injector", "gateway", "selftest" (by container
// name) and "sidecar" (the sidecar template).
func renderedImages(t *testing.T, objs []object) map[string]string {
	t.Helper()
	out := map[string]string{}
	for name, p := range podSpecs(objs) {
		for _, c := range append(p.Spec.InitContainers, p.Spec.Containers...) {
			if _, dup := out[c.Name]; dup {
				t.Errorf("%s: a second container %q", name, c.Name)
			}
			out[c.Name] = c.Image
		}
	}
	if tmpl, ok := sidecarTemplate(t, objs); ok {
		out["sidecar"] = tmpl.Container.Image
	}
	return out
}

// TestImageReferences: image.digest wins over the tag (and reaches the
// sidecar unless it has a tag of its own), each image has its own digest,
// and global.imageRegistry takes the place of the registry of every image
// the chart runs or injects.
func TestImageReferences(t *testing.T) {
	v := chartAppVersion(t)
	const (
		d1 = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
		d2 = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
		d3 = "sha256:3333333333333333333333333333333333333333333333333333333333333333"
	)
	hop, gw := "ghcr.io/hopscope/hopscope:"+v, "ghcr.io/hopscope/gateway:"+v
	base := map[string]string{"collector": hop, "injector": hop, "selftest": hop, "sidecar": hop, "gateway": gw}
	with := func(changes map[string]string) map[string]string {
		m := maps.Clone(base)
		maps.Copy(m, changes)
		return m
	}
	for _, tc := range []struct {
		name string
		set  []string
		want map[string]string
	}{
		{"defaults", nil, base},
		{"tag", []string{"image.tag=1.2.3"}, with(map[string]string{"collector": "ghcr.io/hopscope/hopscope:1.2.3",
			"injector": "ghcr.io/hopscope/hopscope:1.2.3", "selftest": "ghcr.io/hopscope/hopscope:1.2.3", "sidecar": "ghcr.io/hopscope/hopscope:1.2.3"})},
		{"digest wins over the tag", []string{"image.tag=1.2.3", "image.digest=" + d1}, with(map[string]string{
			"collector": "ghcr.io/hopscope/hopscope@" + d1, "injector": "ghcr.io/hopscope/hopscope@" + d1,
			"selftest": "ghcr.io/hopscope/hopscope@" + d1, "sidecar": "ghcr.io/hopscope/hopscope@" + d1})},
		{"sidecar tag beats the inherited digest", []string{"image.digest=" + d1, "sidecar.image.tag=0.9.0"}, with(map[string]string{
			"collector": "ghcr.io/hopscope/hopscope@" + d1, "injector": "ghcr.io/hopscope/hopscope@" + d1,
			"selftest": "ghcr.io/hopscope/hopscope@" + d1, "sidecar": "ghcr.io/hopscope/hopscope:0.9.0"})},
		{"own digests", []string{"image.digest=" + d1, "sidecar.image.repository=example.com/sidecar", "sidecar.image.digest=" + d2,
			"collector.gateway.image.digest=" + d3}, with(map[string]string{
			"collector": "ghcr.io/hopscope/hopscope@" + d1, "injector": "ghcr.io/hopscope/hopscope@" + d1,
			"selftest": "ghcr.io/hopscope/hopscope@" + d1, "sidecar": "example.com/sidecar@" + d2, "gateway": "ghcr.io/hopscope/gateway@" + d3})},
		{"global registry", []string{"global.imageRegistry=mirror.example.com:5000"}, with(map[string]string{
			"collector": "mirror.example.com:5000/hopscope/hopscope:" + v, "injector": "mirror.example.com:5000/hopscope/hopscope:" + v,
			"selftest": "mirror.example.com:5000/hopscope/hopscope:" + v, "sidecar": "mirror.example.com:5000/hopscope/hopscope:" + v,
			"gateway": "mirror.example.com:5000/hopscope/gateway:" + v})},
		{"global registry with a path, repositories without a registry, digests", []string{"global.imageRegistry=harbor.example.com/ghcr/",
			"image.repository=hopscope/hopscope", "image.digest=" + d1, "sidecar.image.repository=localhost/sidecar",
			"collector.gateway.image.repository=gateway", "collector.gateway.image.tag=v7"}, with(map[string]string{
			"collector": "harbor.example.com/ghcr/hopscope/hopscope@" + d1, "injector": "harbor.example.com/ghcr/hopscope/hopscope@" + d1,
			"selftest": "harbor.example.com/ghcr/hopscope/hopscope@" + d1, "sidecar": "harbor.example.com/ghcr/sidecar@" + d1,
			"gateway": "harbor.example.com/ghcr/gateway:v7"})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := []string{"--set", "collector.replicas=3"}
			for _, s := range tc.set {
				args = append(args, "--set", s)
			}
			got := renderedImages(t, decodeAll(t, mustTemplate(t, args...)))
			if !maps.Equal(got, tc.want) {
				t.Errorf("images\n%v\nwant\n%v", got, tc.want)
			}
		})
	}
}
