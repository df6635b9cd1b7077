package injector

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/hopscope/hopscope/internal/contract"
	"github.com/hopscope/hopscope/sidecar/backend"
)

// Annotations a pod can set.
const (
	// AnnotationInject is "enabled" to ask for the sidecar, "disabled" to
	// refuse it in a labelled namespace. As a namespace label, "enabled"
	// injects every pod of the namespace.
	AnnotationInject = "hopscope.io/inject"
	// AnnotationInjected marks an injected pod; its value is the sidecar's
	// image.
	AnnotationInjected = "hopscope.io/injected"
	// LabelSidecar ("injected") lets a PodMonitor select injected pods.
	LabelSidecar = "hopscope.io/sidecar"
	// AnnotationPortName names the app port to take over (default: the
	// template's portName, "http").
	AnnotationPortName = "hopscope.io/port-name"
	// AnnotationService is the service name in spans, logs and metrics
	// (default: the pod's app.kubernetes.io/name or app label).
	AnnotationService = "hopscope.io/service"
	// AnnotationBackends is the sidecar's backend proxies for this pod, a
	// YAML list as the sidecar's `backends:` key takes it; the app is then
	// pointed at their listen addresses.
	AnnotationBackends = "hopscope.io/backends"
	// AnnotationCPURequest and the three below override the sidecar's
	// resources for one pod (Kubernetes quantities).
	AnnotationCPURequest    = "hopscope.io/cpu-request"
	AnnotationCPULimit      = "hopscope.io/cpu-limit"
	AnnotationMemoryRequest = "hopscope.io/memory-request"
	AnnotationMemoryLimit   = "hopscope.io/memory-limit"
)

// PatchOp is one RFC 6902 JSON patch operation.
type PatchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
}

// Result is what the injector decided for one pod.
type Result struct {
	// Patch is empty when the pod is admitted unchanged.
	Patch []PatchOp
	// Warnings go back to the user in the admission response.
	Warnings []string
	// Skipped says why nothing was injected ("" when injected).
	Skipped string
}

