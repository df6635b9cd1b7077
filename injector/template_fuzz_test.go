package injector

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

// fuzzAppPort is the app's port in FuzzParseTemplate's pods.
const fuzzAppPort = 8080

// fuzzPods are the fixed pods FuzzParseTemplate injects, their app port
// named portName: an annotated pod with labels, a probe on the named port
// and a second container; and a bare pod of a labelled namespace with an
// init container, env and a preStop hook of its own.
func fuzzPods(portName string) []struct {
	pod              *corev1.Pod
	namespaceEnabled bool
} {
	probe := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString(portName)}}}
	annotated := &corev1.Pod{}
	annotated.Name, annotated.Namespace = "shop-7d9f8c6b5-x2x4q", "apps"
	annotated.Labels = map[string]string{"app.kubernetes.io/name": "shop", "pod-template-hash": "7d9f8c6b5"}
	annotated.Annotations = map[string]string{AnnotationInject: "enabled"}
	annotated.Spec.Containers = []corev1.Container{
		{Name: "app", Image: "ghcr.io/hopscope/shop:0.1.0",
			Ports:          []corev1.ContainerPort{{Name: portName, ContainerPort: fuzzAppPort, Protocol: corev1.ProtocolTCP}},
			ReadinessProbe: probe, LivenessProbe: probe.DeepCopy()},
		{Name: "worker", Image: "ghcr.io/hopscope/shop:0.1.0", Args: []string{"worker"},
			Ports: []corev1.ContainerPort{{Name: "metrics", ContainerPort: 9090}}},
	}
	bare := &corev1.Pod{}
	bare.Name, bare.Namespace = "bare", "hopscope-enabled"
	bare.Spec.InitContainers = []corev1.Container{{Name: "migrate", Image: "ghcr.io/hopscope/shop:0.1.0", Args: []string{"migrate"}}}
	bare.Spec.Containers = []corev1.Container{{Name: "app", Image: "ghcr.io/hopscope/shop:0.1.0",
		Env:       []corev1.EnvVar{{Name: "LOG_LEVEL", Value: "info"}},
		Ports:     []corev1.ContainerPort{{Name: portName, ContainerPort: fuzzAppPort}},
		Lifecycle: &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"sleep", "5"}}}}}}
	return []struct {
		pod              *corev1.Pod
		namespaceEnabled bool
	}{{annotated, false}, {bare, true}}
}

