//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/hopscope/hopscope/injector"
	"github.com/hopscope/hopscope/internal/testkit"
)

var updateAdmission = flag.Bool("update-admission", false, "rewrite injector/testdata/admission/*.json with the reviews a real API server sends")

// admissionDir holds the recorded AdmissionReview requests the injector's
// golden tests read.
var admissionDir = filepath.Join("..", "..", "injector", "testdata", "admission")

// labelledNamespace stands for a namespace labelled
// hopscope.io/inject=enabled in the recorded reviews (the injector's tests
// read the same name; see injector/testdata/admission/README.md).
const labelledNamespace = "hopscope-enabled"

// admissionCases are the pods whose AdmissionReview requests the
// injector's golden tests use, created through a real API server. Pods in
// the namespace labelledNamespace stand for a namespace
// labelled hopscope.io/inject=enabled.
func admissionCases() map[string]*corev1.Pod {
	const appsNS, labelledNS = "apps", labelledNamespace
	ann := map[string]string{injector.AnnotationInject: "enabled"}
	app := func(ports ...corev1.ContainerPort) corev1.Container {
		return corev1.Container{Name: "app", Image: "registry.example/shop:1.4.2", Ports: ports}
	}
	httpPort := corev1.ContainerPort{Name: "http", ContainerPort: 8080}
	pod := func(ns, name string, labels, annotations map[string]string, cs ...corev1.Container) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels, Annotations: annotations},
			Spec: corev1.PodSpec{Containers: cs}}
	}
	shop := map[string]string{"app.kubernetes.io/name": "shop", "pod-template-hash": "7d9f8c6b5"}

	named := app(httpPort)
	named.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intstr.FromString("http")}}}
	named.LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString("http")}}}
	named.StartupProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(8080)}}}

	custom := app(corev1.ContainerPort{Name: "web", ContainerPort: 3000}, corev1.ContainerPort{Name: "metrics", ContainerPort: 9100})
	custom.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromString("web")}}}

	labelled := pod(labelledNS, "namespace-labelled", shop, map[string]string{
		injector.AnnotationCPURequest: "20m", injector.AnnotationMemoryLimit: "lots"}, app(httpPort))
	labelled.Spec.InitContainers = []corev1.Container{{Name: "migrate", Image: "registry.example/shop-migrate:1.4.2"}}

	return map[string]*corev1.Pod{
		"named-port":         pod(appsNS, "named-port", shop, ann, named),
		"custom-port-name":   pod(appsNS, "custom-port-name", shop, map[string]string{injector.AnnotationInject: "enabled", injector.AnnotationPortName: "web", injector.AnnotationService: "storefront"}, custom),
		"numeric-port":       pod(appsNS, "numeric-port", shop, ann, app(corev1.ContainerPort{ContainerPort: 8080})),
		"already-injected":   pod(appsNS, "already-injected", shop, map[string]string{injector.AnnotationInject: "enabled", injector.AnnotationInjected: "ghcr.io/hopscope/hopscope:0.1.0"}, app(corev1.ContainerPort{Name: "app-http", ContainerPort: 8080}), corev1.Container{Name: injector.ContainerName, Image: "ghcr.io/hopscope/hopscope:0.1.0", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 15080}}}),
		"not-annotated":      pod(appsNS, "not-annotated", shop, nil, app(httpPort)),
		"conflicting-ports":  pod(appsNS, "conflicting-ports", shop, ann, app(httpPort, corev1.ContainerPort{Name: "admin", ContainerPort: 15090})),
		"namespace-labelled": labelled,
		"namespace-disabled": pod(labelledNS, "namespace-disabled", shop, map[string]string{injector.AnnotationInject: "disabled"}, app(httpPort)),
		"no-metadata":        pod(labelledNS, "no-metadata", nil, nil, app(httpPort)),
	}
}