// Mutate decides whether pod gets the sidecar and returns the patch.
// namespaceEnabled tells that the pod's namespace is labelled
// hopscope.io/inject=enabled. It never fails: what stops injection is a
// Skipped reason, with a warning when the user asked for the sidecar.
func Mutate(t Template, pod *corev1.Pod, namespaceEnabled bool) Result {
	ann := pod.Annotations
	switch {
	case ann[AnnotationInject] == "disabled":
		return Result{Skipped: "the pod's " + AnnotationInject + " annotation is disabled"}
	case ann[AnnotationInject] != "enabled" && !namespaceEnabled:
		return Result{Skipped: "neither the pod nor its namespace asks for injection"}
	case ann[AnnotationInjected] != "" || hasContainer(pod, ContainerName):
		return Result{Skipped: "already injected"}
	}
	skip := func(format string, a ...any) Result {
		why := fmt.Sprintf(format, a...)
		return Result{Skipped: why, Warnings: []string{"hopscope: sidecar not injected: " + why}}
	}
	if pod.Spec.HostNetwork {
		return skip("the pod uses the host network, where the sidecar's ports %d and %d could clash with the node's", t.ProxyPort, t.AdminPort)
	}
	portName := t.PortName
	if v, ok := ann[AnnotationPortName]; ok {
		if msgs := validation.IsValidPortName(v); len(msgs) > 0 {
			return skip("annotation %s: %q is not a port name: %s", AnnotationPortName, v, strings.Join(msgs, "; "))
		}
		portName = v
	}

	// The app's port of that name, and no container on the sidecar's ports.
	ci, pi := -1, -1
	for i, c := range pod.Spec.Containers {
		for j, p := range c.Ports {
			if p.ContainerPort == t.ProxyPort || p.ContainerPort == t.AdminPort {
				return skip("container %q uses port %d, which the sidecar needs", c.Name, p.ContainerPort)
			}
			if p.Name == portName {
				if ci >= 0 {
					return skip("two containers have a port named %q", portName)
				}
				ci, pi = i, j
			}
		}
	}
	if ci < 0 {
		return skip("no container has a port named %q: name the app's port %q or set the %s annotation", portName, portName, AnnotationPortName)
	}
	appPort := pod.Spec.Containers[ci].Ports[pi]
	if appPort.Protocol != "" && appPort.Protocol != corev1.ProtocolTCP {
		return skip("port %q is %s; the sidecar proxies TCP (HTTP, gRPC)", portName, appPort.Protocol)
	}
	movedName := movedPortName(portName)
	for _, p := range t.Container.Ports {
		if p.Name != "" && (p.Name == portName || p.Name == movedName) {
			// The sidecar would get two ports of one name (refused by the
			// API server), or the app's port the name of the sidecar's.
			return skip("the port name %q is the sidecar's own (its port %d)", p.Name, p.ContainerPort)
		}
	}
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.Name == movedName {
				return skip("the port name %q the app's port would move to is taken", movedName)
			}
		}
	}

	var res Result
	sidecar := t.Container.DeepCopy()
	sidecar.Ports = append([]corev1.ContainerPort{{Name: portName, ContainerPort: t.ProxyPort, Protocol: corev1.ProtocolTCP}}, sidecar.Ports...)
	setEnv(sidecar, corev1.EnvVar{Name: "HOPSCOPE_UPSTREAM", Value: "http://127.0.0.1:" + strconv.Itoa(int(appPort.ContainerPort))})
	if t.Egress != nil {
		setEnv(sidecar, corev1.EnvVar{Name: "HOPSCOPE_EGRESS_LISTEN", Value: t.Egress.Listen})
	}
	if svc := serviceName(pod); svc != "" {
		setEnv(sidecar, corev1.EnvVar{Name: "HOPSCOPE_SERVICE", Value: svc})
	}
	if d := DeploymentName(pod); d != "" {
		addResourceAttribute(sidecar, contract.AttrK8sDeploymentName, d)
	}
	res.Warnings = append(res.Warnings, overrideResources(sidecar, ann)...)
	if v, ok := ann[AnnotationBackends]; ok {
		env, err := backendsEnv(v)
		if err != nil {
			res.Warnings = append(res.Warnings, fmt.Sprintf("hopscope: annotation %s: %v; the sidecar runs without backend proxies", AnnotationBackends, err))
		} else {
			setEnv(sidecar, corev1.EnvVar{Name: "HOPSCOPE_BACKENDS", Value: env})
		}
	}
	tlsOps, tlsWarnings := backendTLSSecret(pod, sidecar)
	res.Patch = append(res.Patch, tlsOps...)
	res.Warnings = append(res.Warnings, tlsWarnings...)

	if t.Native {
		always := corev1.ContainerRestartPolicyAlways
		sidecar.RestartPolicy = &always
		if len(pod.Spec.InitContainers) == 0 {
			res.Patch = append(res.Patch, PatchOp{"add", "/spec/initContainers", []corev1.Container{*sidecar}})
		} else {
			// First, so that later init containers already have it.
			res.Patch = append(res.Patch, PatchOp{"add", "/spec/initContainers/0", sidecar})
		}
	} else {
		res.Patch = append(res.Patch, PatchOp{"add", "/spec/containers/-", sidecar})
	}
	res.Patch = append(res.Patch, PatchOp{"replace", fmt.Sprintf("/spec/containers/%d/ports/%d/name", ci, pi), movedName})
	if t.DrainOnPreStop {
		res.Patch = append(res.Patch, drainPreStop(pod.Spec.Containers[ci], ci, t.AdminPort)...)
	}
	if t.Egress != nil {
		ops, warnings := egressEnv(pod, t.Egress)
		res.Patch = append(res.Patch, ops...)
		res.Warnings = append(res.Warnings, warnings...)
	}

	// Probes that named the moved port now name its number: the kubelet
	// keeps probing the app, not the sidecar.
	for i, c := range pod.Spec.Containers {
		for _, pr := range []struct {
			field string
			probe *corev1.Probe
		}{{"livenessProbe", c.LivenessProbe}, {"readinessProbe", c.ReadinessProbe}, {"startupProbe", c.StartupProbe}} {
			if pr.probe == nil {
				continue
			}
			num := intstr.FromInt32(appPort.ContainerPort)
			base := fmt.Sprintf("/spec/containers/%d/%s", i, pr.field)
			if g := pr.probe.HTTPGet; g != nil && g.Port.Type == intstr.String && g.Port.StrVal == portName {
				res.Patch = append(res.Patch, PatchOp{"replace", base + "/httpGet/port", num})
			}
			if s := pr.probe.TCPSocket; s != nil && s.Port.Type == intstr.String && s.Port.StrVal == portName {
				res.Patch = append(res.Patch, PatchOp{"replace", base + "/tcpSocket/port", num})
			}
		}
	}

	if len(pod.Labels) == 0 {
		res.Patch = append(res.Patch, PatchOp{"add", "/metadata/labels", map[string]string{LabelSidecar: "injected"}})
	} else {
		res.Patch = append(res.Patch, PatchOp{"add", "/metadata/labels/" + escapePointer(LabelSidecar), "injected"})
	}
	if len(pod.Annotations) == 0 {
		res.Patch = append(res.Patch, PatchOp{"add", "/metadata/annotations", map[string]string{AnnotationInjected: t.Container.Image}})
	} else {
		res.Patch = append(res.Patch, PatchOp{"add", "/metadata/annotations/" + escapePointer(AnnotationInjected), t.Container.Image})
	}
	return res
}