// FuzzParseTemplate: a sidecar template either fails to parse with an
// error naming the template, or is a template that passes Validate, reads
// back the same from its own YAML, and injects into the fixed pods of
// fuzzPods (or skips one with a warning and no patch) with a patch that
// applies and gives a pod that decodes and that the API server would take
// as far as the injector has a say: one sidecar container, as the template
// has it (an init container with restartPolicy Always when native), that
// takes the app's port name on the proxy port while the app's port moves
// to its new name; container names and each container's port names unique
// and valid; the sidecar's HOPSCOPE_UPSTREAM the app (the last value of a
// variable is the one a container gets); probes on the moved name moved
// to its number. Seeds: the chart's rendered template, variants below and
// testdata/fuzz/FuzzParseTemplate.
func FuzzParseTemplate(f *testing.F) {
	good, err := os.ReadFile(filepath.Join("testdata", "sidecar-template.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	for _, r := range [][2]string{
		{"native: true", "native: false"},
		{"drainOnPreStop: true", "drainOnPreStop: false\negress:\n  listen: 127.0.0.1:15081\n  noProxy: .svc,.cluster.local"},
		{"portName: http", "portName: grpc-web-public"},
		{"portName: http", "portName: hopscope-admin"},
		{"    - name: HOPSCOPE_MEMORY_LIMIT", "    - name: HOPSCOPE_UPSTREAM\n      value: http://127.0.0.1:9\n    - name: HOPSCOPE_MEMORY_LIMIT"},
		{"  ports:\n", "  ports:\n    - name: http\n      containerPort: 15080\n"},
		{"proxyPort: 15080", "proxyPort: 8080"},
		{"      memory: 128Mi", "      memory: 1.5Gi\n      cpu: \"2\""},
		{"    - name: HOPSCOPE_MEMORY_LIMIT", "    - name: HOPSCOPE_UPSTREAM\n      value: http://127.0.0.1:9\n    - name: HOPSCOPE_UPSTREAM\n      value: http://127.0.0.1:10\n    - name: HOPSCOPE_MEMORY_LIMIT"},
		{"  ports:\n", "  ports:\n    - name: app-http\n      containerPort: 15091\n"},
		{"        - ALL", "        - NET_RAW"},
		{"    runAsUser: 65532", "    runAsUser: 0"},
		{"    seccompProfile:\n      type: RuntimeDefault\n", ""},
	} {
		f.Add([]byte(strings.Replace(string(good), r[0], r[1], 1)))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tmpl, err := ParseTemplate(data)
		if err != nil {
			if msg := err.Error(); !strings.HasPrefix(msg, "decoding the sidecar template: ") && !strings.HasPrefix(msg, "sidecar template: ") {
				t.Fatalf("error %q does not name the template", msg)
			}
			return
		}
		if err := tmpl.Validate(); err != nil {
			t.Fatalf("parsed, yet invalid: %v", err)
		}
		again, err := yaml.Marshal(tmpl)
		if err != nil {
			t.Fatal(err)
		}
		if back, err := ParseTemplate(again); err != nil || !apiequality.Semantic.DeepEqual(back, tmpl) {
			t.Fatalf("template does not read back from its own YAML (%v):\n%s", err, again)
		}
		for _, p := range fuzzPods(tmpl.PortName) {
			checkInjected(t, tmpl, p.pod, p.namespaceEnabled)
		}
	})
}

