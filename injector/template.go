package injector

import (
	"errors"
	"fmt"
	"net"
	"os"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	psaapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
	"sigs.k8s.io/yaml"
)

// ContainerName is the sidecar container's name; a pod that has it is
// already injected.
const ContainerName = "hopscope-sidecar"

// Template is the sidecar as the Helm chart renders it from its values
// (the ConfigMap <release>-sidecar-template, key sidecar.yaml). The
// injector adds exactly this container, plus what only the pod can say
// (the app's port, the service name), so the chart's values are the one
// source of the sidecar's image, resources and security context.
type Template struct {
	// Container is the sidecar container: image, args, env, resources,
	// security context, the admin port and its probes.
	Container corev1.Container `json:"container"`
	// Native adds the sidecar as an init container with restartPolicy
	// Always (Kubernetes ≥ 1.29); false adds a regular container.
	Native bool `json:"native"`
	// PortName is the name of the app port the sidecar takes over, when the
	// pod's hopscope.io/port-name annotation does not say.
	PortName string `json:"portName"`
	// ProxyPort is the port the sidecar listens on (its --listen).
	ProxyPort int32 `json:"proxyPort"`
	// AdminPort is the sidecar's admin port (/metrics, /healthz, /readyz).
	AdminPort int32 `json:"adminPort"`
	// DrainOnPreStop gives the app container, unless it has a preStop hook
	// of its own, a preStop httpGet of the sidecar's /drain on the admin
	// port: the pod leaves rotation (keep-alive clients are told to close)
	// before the app gets SIGTERM.
	DrainOnPreStop bool `json:"drainOnPreStop,omitempty"`
	// Egress, when set, captures the app's outbound HTTP: the sidecar runs
	// its forward proxy and the app containers get HTTP_PROXY, HTTPS_PROXY
	// and NO_PROXY pointing at it.
	Egress *Egress `json:"egress,omitempty"`
}

// Egress is the forward proxy the app containers are pointed at.
type Egress struct {
	// Listen is the proxy's loopback address (the sidecar's
	// --egress-listen), e.g. 127.0.0.1:15081.
	Listen string `json:"listen"`
	// NoProxy is the app's NO_PROXY: destinations reached directly (the
	// cluster's own Services, by default).
	NoProxy string `json:"noProxy"`
}

// LoadTemplate reads and validates a template file.
func LoadTemplate(path string) (Template, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Template{}, fmt.Errorf("reading the sidecar template: %w", err)
	}
	return ParseTemplate(data)
}

// ParseTemplate decodes a template strictly (an unknown key is an error)
// and validates it.
func ParseTemplate(data []byte) (Template, error) {
	var t Template
	if err := yaml.UnmarshalStrict(data, &t); err != nil {
		return Template{}, fmt.Errorf("decoding the sidecar template: %w", err)
	}
	if err := t.Validate(); err != nil {
		return Template{}, err
	}
	return t, nil
}

// Validate reports what would make an injected pod wrong, naming the key.
func (t Template) Validate() error {
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf("sidecar template: %s: %s", key, fmt.Sprintf(format, a...)))
	}
	if t.Container.Name != ContainerName {
		bad("container.name", "must be %q, got %q", ContainerName, t.Container.Name)
	}
	if t.Container.Image == "" {
		bad("container.image", "must not be empty")
	}
	for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if _, ok := t.Container.Resources.Requests[res]; !ok {
			bad("container.resources.requests."+string(res), "must be set (an HPA on CPU needs every container's requests)")
		}
		if _, ok := t.Container.Resources.Limits[res]; !ok && res == corev1.ResourceMemory {
			bad("container.resources.limits.memory", "must be set")
		}
	}
	if msgs := validation.IsValidPortName(t.PortName); len(msgs) > 0 {
		bad("portName", "%q: %v", t.PortName, msgs)
	}
	// The injector adds portName to the container's ports and moves the
	// app's port to movedPortName: neither may be there already (the API
	// server refuses a container with two ports of one name).
	seen := map[string]bool{}
	for i, p := range t.Container.Ports {
		key := fmt.Sprintf("container.ports[%d].name", i)
		switch {
		case p.Name == "":
		case len(validation.IsValidPortName(p.Name)) > 0:
			bad(key, "%q: %v", p.Name, validation.IsValidPortName(p.Name))
		case p.Name == t.PortName || p.Name == movedPortName(t.PortName):
			bad(key, "%q is the name the injector gives the sidecar's proxy port or the app's port (portName %q)", p.Name, t.PortName)
		case seen[p.Name]:
			bad(key, "%q: two ports of that name", p.Name)
		}
		seen[p.Name] = true
	}
	for key, p := range map[string]int32{"proxyPort": t.ProxyPort, "adminPort": t.AdminPort} {
		if p < 1 || p > 65535 {
			bad(key, "must be a port number, got %d", p)
		}
	}
	if t.ProxyPort == t.AdminPort {
		bad("adminPort", "must differ from proxyPort (%d)", t.ProxyPort)
	}
	if e := t.Egress; e != nil {
		if host, port, err := net.SplitHostPort(e.Listen); err != nil || port == "" || (host != "127.0.0.1" && host != "localhost") {
			bad("egress.listen", "must be 127.0.0.1:PORT, got %q", e.Listen)
		}
	}
	sc := t.Container.SecurityContext
	if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.Capabilities == nil || len(sc.Capabilities.Add) > 0 || len(sc.Capabilities.Drop) == 0 {
		bad("container.securityContext", "must meet Pod Security \"restricted\": runAsNonRoot, allowPrivilegeEscalation false, capabilities drop ALL and add none")
	} else {
		// The rest of "restricted" (drop ALL, not runAsUser 0, a seccomp
		// profile, no privileged or host port, …), as the admission
		// controller judges the sidecar on its own: a pod in a restricted
		// namespace would be refused for it.
		alone := corev1.PodSpec{Containers: []corev1.Container{t.Container}}
		for _, r := range restricted.EvaluatePod(restrictedLevel, &metav1.ObjectMeta{}, &alone) {
			if !r.Allowed {
				bad("container", "must meet Pod Security \"restricted\": %s: %s", r.ForbiddenReason, r.ForbiddenDetail)
			}
		}
	}
	return errors.Join(errs...)
}

// restricted judges the sidecar container against Pod Security
// "restricted" at restrictedLevel, with the admission controller's checks.
var (
	restricted      = mustEvaluator()
	restrictedLevel = psaapi.LevelVersion{Level: psaapi.LevelRestricted, Version: psaapi.LatestVersion()}
)

func mustEvaluator() policy.Evaluator {
	e, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		panic(fmt.Sprintf("pod security evaluator: %v", err))
	}
	return e
}