// drainPreStop makes the sidecar's /drain the app container's preStop
// hook, unless the app has one of its own (then it keeps it, and its own
// shutdown decides).
func drainPreStop(c corev1.Container, ci int, adminPort int32) []PatchOp {
	hook := &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/drain", Port: intstr.FromInt32(adminPort)}}
	switch {
	case c.Lifecycle == nil:
		return []PatchOp{{"add", fmt.Sprintf("/spec/containers/%d/lifecycle", ci), corev1.Lifecycle{PreStop: hook}}}
	case c.Lifecycle.PreStop == nil:
		return []PatchOp{{"add", fmt.Sprintf("/spec/containers/%d/lifecycle/preStop", ci), hook}}
	}
	return nil
}

// maxPortNameLength is the longest port name (an IANA service name).
const maxPortNameLength = 15

// backendsEnv checks a hopscope.io/backends annotation as the sidecar will
// (strict YAML, every entry valid) and returns it as the sidecar's
// HOPSCOPE_BACKENDS value: the annotation itself.
func backendsEnv(v string) (string, error) {
	dec := yaml.NewDecoder(strings.NewReader(v))
	dec.KnownFields(true)
	var list []backend.Config
	if err := dec.Decode(&list); err != nil {
		return "", fmt.Errorf("not a YAML list of backends: %w", err)
	}
	if err := backend.ValidateAll(list); err != nil {
		return "", err
	}
	return v, nil
}

// proxyEnv are the variables that point an app at the egress proxy.
var proxyEnv = []string{"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"}

// egressEnv points every app container at the egress proxy, except those
// that already set a proxy of their own (left alone, with a warning).
func egressEnv(pod *corev1.Pod, e *Egress) ([]PatchOp, []string) {
	var ops []PatchOp
	var warnings []string
	url := "http://" + e.Listen
	values := map[string]string{"HTTP_PROXY": url, "HTTPS_PROXY": url, "NO_PROXY": e.NoProxy}
	for i, c := range pod.Spec.Containers {
		if slices.ContainsFunc(c.Env, func(v corev1.EnvVar) bool {
			return slices.Contains(proxyEnv, strings.ToUpper(v.Name))
		}) {
			warnings = append(warnings, fmt.Sprintf("hopscope: container %q sets its own proxy variables; its outbound HTTP is not captured", c.Name))
			continue
		}
		var vars []corev1.EnvVar
		for _, name := range proxyEnv {
			if values[name] != "" {
				vars = append(vars, corev1.EnvVar{Name: name, Value: values[name]})
			}
		}
		if len(c.Env) == 0 {
			ops = append(ops, PatchOp{"add", fmt.Sprintf("/spec/containers/%d/env", i), vars})
			continue
		}
		for _, v := range vars {
			ops = append(ops, PatchOp{"add", fmt.Sprintf("/spec/containers/%d/env/-", i), v})
		}
	}
	return ops, warnings
}

// movedPortName is the name the app's port takes when the sidecar takes
// its name: "app-" and the name, cut to the 15 characters a port name may
// have.
func movedPortName(name string) string {
	n := "app-" + name
	if len(n) > maxPortNameLength {
		n = n[:maxPortNameLength]
	}
	return strings.TrimRight(n, "-")
}

func hasContainer(pod *corev1.Pod, name string) bool {
	for _, cs := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		if slices.ContainsFunc(cs, func(c corev1.Container) bool { return c.Name == name }) {
			return true
		}
	}
	return false
}

// serviceName is the pod's hopscope.io/service annotation, else its
// app.kubernetes.io/name or app label, else "" (the sidecar falls back to
// its own default).
func serviceName(pod *corev1.Pod) string {
	if v := pod.Annotations[AnnotationService]; v != "" {
		return v
	}
	for _, l := range []string{"app.kubernetes.io/name", "app"} {
		if v := pod.Labels[l]; v != "" {
			return v
		}
	}
	return ""
}