// TestAdmissionReviewsFromRealAPIServer creates the admission cases through
// a real kube-apiserver with a recording webhook, and checks that the
// recorded requests the injector's golden tests read are what the API
// server sends: the same pods, after the API server's defaulting, give the
// same injection. -update-admission rewrites them.
func TestAdmissionReviewsFromRealAPIServer(t *testing.T) {
	k := startKube(t)
	ctx := context.Background()
	var mu sync.Mutex
	recorded := map[string][]byte{}
	rec := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var review admissionv1.AdmissionReview
		if err := json.Unmarshal(body, &review); err != nil || review.Request == nil {
			http.Error(w, "not a review", 400)
			return
		}
		var meta struct {
			Metadata metav1.ObjectMeta `json:"metadata"`
		}
		json.Unmarshal(review.Request.Object.Raw, &meta)
		var pretty bytes.Buffer
		json.Indent(&pretty, body, "", "  ")
		mu.Lock()
		recorded[meta.Metadata.Name] = append(pretty.Bytes(), '\n')
		mu.Unlock()
		json.NewEncoder(w).Encode(admissionv1.AdmissionReview{TypeMeta: review.TypeMeta,
			Response: &admissionv1.AdmissionResponse{UID: review.Request.UID, Allowed: true}})
	}))
	t.Cleanup(rec.Close)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rec.Certificate().Raw})
	url := rec.URL + "/record"
	none, ignore := admissionregv1.SideEffectClassNone, admissionregv1.Ignore
	_, err := k.client.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(ctx, &admissionregv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "record"},
		Webhooks: []admissionregv1.MutatingWebhook{{
			Name: "record.hopscope.io", ClientConfig: admissionregv1.WebhookClientConfig{URL: &url, CABundle: ca},
			Rules: []admissionregv1.RuleWithOperations{{Operations: []admissionregv1.OperationType{admissionregv1.Create},
				Rule: admissionregv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}}}},
			SideEffects: &none, FailurePolicy: &ignore, AdmissionReviewVersions: []string{"v1"},
		}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	k.namespace(t, "apps", nil)
	k.namespace(t, labelledNamespace, map[string]string{injector.AnnotationInject: "enabled"})
	cases := admissionCases()
	for name, pod := range cases {
		testkit.Eventually(t, "the API server to call the recording webhook for "+name, 30e9, func() bool {
			k.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{})
			k.client.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{})
			mu.Lock()
			defer mu.Unlock()
			return recorded[name] != nil
		})
	}

	if *updateAdmission {
		os.MkdirAll(admissionDir, 0o755)
		for name, body := range recorded {
			if err := os.WriteFile(filepath.Join(admissionDir, name+".json"), body, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		t.Logf("wrote %d reviews into %s", len(recorded), admissionDir)
	}
	tmpl, err := injector.LoadTemplate(filepath.Join("..", "..", "injector", "testdata", "sidecar-template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for name := range cases {
		committed, err := os.ReadFile(filepath.Join(admissionDir, name+".json"))
		if err != nil {
			t.Errorf("%s: %v (run this test with -update-admission)", name, err)
			continue
		}
		got, want := injectionOf(t, tmpl, recorded[name]), injectionOf(t, tmpl, committed)
		if got != want {
			t.Errorf("%s: the committed review no longer matches what the API server sends (run with -update-admission):\nfresh:     %s\ncommitted: %s", name, got, want)
		}
	}
}

// injectionOf is the injector's answer to a recorded review, as text.
func injectionOf(t *testing.T, tmpl injector.Template, body []byte) string {
	t.Helper()
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &review); err != nil || review.Request == nil {
		t.Fatalf("bad review %s: %v", body, err)
	}
	var pod corev1.Pod
	if err := json.Unmarshal(review.Request.Object.Raw, &pod); err != nil {
		t.Fatal(err)
	}
	res := injector.Mutate(tmpl, &pod, review.Request.Namespace == labelledNamespace)
	b, _ := json.Marshal(res)
	return string(b)
}
