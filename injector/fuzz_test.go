package injector

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
)

// FuzzReview feeds AdmissionReview bodies (outside input: the API server
// relays whatever a user submitted) through the injector's decision. It
// must never panic, and a patch it returns must apply to the pod it was
// made for and give a pod that still decodes. (It found that a pod whose
// annotations are an empty map must get the whole map, not one key.) Seeds: the recorded reviews
// of testdata/admission and the corpus in testdata/fuzz/FuzzReview.
func FuzzReview(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "admission", "*.json"))
	for _, p := range files {
		if strings.HasSuffix(p, ".golden.json") {
			continue
		}
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b, false)
			f.Add(b, true)
		}
	}
	tmpl, err := LoadTemplate(filepath.Join("testdata", "sidecar-template.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte, namespaceEnabled bool) {
		var review admissionv1.AdmissionReview
		if json.Unmarshal(body, &review) != nil || review.Request == nil {
			return
		}
		var pod corev1.Pod
		if json.Unmarshal(review.Request.Object.Raw, &pod) != nil {
			return
		}
		res := Mutate(tmpl, &pod, namespaceEnabled)
		if res.Skipped != "" {
			if len(res.Patch) != 0 {
				t.Fatalf("skipped (%s) with a patch", res.Skipped)
			}
			return
		}
		patch, err := MarshalPatch(res.Patch)
		if err != nil {
			t.Fatal(err)
		}
		p, err := jsonpatch.DecodePatch(patch)
		if err != nil {
			t.Fatalf("undecodable patch %s: %v", patch, err)
		}
		// The patch is made for the pod as decoded (what the API server
		// would hold), so apply it to that.
		podJSON, _ := json.Marshal(&pod)
		out, err := p.Apply(podJSON)
		if err != nil {
			t.Fatalf("patch %s does not apply to %s: %v", patch, podJSON, err)
		}
		var patched corev1.Pod
		if err := json.Unmarshal(out, &patched); err != nil {
			t.Fatalf("patched pod does not decode: %v", err)
		}
		if !hasContainer(&patched, ContainerName) {
			t.Fatalf("injected without a sidecar: %s", out)
		}
	})
}
