package injector

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hopscope/hopscope/internal/testkit"
	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	psaapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
)

// labelledNamespace stands for a namespace labelled hopscope.io/inject=enabled
// in the recorded reviews (testdata/admission/README.md).
const labelledNamespace = "hopscope-enabled"

func testTemplate(t *testing.T) Template {
	t.Helper()
	tmpl, err := LoadTemplate(filepath.Join("testdata", "sidecar-template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return tmpl
}

// golden is what a test case's .golden.json holds.
type golden struct {
	Skipped  string          `json:"skipped,omitempty"`
	Warnings []string        `json:"warnings,omitempty"`
	Patch    json.RawMessage `json:"patch,omitempty"`
}

// TestRecordedReviews: each AdmissionReview a real API server sent gives
// the golden patch; each patch applies to the pod, and the patched pod is
// one the API server accepts under Pod Security "restricted" as far as the
// sidecar is concerned, with the Service-facing port name on the sidecar.
func TestRecordedReviews(t *testing.T) {
	tmpl := testTemplate(t)
	files, _ := filepath.Glob(filepath.Join("testdata", "admission", "*.json"))
	var cases []string
	for _, f := range files {
		if !strings.HasSuffix(f, ".golden.json") {
			cases = append(cases, f)
		}
	}
	if len(cases) < 8 {
		t.Fatalf("%d recorded reviews; want the 9 of test/e2e/admission_test.go", len(cases))
	}
	for _, f := range cases {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var review admissionv1.AdmissionReview
			if err := json.Unmarshal(data, &review); err != nil || review.Request == nil {
				t.Fatalf("not a recorded review: %v", err)
			}
			var pod corev1.Pod
			if err := json.Unmarshal(review.Request.Object.Raw, &pod); err != nil {
				t.Fatal(err)
			}
			res := Mutate(tmpl, &pod, review.Request.Namespace == labelledNamespace)
			patch, err := MarshalPatch(res.Patch)
			if err != nil {
				t.Fatal(err)
			}
			got := golden{Skipped: res.Skipped, Warnings: res.Warnings, Patch: patch}
			gotJSON, _ := json.MarshalIndent(got, "", "  ")
			gotJSON = append(gotJSON, '\n')
			goldenPath := filepath.Join("testdata", "admission", name+".golden.json")
			testkit.Golden(t, goldenPath, gotJSON)
			if res.Skipped != "" {
				if len(res.Patch) != 0 {
					t.Errorf("skipped (%s) but patched", res.Skipped)
				}
				return
			}
			patched := applyPatch(t, review.Request.Object.Raw, patch)
			checkPatchedPod(t, tmpl, &pod, patched)
		})
	}
}