// LabelPodTemplateHash is the label the Deployment controller gives a
// ReplicaSet's pods: the hash it appended to the ReplicaSet's name.
const LabelPodTemplateHash = "pod-template-hash"

// DeploymentName is the Deployment a pod belongs to, named as the
// OpenTelemetry Collector's k8sattributes processor names it: the pod's
// ReplicaSet (its ownerReference, else its generateName "<replicaset>-")
// less the "-<pod-template-hash>" suffix the Deployment controller
// appended, the hash the pod carries as its pod-template-hash label. ""
// for a pod of no Deployment (a bare pod, a StatefulSet's, a ReplicaSet
// of its own without that label or suffix).
func DeploymentName(pod *corev1.Pod) string {
	hash := pod.Labels[LabelPodTemplateHash]
	if hash == "" {
		return ""
	}
	rs, found := "", false
	for _, ref := range pod.OwnerReferences {
		if ref.Kind == "ReplicaSet" && strings.HasPrefix(ref.APIVersion, "apps/") {
			rs, found = ref.Name, true
			break
		}
	}
	if !found && len(pod.OwnerReferences) == 0 {
		rs = strings.TrimSuffix(pod.GenerateName, "-")
	}
	name, ok := strings.CutSuffix(rs, "-"+hash)
	if !ok || name == "" {
		return ""
	}
	return name
}

// addResourceAttribute appends key=value to the OTEL_RESOURCE_ATTRIBUTES
// the container gets (the last of that name), or sets it when there is
// none. A variable taken from valueFrom is left alone. value must need no
// percent-encoding (a Kubernetes object name does not).
func addResourceAttribute(c *corev1.Container, key, value string) {
	const name = "OTEL_RESOURCE_ATTRIBUTES"
	for i := len(c.Env) - 1; i >= 0; i-- {
		e := &c.Env[i]
		if e.Name != name {
			continue
		}
		if e.ValueFrom == nil {
			if e.Value != "" {
				e.Value += ","
			}
			e.Value += key + "=" + value
		}
		return
	}
	c.Env = append(c.Env, corev1.EnvVar{Name: name, Value: key + "=" + value})
}

// setEnv sets v in c's env: in place of the first variable of that name,
// dropping any later one (the last of a name is the one a container gets),
// or at the end. c.Env is changed in place.
func setEnv(c *corev1.Container, v corev1.EnvVar) {
	env, set := c.Env[:0], false
	for _, e := range c.Env {
		switch {
		case e.Name != v.Name:
			env = append(env, e)
		case !set:
			env, set = append(env, v), true
		}
	}
	if !set {
		env = append(env, v)
	}
	c.Env = env
}

// overrideResources applies the pod's resource annotations; a value that
// is not a quantity is ignored with a warning.
func overrideResources(c *corev1.Container, ann map[string]string) []string {
	var warnings []string
	for _, o := range []struct {
		key  string
		list *corev1.ResourceList
		name corev1.ResourceName
	}{
		{AnnotationCPURequest, &c.Resources.Requests, corev1.ResourceCPU},
		{AnnotationCPULimit, &c.Resources.Limits, corev1.ResourceCPU},
		{AnnotationMemoryRequest, &c.Resources.Requests, corev1.ResourceMemory},
		{AnnotationMemoryLimit, &c.Resources.Limits, corev1.ResourceMemory},
	} {
		v, ok := ann[o.key]
		if !ok {
			continue
		}
		q, err := resource.ParseQuantity(v)
		if err != nil || q.Sign() <= 0 {
			warnings = append(warnings, fmt.Sprintf("hopscope: annotation %s: %q is not a positive quantity; the chart's value is kept", o.key, v))
			continue
		}
		if *o.list == nil {
			*o.list = corev1.ResourceList{}
		}
		(*o.list)[o.name] = q
	}
	req, lim := c.Resources.Requests, c.Resources.Limits
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		r, okR := req[name]
		l, okL := lim[name]
		if okR && okL && r.Cmp(l) > 0 {
			warnings = append(warnings, fmt.Sprintf("hopscope: the sidecar's %s request %s is above its limit %s; the request is lowered to the limit", name, r.String(), l.String()))
			req[name] = l
		}
	}
	return warnings
}

// escapePointer escapes a JSON pointer token (RFC 6901).
func escapePointer(s string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(s)
}

// MarshalPatch encodes a patch; nil for an empty one.
func MarshalPatch(p []PatchOp) ([]byte, error) {
	if len(p) == 0 {
		return nil, nil
	}
	return json.Marshal(p)
}
