package charts

import (
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// TestAuthValues: auth.enabled gives the collector its token list from
// the Secret (read-only, the one key) and --auth-token-file, and the
// sidecars and the helm test pod the sender's token in
// OTEL_EXPORTER_OTLP_HEADERS, the variable it expands defined before it.
// Off (the default), none of it is rendered.
func TestAuthValues(t *testing.T) {
	render := func(set ...string) []object {
		args := []string{"template", releaseName, chartDir, "-n", releaseNamespace, "--kube-version", defaultKubeVersion}
		for _, s := range set {
			args = append(args, "--set", s)
		}
		out, stderr, err := runHelm(t, args...)
		if err != nil {
			t.Fatalf("helm template %v: %v\n%s", set, err, stderr)
		}
		return decodeAll(t, out)
	}
	senderEnv := func(t *testing.T, what string, env []corev1.EnvVar, secret, key string) {
		t.Helper()
		tok := slices.IndexFunc(env, func(e corev1.EnvVar) bool { return e.Name == "HOPSCOPE_OTLP_TOKEN" })
		hdr := slices.IndexFunc(env, func(e corev1.EnvVar) bool { return e.Name == "OTEL_EXPORTER_OTLP_HEADERS" })
		if tok < 0 || hdr < 0 || tok > hdr {
			t.Fatalf("%s env: HOPSCOPE_OTLP_TOKEN at %d, OTEL_EXPORTER_OTLP_HEADERS at %d; want both, the token first", what, tok, hdr)
		}
		ref := env[tok].ValueFrom
		if ref == nil || ref.SecretKeyRef == nil || ref.SecretKeyRef.Name != secret || ref.SecretKeyRef.Key != key {
			t.Errorf("%s: HOPSCOPE_OTLP_TOKEN from %+v, want Secret %s key %s", what, ref, secret, key)
		}
		if env[hdr].Value != "authorization=Bearer%20$(HOPSCOPE_OTLP_TOKEN)" {
			t.Errorf("%s: OTEL_EXPORTER_OTLP_HEADERS = %q", what, env[hdr].Value)
		}
	}

	objs := render("auth.enabled=true", "auth.secretName=shop-otlp", "auth.collectorKey=list", "auth.senderKey=one")
	col := typed[*appsv1.Deployment](t, objs, "Deployment", collectorName)
	c := container(t, col, "collector")
	wantArgs(t, "collector", c.Args, "--auth-token-file=/etc/hopscope/auth/list")
	mount := slices.IndexFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == "auth" })
	if mount < 0 || c.VolumeMounts[mount].MountPath != "/etc/hopscope/auth" || !c.VolumeMounts[mount].ReadOnly {
		t.Errorf("collector mounts = %+v, want auth read-only at /etc/hopscope/auth", c.VolumeMounts)
	}
	vol := slices.IndexFunc(col.Spec.Template.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == "auth" })
	if vol < 0 {
		t.Fatal("no auth volume")
	}
	if s := col.Spec.Template.Spec.Volumes[vol].Secret; s == nil || s.SecretName != "shop-otlp" || len(s.Items) != 1 || s.Items[0].Key != "list" || s.Items[0].Path != "list" {
		t.Errorf("auth volume = %+v", col.Spec.Template.Spec.Volumes[vol])
	}
	tmpl, ok := sidecarTemplate(t, objs)
	if !ok {
		t.Fatal("no sidecar template")
	}
	senderEnv(t, "sidecar", tmpl.Container.Env, "shop-otlp", "one")
	for _, e := range tmpl.Container.Env {
		if e.Name == "HOPSCOPE_OTLP_TOKEN" && (e.ValueFrom.SecretKeyRef.Optional == nil || !*e.ValueFrom.SecretKeyRef.Optional) {
			t.Error("the sidecar's token is not optional: a namespace without the Secret would not start its pods")
		}
	}
	test := typed[*corev1.Pod](t, objs, "Pod", testPodName)
	senderEnv(t, "helm test pod", test.Spec.Containers[0].Env, "shop-otlp", "one")

	// Off by default.
	objs = render()
	c = container(t, typed[*appsv1.Deployment](t, objs, "Deployment", collectorName), "collector")
	noArgPrefix(t, "collector", c.Args, "--auth-token-file")
	tmpl, _ = sidecarTemplate(t, objs)
	for _, e := range append(tmpl.Container.Env, typed[*corev1.Pod](t, objs, "Pod", testPodName).Spec.Containers[0].Env...) {
		if e.Name == "HOPSCOPE_OTLP_TOKEN" || e.Name == "OTEL_EXPORTER_OTLP_HEADERS" {
			t.Errorf("auth off, yet %s is set", e.Name)
		}
	}
}
