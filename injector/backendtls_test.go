package injector

import (
	"encoding/json"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestBackendTLSSecret: hopscope.io/backend-tls-secret mounts the Secret
// read-only into the sidecar (only) at BackendTLSDir, beside the pod's
// own volumes or as its first; a bad name or a volume of the injector's
// name is a warning and no mount.
func TestBackendTLSSecret(t *testing.T) {
	tmpl := testTemplate(t)
	for _, tc := range []struct {
		name      string
		secret    string
		volumes   []corev1.Volume
		wantMount bool
		warning   string
	}{
		{"first volume of the pod", "db-certs", nil, true, ""},
		{"beside the pod's volumes", "db-certs", []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}, true, ""},
		{"not a Secret name", "DB_certs", nil, false, "is not a Secret name"},
		{"the volume name is taken", "db-certs", []corev1.Volume{{Name: backendTLSVolume, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}, false, "already has a volume"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{AnnotationInject: "enabled", AnnotationBackendTLSSecret: tc.secret,
					AnnotationBackends: "[{name: db, kind: postgres, listen: '127.0.0.1:15432', target: 'db:5432', tls: {mode: originate, caFile: " + BackendTLSDir + "/ca.crt}}]"}},
				Spec: corev1.PodSpec{Volumes: tc.volumes, Containers: []corev1.Container{{Name: "app", Image: "app", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}},
			}
			raw, _ := json.Marshal(&pod)
			res := Mutate(tmpl, &pod, false)
			if res.Skipped != "" {
				t.Fatalf("skipped: %s", res.Skipped)
			}
			if tc.warning == "" && len(res.Warnings) != 0 || tc.warning != "" && (len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], tc.warning)) {
				t.Errorf("warnings %q, want %q", res.Warnings, tc.warning)
			}
			patch, _ := MarshalPatch(res.Patch)
			patched := applyPatch(t, raw, patch)
			checkPatchedPod(t, tmpl, &pod, patched)
			var secretVols int
			for _, v := range patched.Spec.Volumes {
				if v.Secret != nil && v.Secret.SecretName == tc.secret && v.Name == backendTLSVolume {
					secretVols++
				}
			}
			if len(patched.Spec.Volumes) < len(tc.volumes) {
				t.Errorf("the pod's volumes %v were lost", tc.volumes)
			}
			mounts := map[string]corev1.VolumeMount{}
			for _, c := range append(patched.Spec.InitContainers, patched.Spec.Containers...) {
				for _, m := range c.VolumeMounts {
					if m.Name == backendTLSVolume {
						mounts[c.Name] = m
					}
				}
			}
			if !tc.wantMount {
				if secretVols != 0 || len(mounts) != 0 {
					t.Errorf("secret volumes %d, mounts %v; want none", secretVols, mounts)
				}
				return
			}
			if secretVols != 1 {
				t.Errorf("%d volumes of Secret %s, want 1: %+v", secretVols, tc.secret, patched.Spec.Volumes)
			}
			m, ok := mounts[tmpl.Container.Name]
			if len(mounts) != 1 || !ok || m.MountPath != BackendTLSDir || !m.ReadOnly {
				t.Errorf("mounts %+v, want the sidecar's %s read-only only", mounts, BackendTLSDir)
			}
		})
	}
}