func applyPatch(t *testing.T, podJSON, patch []byte) *corev1.Pod {
	t.Helper()
	p, err := jsonpatch.DecodePatch(patch)
	if err != nil {
		t.Fatalf("decoding the patch: %v", err)
	}
	out, err := p.Apply(podJSON)
	if err != nil {
		t.Fatalf("applying the patch: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.DisallowUnknownFields()
	var pod corev1.Pod
	if err := dec.Decode(&pod); err != nil {
		t.Fatalf("the patched pod does not decode strictly: %v", err)
	}
	return &pod
}

// checkPatchedPod validates an injected pod against the original.
func checkPatchedPod(t *testing.T, tmpl Template, orig, p *corev1.Pod) {
	t.Helper()
	var sidecar *corev1.Container
	all := slices.Concat(p.Spec.InitContainers, p.Spec.Containers)
	for i := range all {
		if all[i].Name == ContainerName {
			if sidecar != nil {
				t.Fatal("two sidecars")
			}
			sidecar = &all[i]
		}
	}
	if sidecar == nil {
		t.Fatal("no sidecar")
	}
	if tmpl.Native != (len(p.Spec.InitContainers) > 0 && p.Spec.InitContainers[0].Name == ContainerName) {
		t.Errorf("native %v, but the sidecar is not where it belongs", tmpl.Native)
	}
	if tmpl.Native && (sidecar.RestartPolicy == nil || *sidecar.RestartPolicy != corev1.ContainerRestartPolicyAlways) {
		t.Errorf("native sidecar without restartPolicy Always")
	}
	if len(p.Spec.InitContainers) != len(orig.Spec.InitContainers)+btoi(tmpl.Native) || len(p.Spec.Containers) != len(orig.Spec.Containers)+btoi(!tmpl.Native) {
		t.Errorf("containers: %d init, %d regular; before %d, %d", len(p.Spec.InitContainers), len(p.Spec.Containers), len(orig.Spec.InitContainers), len(orig.Spec.Containers))
	}
	// Port names stay unique; the sidecar holds the name the Service targets.
	names := map[string]string{}
	for _, c := range all {
		for _, port := range c.Ports {
			if port.Name == "" {
				continue
			}
			if other, dup := names[port.Name]; dup {
				t.Errorf("port name %q on %s and %s", port.Name, other, c.Name)
			}
			names[port.Name] = c.Name
		}
	}
	portName := tmpl.PortName
	if v := orig.Annotations[AnnotationPortName]; v != "" {
		portName = v
	}
	if names[portName] != ContainerName {
		t.Errorf("port %q is on %q, not the sidecar", portName, names[portName])
	}
	// Probes never name a port that moved to the sidecar.
	for _, c := range p.Spec.Containers {
		for _, pr := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe, c.StartupProbe} {
			if pr == nil || c.Name == ContainerName {
				continue
			}
			for _, port := range []*intstr.IntOrString{portOf(pr)} {
				if port != nil && port.Type == intstr.String && names[port.StrVal] != c.Name {
					t.Errorf("%s probes port %q, which is not its own", c.Name, port.StrVal)
				}
			}
		}
	}
	// Restricted, as the Pod Security admission controller's own evaluator
	// judges the sidecar in a pod of its own (the app's containers are the
	// user's business).
	alone := corev1.PodSpec{Containers: []corev1.Container{*sidecar}}
	lv := psaapi.LevelVersion{Level: psaapi.LevelRestricted, Version: psaapi.LatestVersion()}
	for _, r := range psaEvaluator.EvaluatePod(lv, &p.ObjectMeta, &alone) {
		if !r.Allowed {
			t.Errorf("sidecar breaks Pod Security restricted: %s: %s", r.ForbiddenReason, r.ForbiddenDetail)
		}
	}
	// Resources set.
	sc := sidecar.SecurityContext
	if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("sidecar security context is not restricted: %+v", sc)
	}
	if sidecar.Resources.Requests.Cpu().IsZero() || sidecar.Resources.Requests.Memory().IsZero() || sidecar.Resources.Limits.Memory().IsZero() {
		t.Errorf("sidecar resources %+v", sidecar.Resources)
	}
	if p.Labels[LabelSidecar] != "injected" || p.Annotations[AnnotationInjected] != tmpl.Container.Image {
		t.Errorf("marks: labels %v annotations %v", p.Labels, p.Annotations)
	}
	// What the pod had is still there.
	for k, v := range orig.Annotations {
		if p.Annotations[k] != v {
			t.Errorf("annotation %s lost", k)
		}
	}
	for k, v := range orig.Labels {
		if p.Labels[k] != v {
			t.Errorf("label %s lost", k)
		}
	}
}

var psaEvaluator = func() policy.Evaluator {
	e, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		panic(err)
	}
	return e
}()

