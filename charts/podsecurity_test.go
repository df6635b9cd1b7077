package charts

import (
	"fmt"
	psaapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// podSpecs returns the pod templates of the workloads among objs, named
// after their object.
func podSpecs(objs []object) map[string]podTemplate {
	out := map[string]podTemplate{}
	for _, o := range objs {
		switch x := o.Typed.(type) {
		case *appsv1.Deployment:
			out[o.String()] = podTemplate{x.Spec.Template.ObjectMeta, x.Spec.Template.Spec}
		case *appsv1.StatefulSet:
			out[o.String()] = podTemplate{x.Spec.Template.ObjectMeta, x.Spec.Template.Spec}
		case *appsv1.DaemonSet:
			out[o.String()] = podTemplate{x.Spec.Template.ObjectMeta, x.Spec.Template.Spec}
		case *corev1.Pod:
			out[o.String()] = podTemplate{x.ObjectMeta, x.Spec}
		}
	}
	return out
}

type podTemplate struct {
	Meta metav1.ObjectMeta
	Spec corev1.PodSpec
}

// restrictedVolumeTypes are the volume sources Pod Security "restricted"
// allows.
var restrictedVolumeTypes = map[string]bool{
	"configMap": true, "csi": true, "downwardAPI": true, "emptyDir": true, "ephemeral": true,
	"persistentVolumeClaim": true, "projected": true, "secret": true,
}

// safeSysctls is the set Pod Security "baseline" allows (1.29+).
var safeSysctls = map[string]bool{
	"kernel.shm_rmid_forced": true, "net.ipv4.ip_local_port_range": true, "net.ipv4.ip_unprivileged_port_start": true,
	"net.ipv4.tcp_syncookies": true, "net.ipv4.ping_group_range": true, "net.ipv4.ip_local_reserved_ports": true,
	"net.ipv4.tcp_keepalive_time": true, "net.ipv4.tcp_fin_timeout": true, "net.ipv4.tcp_keepalive_intvl": true,
	"net.ipv4.tcp_keepalive_probes": true,
}

// checkRestricted checks a pod against every control of the Pod Security
// Standards' "restricted" profile (which includes "baseline"), as the
// pod-security-admission library evaluates them for the latest version.
// Each problem names the object, the container and the control.
func checkRestricted(name string, meta metav1.ObjectMeta, spec corev1.PodSpec) []string {
	var out []string
	bad := func(control, format string, a ...any) {
		out = append(out, fmt.Sprintf("%s: %s: %s", name, control, fmt.Sprintf(format, a...)))
	}
	psc := spec.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}

	// baseline
	if spec.HostNetwork || spec.HostPID || spec.HostIPC {
		bad("Host Namespaces", "hostNetwork, hostPID and hostIPC must be false")
	}
	if psc.WindowsOptions != nil && psc.WindowsOptions.HostProcess != nil && *psc.WindowsOptions.HostProcess {
		bad("HostProcess", "the pod must not be a Windows HostProcess pod")
	}
	for _, v := range spec.Volumes {
		if v.HostPath != nil {
			bad("HostPath Volumes", "volume %q is a hostPath", v.Name)
		}
	}
	for _, s := range psc.Sysctls {
		if !safeSysctls[s.Name] {
			bad("Sysctls", "sysctl %q is not in the safe set", s.Name)
		}
	}
	checkSELinux := func(where string, o *corev1.SELinuxOptions) {
		if o == nil {
			return
		}
		if o.Type != "" && o.Type != "container_t" && o.Type != "container_init_t" && o.Type != "container_kvm_t" && o.Type != "container_engine_t" {
			bad("SELinux", "%s seLinuxOptions.type %q", where, o.Type)
		}
		if o.User != "" || o.Role != "" {
			bad("SELinux", "%s seLinuxOptions.user and .role must not be set", where)
		}
	}
	checkSELinux("pod", psc.SELinuxOptions)
	checkAppArmor := func(where string, p *corev1.AppArmorProfile) {
		if p != nil && p.Type == corev1.AppArmorProfileTypeUnconfined {
			bad("AppArmor", "%s appArmorProfile is Unconfined", where)
		}
	}
	checkAppArmor("pod", psc.AppArmorProfile)
	for k, v := range meta.Annotations {
		if strings.HasPrefix(k, "container.apparmor.security.beta.kubernetes.io/") && v != "runtime/default" && !strings.HasPrefix(v, "localhost/") {
			bad("AppArmor", "annotation %s=%s", k, v)
		}
	}
	if psc.SeccompProfile != nil && psc.SeccompProfile.Type == corev1.SeccompProfileTypeUnconfined {
		bad("Seccomp", "the pod's seccompProfile is Unconfined")
	}

	// restricted
	for _, v := range spec.Volumes {
		if t := volumeType(v); !restrictedVolumeTypes[t] {
			bad("Volume Types", "volume %q is of type %s", v.Name, t)
		}
	}
	if psc.RunAsUser != nil && *psc.RunAsUser == 0 {
		bad("Running as Non-root user", "the pod's runAsUser is 0")
	}

	podNonRoot := psc.RunAsNonRoot != nil && *psc.RunAsNonRoot
	podSeccomp := psc.SeccompProfile != nil &&
		(psc.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault || psc.SeccompProfile.Type == corev1.SeccompProfileTypeLocalhost)
	for _, c := range allContainers(spec) {
		for _, p := range checkContainerRestricted(c, podNonRoot, podSeccomp) {
			bad(p.control, "container %q: %s", c.Name, p.msg)
		}
		if sc := c.SecurityContext; sc != nil {
			checkSELinux(fmt.Sprintf("container %q", c.Name), sc.SELinuxOptions)
			checkAppArmor(fmt.Sprintf("container %q", c.Name), sc.AppArmorProfile)
		}
	}
	return out
}

