package charts

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The checks the chart tests rely on must fail on what they guard
// against; these tests feed them bad objects.

func TestRestrictedCheckNamesEachControl(t *testing.T) {
	yes, no, root := true, false, int64(0)
	spec := corev1.PodSpec{
		HostNetwork: true,
		Volumes:     []corev1.Volume{{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}}},
		SecurityContext: &corev1.PodSecurityContext{
			Sysctls: []corev1.Sysctl{{Name: "kernel.msgmax", Value: "1"}},
		},
		Containers: []corev1.Container{{
			Name:  "bad",
			Ports: []corev1.ContainerPort{{ContainerPort: 80, HostPort: 80}},
			SecurityContext: &corev1.SecurityContext{
				Privileged:               &yes,
				AllowPrivilegeEscalation: &yes,
				RunAsNonRoot:             &no,
				RunAsUser:                &root,
				Capabilities:             &corev1.Capabilities{Add: []corev1.Capability{"SYS_ADMIN"}},
				SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined},
			},
		}},
	}
	got := strings.Join(checkRestricted("Deployment/x", metav1.ObjectMeta{}, spec), "\n")
	for _, control := range []string{"Host Namespaces", "HostPath Volumes", "Sysctls", "Host Ports", "Privileged Containers",
		"Privilege Escalation", "Running as Non-root", "Running as Non-root user", "Capabilities", "Seccomp", "Volume Types"} {
		if !strings.Contains(got, "Deployment/x: "+control+":") {
			t.Errorf("no %q problem reported; got:\n%s", control, got)
		}
	}

	// The pod level satisfies runAsNonRoot and seccomp for its containers.
	good := corev1.PodSpec{
		SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: &yes, SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
		Containers: []corev1.Container{{Name: "ok", SecurityContext: &corev1.SecurityContext{
			AllowPrivilegeEscalation: &no, Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}}},
	}
	if p := checkRestricted("Pod/ok", metav1.ObjectMeta{}, good); len(p) != 0 {
		t.Errorf("a restricted pod fails: %v", p)
	}
	if p := checkResources("Pod/ok", good); len(p) != 3 {
		t.Errorf("resource problems of a container without resources = %v, want 3", p)
	}
}

func TestDecodeIsStrict(t *testing.T) {
	for _, tc := range []struct{ name, doc, want string }{
		{"unknown field", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndatas: {}\n", "datas"},
		{"duplicate field", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  name: y\n", "name"},
		{"misplaced field", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\nspec:\n  template:\n    spec:\n      containers:\n        - name: c\n          imagePullPolicies: Always\n", "imagePullPolicies"},
		{"CRD without required field", "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata:\n  name: x\n  namespace: y\nspec:\n  selector: {}\n", "endpoints"},
		{"CRD unknown spec field", "apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata:\n  name: x\n  namespace: y\nspec:\n  groups: []\n  grups: []\n", "grups"},
		{"Certificate without issuer", "apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata:\n  name: x\n  namespace: y\nspec:\n  secretName: s\n  dnsNames: [a]\n", "issuerRef.name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decode("---\n# Source: test\n" + tc.doc)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("decode error %v, want one naming %q", err, tc.want)
			}
		})
	}
}