func portOf(p *corev1.Probe) *intstr.IntOrString {
	switch {
	case p.HTTPGet != nil:
		return &p.HTTPGet.Port
	case p.TCPSocket != nil:
		return &p.TCPSocket.Port
	}
	return nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestDrainPreStop: the app container gets the sidecar's /drain as its
// preStop hook, beside other lifecycle hooks, but never in place of a
// preStop of its own.
func TestDrainPreStop(t *testing.T) {
	own := &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"/bin/graceful-stop"}}}
	start := &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"/bin/warm"}}}
	for _, tc := range []struct {
		name      string
		lifecycle *corev1.Lifecycle
		wantPath  string
	}{
		{"no lifecycle", nil, "/spec/containers/0/lifecycle"},
		{"postStart only", &corev1.Lifecycle{PostStart: start}, "/spec/containers/0/lifecycle/preStop"},
		{"own preStop kept", &corev1.Lifecycle{PreStop: own}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ops := drainPreStop(corev1.Container{Name: "app", Lifecycle: tc.lifecycle}, 0, 15090)
			if tc.wantPath == "" {
				if len(ops) != 0 {
					t.Fatalf("the app's own preStop was touched: %+v", ops)
				}
				return
			}
			if len(ops) != 1 || ops[0].Op != "add" || ops[0].Path != tc.wantPath {
				t.Fatalf("ops %+v, want one add at %s", ops, tc.wantPath)
			}
			var hook *corev1.LifecycleHandler
			switch v := ops[0].Value.(type) {
			case corev1.Lifecycle:
				hook = v.PreStop
			case *corev1.LifecycleHandler:
				hook = v
			}
			if hook == nil || hook.HTTPGet == nil || hook.HTTPGet.Path != "/drain" || hook.HTTPGet.Port.IntValue() != 15090 {
				t.Fatalf("preStop %+v, want httpGet /drain on 15090", hook)
			}
		})
	}
}

// TestSidecarPortNameTaken: a pod whose hopscope.io/port-name is one of
// the sidecar's own port names (or makes the app's port take one) is
// skipped with a warning; injected, the sidecar had two ports of one name
// and the API server refused the pod (found by FuzzParseTemplate).
func TestSidecarPortNameTaken(t *testing.T) {
	tmpl := testTemplate(t)
	for _, tc := range []struct {
		name, portName string
		skipped        bool
	}{
		{"the admin port's name", "hopscope-admin", true},
		{"free name", "web", false},
	} {
		pod := &corev1.Pod{}
		pod.Name = "shop"
		pod.Annotations = map[string]string{AnnotationInject: "enabled", AnnotationPortName: tc.portName}
		pod.Spec.Containers = []corev1.Container{{Name: "app", Ports: []corev1.ContainerPort{{Name: tc.portName, ContainerPort: 8080}}}}
		res := Mutate(tmpl, pod, false)
		if got := res.Skipped != ""; got != tc.skipped || got && (len(res.Patch) != 0 || len(res.Warnings) == 0) {
			t.Errorf("%s: skipped %q, %d patch operations, warnings %q; want skipped: %v", tc.name, res.Skipped, len(res.Patch), res.Warnings, tc.skipped)
		}
	}
}

// TestSetEnv: the variable set is the one the container gets: it takes
// the place of the first of its name and later ones go (the last of a
// name wins in Kubernetes; FuzzParseTemplate found a template's second
// HOPSCOPE_UPSTREAM overriding the app's address).
func TestSetEnv(t *testing.T) {
	v := func(name, value string) corev1.EnvVar { return corev1.EnvVar{Name: name, Value: value} }
	for _, tc := range []struct {
		name      string
		env, want []corev1.EnvVar
	}{
		{"absent", []corev1.EnvVar{v("A", "1")}, []corev1.EnvVar{v("A", "1"), v("X", "new")}},
		{"empty", nil, []corev1.EnvVar{v("X", "new")}},
		{"once", []corev1.EnvVar{v("A", "1"), v("X", "old"), v("B", "2")}, []corev1.EnvVar{v("A", "1"), v("X", "new"), v("B", "2")}},
		{"twice", []corev1.EnvVar{v("X", "old"), v("A", "1"), v("X", "older")}, []corev1.EnvVar{v("X", "new"), v("A", "1")}},
	} {
		c := corev1.Container{Env: slices.Clone(tc.env)}
		setEnv(&c, v("X", "new"))
		if !slices.Equal(c.Env, tc.want) {
			t.Errorf("%s: setEnv on %v = %v, want %v", tc.name, tc.env, c.Env, tc.want)
		}
	}
}