type problem struct{ control, msg string }

// checkContainerRestricted checks one container; podNonRoot and
// podSeccomp tell whether the pod's security context already sets
// runAsNonRoot and an allowed seccomp profile.
func checkContainerRestricted(c corev1.Container, podNonRoot, podSeccomp bool) []problem {
	var out []problem
	bad := func(control, format string, a ...any) {
		out = append(out, problem{control, fmt.Sprintf(format, a...)})
	}
	sc := c.SecurityContext
	if sc == nil {
		sc = &corev1.SecurityContext{}
	}
	if sc.Privileged != nil && *sc.Privileged {
		bad("Privileged Containers", "privileged is true")
	}
	if sc.WindowsOptions != nil && sc.WindowsOptions.HostProcess != nil && *sc.WindowsOptions.HostProcess {
		bad("HostProcess", "hostProcess is true")
	}
	for _, p := range c.Ports {
		if p.HostPort != 0 {
			bad("Host Ports", "port %d has hostPort %d", p.ContainerPort, p.HostPort)
		}
	}
	if sc.ProcMount != nil && *sc.ProcMount != corev1.DefaultProcMount {
		bad("/proc Mount Type", "procMount is %s", *sc.ProcMount)
	}
	if sc.SeccompProfile != nil && sc.SeccompProfile.Type == corev1.SeccompProfileTypeUnconfined {
		bad("Seccomp", "seccompProfile is Unconfined")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		bad("Privilege Escalation", "allowPrivilegeEscalation must be false")
	}
	switch {
	case sc.RunAsNonRoot != nil && !*sc.RunAsNonRoot:
		bad("Running as Non-root", "runAsNonRoot is false")
	case sc.RunAsNonRoot == nil && !podNonRoot:
		bad("Running as Non-root", "runAsNonRoot must be true in the container or the pod")
	}
	if sc.RunAsUser != nil && *sc.RunAsUser == 0 {
		bad("Running as Non-root user", "runAsUser is 0")
	}
	containerSeccomp := sc.SeccompProfile != nil &&
		(sc.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault || sc.SeccompProfile.Type == corev1.SeccompProfileTypeLocalhost)
	if !containerSeccomp && !(podSeccomp && sc.SeccompProfile == nil) {
		bad("Seccomp", "seccompProfile must be RuntimeDefault or Localhost in the container or the pod")
	}
	dropsAll := false
	if sc.Capabilities != nil {
		for _, d := range sc.Capabilities.Drop {
			if d == "ALL" {
				dropsAll = true
			}
		}
		for _, a := range sc.Capabilities.Add {
			if a != "NET_BIND_SERVICE" {
				bad("Capabilities", "adds %s; only NET_BIND_SERVICE may be added", a)
			}
		}
	}
	if !dropsAll {
		bad("Capabilities", "capabilities must drop ALL")
	}
	return out
}

func allContainers(spec corev1.PodSpec) []corev1.Container {
	cs := append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...)
	for _, e := range spec.EphemeralContainers {
		cs = append(cs, corev1.Container(e.EphemeralContainerCommon))
	}
	return cs
}

// volumeType names the source a volume uses, as in the API's field names.
func volumeType(v corev1.Volume) string {
	s := v.VolumeSource
	switch {
	case s.ConfigMap != nil:
		return "configMap"
	case s.CSI != nil:
		return "csi"
	case s.DownwardAPI != nil:
		return "downwardAPI"
	case s.EmptyDir != nil:
		return "emptyDir"
	case s.Ephemeral != nil:
		return "ephemeral"
	case s.PersistentVolumeClaim != nil:
		return "persistentVolumeClaim"
	case s.Projected != nil:
		return "projected"
	case s.Secret != nil:
		return "secret"
	case s.HostPath != nil:
		return "hostPath"
	}
	return "other"
}

// checkResources wants every container to request cpu and memory and to
// limit memory.
func checkResources(name string, spec corev1.PodSpec) []string {
	var out []string
	for _, c := range allContainers(spec) {
		out = append(out, containerResourceProblems(name, c)...)
	}
	return out
}

func containerResourceProblems(name string, c corev1.Container) []string {
	var out []string
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if q, ok := c.Resources.Requests[r]; !ok || q.IsZero() {
			out = append(out, fmt.Sprintf("%s: container %q: resources.requests.%s is not set", name, c.Name, r))
		}
	}
	if q, ok := c.Resources.Limits[corev1.ResourceMemory]; !ok || q.IsZero() {
		out = append(out, fmt.Sprintf("%s: container %q: resources.limits.memory is not set", name, c.Name))
	}
	return out
}

// psaEvaluator is the Pod Security admission controller's own evaluator
// (k8s.io/pod-security-admission/policy), at the latest version.
var psaEvaluator = func() policy.Evaluator {
	e, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		panic(err)
	}
	return e
}()

// psaRestricted evaluates a pod as an API server enforcing
// pod-security.kubernetes.io/enforce: restricted would, and names every
// check that forbids it.
func psaRestricted(name string, meta metav1.ObjectMeta, spec corev1.PodSpec) []string {
	var out []string
	lv := psaapi.LevelVersion{Level: psaapi.LevelRestricted, Version: psaapi.LatestVersion()}
	for _, r := range psaEvaluator.EvaluatePod(lv, &meta, &spec) {
		if !r.Allowed {
			out = append(out, fmt.Sprintf("%s: Pod Security restricted (pod-security-admission): %s: %s", name, r.ForbiddenReason, r.ForbiddenDetail))
		}
	}
	return out
}