// checkInjected injects tmpl into pod and checks the patched pod.
func checkInjected(t *testing.T, tmpl Template, pod *corev1.Pod, namespaceEnabled bool) {
	t.Helper()
	res := Mutate(tmpl, pod, namespaceEnabled)
	if res.Skipped != "" {
		if len(res.Patch) != 0 || len(res.Warnings) == 0 {
			t.Fatalf("pod %s skipped (%s) with %d patch operations and warnings %q", pod.Name, res.Skipped, len(res.Patch), res.Warnings)
		}
		return
	}
	patch, err := MarshalPatch(res.Patch)
	if err != nil {
		t.Fatalf("pod %s: %v", pod.Name, err)
	}
	p, err := jsonpatch.DecodePatch(patch)
	if err != nil {
		t.Fatalf("pod %s: undecodable patch %s: %v", pod.Name, patch, err)
	}
	podJSON, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.Apply(podJSON)
	if err != nil {
		t.Fatalf("pod %s: patch %s does not apply: %v", pod.Name, patch, err)
	}
	var got corev1.Pod
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("pod %s: patched pod does not decode: %v", pod.Name, err)
	}

	// One sidecar, where the template says, as the template has it.
	var sidecar *corev1.Container
	names := map[string]bool{}
	for _, list := range []*[]corev1.Container{&got.Spec.InitContainers, &got.Spec.Containers} {
		for i := range *list {
			c := &(*list)[i]
			if names[c.Name] {
				t.Fatalf("pod %s: two containers named %q", pod.Name, c.Name)
			}
			names[c.Name] = true
			if c.Name == ContainerName {
				sidecar = c
				if native := list == &got.Spec.InitContainers; native != tmpl.Native {
					t.Fatalf("pod %s: sidecar among init containers: %v, template native: %v", pod.Name, native, tmpl.Native)
				}
			}
			checkPorts(t, pod.Name, c)
		}
	}
	if sidecar == nil {
		t.Fatalf("pod %s: no sidecar in %s", pod.Name, out)
	}
	if tmpl.Native != (sidecar.RestartPolicy != nil && *sidecar.RestartPolicy == corev1.ContainerRestartPolicyAlways) {
		t.Fatalf("pod %s: sidecar restartPolicy %v, native %v", pod.Name, sidecar.RestartPolicy, tmpl.Native)
	}
	want := tmpl.Container.DeepCopy()
	want.Ports = append([]corev1.ContainerPort{{Name: tmpl.PortName, ContainerPort: tmpl.ProxyPort, Protocol: corev1.ProtocolTCP}}, want.Ports...)
	want.Env, want.RestartPolicy = sidecar.Env, sidecar.RestartPolicy
	if !apiequality.Semantic.DeepEqual(*sidecar, *want) {
		gotJSON, _ := json.Marshal(sidecar)
		wantJSON, _ := json.Marshal(want)
		t.Fatalf("pod %s: sidecar\n %s\nnot the template's\n %s", pod.Name, gotJSON, wantJSON)
	}
	upstream := "http://127.0.0.1:" + strconv.Itoa(fuzzAppPort)
	if v, ok := lastEnv(sidecar.Env, "HOPSCOPE_UPSTREAM"); !ok || v.Value != upstream || v.ValueFrom != nil {
		t.Fatalf("pod %s: the sidecar's HOPSCOPE_UPSTREAM is %+v, want %s", pod.Name, v, upstream)
	}

	// The app's port name leads to the sidecar only; the app's port moved.
	moved := movedPortName(tmpl.PortName)
	for _, list := range [][]corev1.Container{got.Spec.InitContainers, got.Spec.Containers} {
		for _, c := range list {
			for _, port := range c.Ports {
				if port.Name == tmpl.PortName && (c.Name != ContainerName || port.ContainerPort != tmpl.ProxyPort) {
					t.Fatalf("pod %s: port name %q also on %s:%d", pod.Name, tmpl.PortName, c.Name, port.ContainerPort)
				}
			}
		}
	}
	app := got.Spec.Containers[0]
	if app.Ports[0].Name != moved || app.Ports[0].ContainerPort != fuzzAppPort {
		t.Fatalf("pod %s: app port %+v, want %s:%d", pod.Name, app.Ports[0], moved, fuzzAppPort)
	}
	for _, pr := range []*corev1.Probe{app.LivenessProbe, app.ReadinessProbe, app.StartupProbe} {
		if pr != nil && pr.HTTPGet != nil && pr.HTTPGet.Port != intstr.FromInt32(fuzzAppPort) {
			t.Fatalf("pod %s: app probe on port %s, want %d", pod.Name, pr.HTTPGet.Port.String(), fuzzAppPort)
		}
	}
	// And what TestRecordedReviews checks of every injected pod: port
	// names unique in the pod, Pod Security "restricted" for the sidecar,
	// its resources, the marks, the pod's labels and annotations kept.
	checkPatchedPod(t, tmpl, pod, &got)
	if t.Failed() {
		t.FailNow()
	}
}

// checkPorts checks a container's port names as the API server does:
// valid, and unique within the container.
func checkPorts(t *testing.T, pod string, c *corev1.Container) {
	t.Helper()
	seen := map[string]bool{}
	for _, p := range c.Ports {
		if p.Name == "" {
			continue
		}
		if msgs := validation.IsValidPortName(p.Name); len(msgs) > 0 {
			t.Fatalf("pod %s: container %s: port name %q: %v", pod, c.Name, p.Name, msgs)
		}
		if seen[p.Name] {
			t.Fatalf("pod %s: container %s: two ports named %q", pod, c.Name, p.Name)
		}
		seen[p.Name] = true
	}
}

// lastEnv returns the last variable named name: the one a container gets.
func lastEnv(env []corev1.EnvVar, name string) (corev1.EnvVar, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if env[i].Name == name {
			return env[i], true
		}
	}
	return corev1.EnvVar{}, false
}
