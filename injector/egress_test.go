package injector

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestEgressCapture: with egress in the template, the app containers get
// HTTP_PROXY, HTTPS_PROXY and NO_PROXY towards the sidecar's forward proxy
// and the sidecar runs it; a container with a proxy of its own is left
// alone, with a warning.
func TestEgressCapture(t *testing.T) {
	tmpl := testTemplate(t)
	tmpl.Egress = &Egress{Listen: "127.0.0.1:15081", NoProxy: "localhost,127.0.0.1,.svc,.cluster.local"}
	if err := tmpl.Validate(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join("testdata", "admission", "named-port.json"))
	if err != nil {
		t.Fatal(err)
	}
	var review admissionv1.AdmissionReview
	json.Unmarshal(data, &review)
	var pod corev1.Pod
	json.Unmarshal(review.Request.Object.Raw, &pod)
	// A second app container that brings its own proxy, and one with env.
	own := corev1.Container{Name: "legacy", Image: "x", Env: []corev1.EnvVar{{Name: "https_proxy", Value: "http://corp-proxy:3128"}}}
	withEnv := corev1.Container{Name: "worker", Image: "x", Env: []corev1.EnvVar{{Name: "MODE", Value: "worker"}}}
	pod.Spec.Containers = append(pod.Spec.Containers, own, withEnv)
	raw, _ := json.Marshal(&pod)

	res := Mutate(tmpl, &pod, false)
	if res.Skipped != "" {
		t.Fatalf("skipped: %s", res.Skipped)
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], `container "legacy" sets its own proxy`) {
		t.Errorf("warnings %q", res.Warnings)
	}
	patch, _ := MarshalPatch(res.Patch)
	patched := applyPatch(t, raw, patch)
	checkPatchedPod(t, tmpl, &pod, patched)
	env := func(c corev1.Container) map[string]string {
		m := map[string]string{}
		for _, v := range c.Env {
			m[v.Name] = v.Value
		}
		return m
	}
	for _, c := range patched.Spec.Containers {
		e := env(c)
		switch c.Name {
		case "app", "worker":
			if e["HTTP_PROXY"] != "http://127.0.0.1:15081" || e["HTTPS_PROXY"] != "http://127.0.0.1:15081" || e["NO_PROXY"] != tmpl.Egress.NoProxy {
				t.Errorf("%s env %v", c.Name, e)
			}
			if c.Name == "worker" && e["MODE"] != "worker" {
				t.Errorf("worker lost its own env: %v", e)
			}
		case "legacy":
			if len(c.Env) != 1 {
				t.Errorf("legacy env changed: %v", e)
			}
		}
	}
	if sc := patched.Spec.InitContainers[0]; env(sc)["HOPSCOPE_EGRESS_LISTEN"] != "127.0.0.1:15081" {
		t.Errorf("sidecar env %v", env(sc))
	}

	tmpl.Egress.Listen = "0.0.0.0:15081"
	if err := tmpl.Validate(); err == nil || !strings.Contains(err.Error(), "egress.listen") {
		t.Errorf("a public egress listener: %v", err)
	}
}

// TestBackendsAnnotation: hopscope.io/backends reaches the sidecar as
// HOPSCOPE_BACKENDS when valid; an invalid one is named in a warning and
// the sidecar runs without backend proxies.
func TestBackendsAnnotation(t *testing.T) {
	tmpl := testTemplate(t)
	pod := func(v string) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{AnnotationInject: "enabled", AnnotationBackends: v}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}},
		}
	}
	sidecarEnv := func(res Result) string {
		for _, op := range res.Patch {
			if cs, ok := op.Value.([]corev1.Container); ok {
				for _, e := range cs[0].Env {
					if e.Name == "HOPSCOPE_BACKENDS" {
						return e.Value
					}
				}
			}
		}
		return ""
	}
	good := "[{name: db, kind: postgres, listen: '127.0.0.1:15432', target: 'postgres.db.svc:5432'}]"
	if res := Mutate(tmpl, pod(good), false); sidecarEnv(res) != good || len(res.Warnings) != 0 {
		t.Errorf("valid annotation: env %q, warnings %q", sidecarEnv(res), res.Warnings)
	}
	for v, want := range map[string]string{
		"[{name: db, kind: mysql, listen: '127.0.0.1:1', target: 'db:1'}]":     "backends[0].kind",
		"[{name: db, kinds: postgres, listen: '127.0.0.1:1', target: 'db:1'}]": "kinds",
		"{not: a list}": "not a YAML list",
	} {
		res := Mutate(tmpl, pod(v), false)
		if res.Skipped != "" || sidecarEnv(res) != "" || len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], want) {
			t.Errorf("%s: skipped %q, env %q, warnings %q (want one naming %q)", v, res.Skipped, sidecarEnv(res), res.Warnings, want)
		}
	}
}
