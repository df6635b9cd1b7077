package injector

import (
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

const (
	// AnnotationBackendTLSSecret names a Secret of the pod's namespace
	// mounted read-only into the sidecar at BackendTLSDir: the
	// certificates and keys the tls: keys of hopscope.io/backends name
	// (caFile, certFile, keyFile, listenCertFile, listenKeyFile).
	AnnotationBackendTLSSecret = "hopscope.io/backend-tls-secret"
	// BackendTLSDir is where the sidecar finds that Secret's keys, one
	// file each.
	BackendTLSDir = "/etc/hopscope/backend-tls"
	// backendTLSVolume is the pod volume the injector adds for it.
	backendTLSVolume = "hopscope-backend-tls"
)

// backendTLSSecret mounts the Secret a pod's hopscope.io/backend-tls-secret
// names into the sidecar: the mount goes on sidecar, the volume's patch
// is returned. A name that is not a Secret's, or a pod that already has a
// volume of the injector's name, gives a warning and no mount.
func backendTLSSecret(pod *corev1.Pod, sidecar *corev1.Container) (ops []PatchOp, warnings []string) {
	name, ok := pod.Annotations[AnnotationBackendTLSSecret]
	if !ok {
		return nil, nil
	}
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return nil, []string{fmt.Sprintf("hopscope: annotation %s: %q is not a Secret name (%s); the sidecar gets no backend certificates", AnnotationBackendTLSSecret, name, errs[0])}
	}
	if slices.ContainsFunc(pod.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == backendTLSVolume }) {
		return nil, []string{fmt.Sprintf("hopscope: annotation %s: the pod already has a volume %q; the sidecar gets no backend certificates", AnnotationBackendTLSSecret, backendTLSVolume)}
	}
	sidecar.VolumeMounts = append(sidecar.VolumeMounts, corev1.VolumeMount{Name: backendTLSVolume, MountPath: BackendTLSDir, ReadOnly: true})
	vol := corev1.Volume{Name: backendTLSVolume, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: name}}}
	if len(pod.Spec.Volumes) == 0 {
		return []PatchOp{{"add", "/spec/volumes", []corev1.Volume{vol}}}, nil
	}
	return []PatchOp{{"add", "/spec/volumes/-", vol}}, nil
}
