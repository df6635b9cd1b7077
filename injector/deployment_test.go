package injector

import (
	"encoding/json"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// rsOwner is the ownerReference the ReplicaSet controller gives its pods.
func rsOwner(name string) []metav1.OwnerReference {
	yes := true
	return []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: name, UID: "8e8c2b5e-0d9c-4a8c-9e0c-1f2d3c4b5a69",
		Controller: &yes, BlockOwnerDeletion: &yes}}
}

// TestDeploymentName: a Deployment's pod is named by its ReplicaSet less
// the pod-template-hash suffix, as the k8sattributes processor does; other
// pods get no name.
func TestDeploymentName(t *testing.T) {
	for _, tc := range []struct {
		name   string
		labels map[string]string
		owners []metav1.OwnerReference
		gen    string
		want   string
	}{
		{"deployment", map[string]string{"pod-template-hash": "7d4b9c6f8"}, rsOwner("shop-7d4b9c6f8"), "shop-7d4b9c6f8-", "shop"},
		{"dashed name", map[string]string{"pod-template-hash": "5f9d8c7b6"}, rsOwner("shop-api-v2-5f9d8c7b6"), "", "shop-api-v2"},
		{"generateName only", map[string]string{"pod-template-hash": "7d4b9c6f8"}, nil, "shop-7d4b9c6f8-", "shop"},
		{"bare ReplicaSet", nil, rsOwner("cache"), "cache-", ""},
		{"hash not the suffix", map[string]string{"pod-template-hash": "abc"}, rsOwner("shop-7d4b9c6f8"), "", ""},
		{"StatefulSet", map[string]string{"pod-template-hash": "x"},
			[]metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "db-x"}}, "db-", ""},
		{"bare pod", map[string]string{"app": "shop"}, nil, "", ""},
	} {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Labels: tc.labels, OwnerReferences: tc.owners, GenerateName: tc.gen}}
		if got := DeploymentName(pod); got != tc.want {
			t.Errorf("%s: DeploymentName = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestDeploymentNameInResourceAttributes: injected into a Deployment's
// pod, the sidecar's OTEL_RESOURCE_ATTRIBUTES (the chart's, with the pod,
// namespace and node through the downward API) ends in
// k8s.deployment.name=<deployment>; a bare pod's is the template's.
func TestDeploymentNameInResourceAttributes(t *testing.T) {
	tmpl := testTemplate(t)
	var fromTemplate string
	for _, e := range tmpl.Container.Env {
		if e.Name == "OTEL_RESOURCE_ATTRIBUTES" {
			fromTemplate = e.Value
		}
	}
	if fromTemplate == "" {
		t.Fatal("the chart's sidecar template sets no OTEL_RESOURCE_ATTRIBUTES")
	}
	for _, tc := range []struct {
		name   string
		labels map[string]string
		owners []metav1.OwnerReference
		want   string
	}{
		{"deployment", map[string]string{"app": "shop", "pod-template-hash": "7d4b9c6f8"}, rsOwner("shop-7d4b9c6f8"),
			fromTemplate + ",k8s.deployment.name=shop"},
		{"bare pod", map[string]string{"app": "shop"}, nil, fromTemplate},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", GenerateName: "shop-7d4b9c6f8-", Labels: tc.labels,
				OwnerReferences: tc.owners, Annotations: map[string]string{AnnotationInject: "enabled"}}}
			pod.Spec.Containers = []corev1.Container{{Name: "app", Image: "shop:1",
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}
			res := Mutate(tmpl, pod, false)
			if res.Skipped != "" {
				t.Fatalf("skipped: %s", res.Skipped)
			}
			patch, err := MarshalPatch(res.Patch)
			if err != nil {
				t.Fatal(err)
			}
			podJSON, err := json.Marshal(pod)
			if err != nil {
				t.Fatal(err)
			}
			got := applyPatch(t, podJSON, patch)
			var env []corev1.EnvVar
			for _, c := range append(got.Spec.InitContainers, got.Spec.Containers...) {
				if c.Name == ContainerName {
					env = c.Env
				}
			}
			var values []string
			for _, e := range env {
				if e.Name == "OTEL_RESOURCE_ATTRIBUTES" {
					values = append(values, e.Value)
				}
			}
			if len(values) != 1 || values[0] != tc.want {
				t.Errorf("OTEL_RESOURCE_ATTRIBUTES %q, want one: %q", values, tc.want)
			}
			for _, e := range tmpl.Container.Env {
				if e.Name == "OTEL_RESOURCE_ATTRIBUTES" && e.Value != fromTemplate {
					t.Errorf("the template itself was changed: %q", e.Value)
				}
			}
		})
	}
}

// TestAddResourceAttribute: the attribute goes on the variable the
// container gets (the last of its name), or a new one.
func TestAddResourceAttribute(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  []corev1.EnvVar
		want []corev1.EnvVar
	}{
		{"none", nil, []corev1.EnvVar{{Name: "OTEL_RESOURCE_ATTRIBUTES", Value: "k=v"}}},
		{"empty", []corev1.EnvVar{{Name: "OTEL_RESOURCE_ATTRIBUTES"}}, []corev1.EnvVar{{Name: "OTEL_RESOURCE_ATTRIBUTES", Value: "k=v"}}},
		{"last wins", []corev1.EnvVar{{Name: "OTEL_RESOURCE_ATTRIBUTES", Value: "a=1"}, {Name: "OTEL_RESOURCE_ATTRIBUTES", Value: "b=2"}},
			[]corev1.EnvVar{{Name: "OTEL_RESOURCE_ATTRIBUTES", Value: "a=1"}, {Name: "OTEL_RESOURCE_ATTRIBUTES", Value: "b=2,k=v"}}},
	} {
		c := &corev1.Container{Env: tc.env}
		addResourceAttribute(c, "k", "v")
		a, _ := json.Marshal(c.Env)
		b, _ := json.Marshal(tc.want)
		if string(a) != string(b) {
			t.Errorf("%s: env %s, want %s", tc.name, a, b)
		}
	}
}
