//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/hopscope/hopscope/injector"
	"github.com/hopscope/hopscope/internal/testkit"
)

// TestHelmInstallAndInjection is the chart's and the injector's round trip
// on a real API server (kube-apiserver v1.34 and etcd, through envtest):
// `helm install` of charts/hopscope succeeds; the injector — run in this
// process, reached by the API server at the chart's injector.webhook.url
// on loopback, because without a kubelet the chart's own injector pod
// never runs — reads the sidecar template the chart installed, keeps its
// self-signed certificate in a Secret and puts its CA into the chart's
// MutatingWebhookConfiguration. Then a pod created in a namespace labelled
// hopscope.io/inject=enabled and enforcing Pod Security "restricted" is
// stored with the native sidecar, the swapped port and the rewritten
// probes (the API server's PodSecurity admission runs after the webhook,
// so a sidecar that broke "restricted" would be refused); an annotated pod
// in a plain namespace is injected too; a pod that cannot be injected is
// created unchanged with the injector's warning; a pod that asks for
// nothing is left alone. Pods are stored, never run.
func TestHelmInstallAndInjection(t *testing.T) {
	k := startKube(t)
	ctx := context.Background()
	const ns = "observability"

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	out := k.helm(t, "install", "hopscope", filepath.Join("..", "..", "charts", "hopscope"), "-n", ns, "--create-namespace",
		"--set", "injector.webhook.url=https://"+addr, "--timeout", "60s")
	t.Logf("helm install:\n%s", out)

	cm, err := k.client.CoreV1().ConfigMaps(ns).Get(ctx, "hopscope-sidecar-template", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the chart's sidecar template: %v", err)
	}
	tmplPath := filepath.Join(t.TempDir(), "sidecar.yaml")
	if err := os.WriteFile(tmplPath, []byte(cm.Data["sidecar.yaml"]), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := injector.DefaultConfig()
	cfg.Listen, cfg.AdminListen, cfg.Template = addr, "127.0.0.1:0", tmplPath
	cfg.Namespace, cfg.Kubeconfig, cfg.ExtraSANs, cfg.ShutdownGrace = ns, k.kubeconfig, []string{"127.0.0.1"}, 0
	reg := prometheus.NewRegistry()
	inj, err := injector.New(cfg, injector.Options{Registerer: reg, Gatherer: reg})
	if err != nil {
		t.Fatal(err)
	}
	if err := inj.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inj.Shutdown(context.Background()) })
	testkit.Eventually(t, "the injector's CA in the webhook configuration", 30*time.Second, inj.Ready)
	if s, err := k.client.CoreV1().Secrets(ns).Get(ctx, cfg.CertSecret, metav1.GetOptions{}); err != nil || len(s.Data["ca.crt"]) == 0 {
		t.Fatalf("the injector's certificate Secret: %v", err)
	}

	// A client that keeps the API server's warnings.
	warnings := &warningRecorder{}
	wcfg := rest.CopyConfig(k.cfg)
	wcfg.WarningHandler = warnings
	client, err := kubernetes.NewForConfig(wcfg)
	if err != nil {
		t.Fatal(err)
	}
	k.namespace(t, "shop", map[string]string{injector.AnnotationInject: "enabled", "pod-security.kubernetes.io/enforce": "restricted"})
	k.namespace(t, "plain", nil)

	restricted := func(c corev1.Container) corev1.Container {
		no, yes := false, true
		c.SecurityContext = &corev1.SecurityContext{AllowPrivilegeEscalation: &no, RunAsNonRoot: &yes,
			Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}, SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}
		return c
	}
	app := restricted(corev1.Container{Name: "app", Image: "registry.example/shop:1.4.2",
		Ports:          []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
		ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intstr.FromString("http")}}},
		LivenessProbe:  &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString("http")}}},
	})
	create := func(ns, name string, ann map[string]string, c corev1.Container) *corev1.Pod {
		t.Helper()
		warnings.reset()
		p, err := client.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app.kubernetes.io/name": "shop"}, Annotations: ann},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{c}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("creating pod %s/%s: %v", ns, name, err)
		}
		stored, err := k.client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil || stored.UID != p.UID {
			t.Fatalf("reading pod %s/%s back: %v", ns, name, err)
		}
		return stored
	}

	for _, tc := range []struct{ ns, name string }{{"shop", "labelled-namespace"}, {"plain", "annotated"}} {
		var ann map[string]string
		if tc.ns == "plain" {
			ann = map[string]string{injector.AnnotationInject: "enabled"}
		}
		p := create(tc.ns, tc.name, ann, app)
		checkInjected(t, p)
	}

	// Cannot be injected (no port named http): created as it was, with the
	// injector's warning.
	numeric := app
	numeric.Ports = []corev1.ContainerPort{{ContainerPort: 8080}}
	numeric.ReadinessProbe, numeric.LivenessProbe = nil, nil
	p := create("shop", "numeric-port", nil, numeric)
	if len(p.Spec.InitContainers) != 0 || len(p.Spec.Containers) != 1 {
		t.Errorf("numeric-port: pod changed: %+v", p.Spec)
	}
	if w := warnings.all(); !slices.ContainsFunc(w, func(s string) bool { return strings.Contains(s, `no container has a port named "http"`) }) {
		t.Errorf("numeric-port: warnings %q lack the injector's reason", w)
	}
	// Asks for nothing.
	p = create("plain", "not-annotated", nil, app)
	if len(p.Spec.InitContainers) != 0 || p.Spec.Containers[0].Ports[0].Name != "http" || p.Labels[injector.LabelSidecar] != "" {
		t.Errorf("not-annotated: pod changed: %+v", p.Spec)
	}
}

// checkInjected asserts what the stored pod must carry.
func checkInjected(t *testing.T, p *corev1.Pod) {
	t.Helper()
	where := p.Namespace + "/" + p.Name
	if len(p.Spec.InitContainers) != 1 || p.Spec.InitContainers[0].Name != injector.ContainerName {
		t.Fatalf("%s: no native sidecar: init containers %+v", where, p.Spec.InitContainers)
	}
	sc := p.Spec.InitContainers[0]
	if sc.RestartPolicy == nil || *sc.RestartPolicy != corev1.ContainerRestartPolicyAlways {
		t.Errorf("%s: the sidecar is not a native sidecar (restartPolicy %v)", where, sc.RestartPolicy)
	}
	if len(sc.Ports) == 0 || sc.Ports[0].Name != "http" || sc.Ports[0].ContainerPort != 15080 {
		t.Errorf("%s: the sidecar does not take the port name http: %+v", where, sc.Ports)
	}
	env := map[string]string{}
	for _, e := range sc.Env {
		env[e.Name] = e.Value
	}
	if env["HOPSCOPE_UPSTREAM"] != "http://127.0.0.1:8080" || env["HOPSCOPE_SERVICE"] != "shop" {
		t.Errorf("%s: sidecar env %v", where, env)
	}
	if sc.Resources.Requests.Cpu().IsZero() || sc.Resources.Limits.Memory().IsZero() {
		t.Errorf("%s: sidecar resources %+v", where, sc.Resources)
	}
	a := p.Spec.Containers[0]
	if a.Ports[0].Name != "app-http" || a.Ports[0].ContainerPort != 8080 {
		t.Errorf("%s: the app's port was not renamed: %+v", where, a.Ports)
	}
	if a.ReadinessProbe.HTTPGet.Port != intstr.FromInt32(8080) || a.LivenessProbe.TCPSocket.Port != intstr.FromInt32(8080) {
		t.Errorf("%s: probes not rewritten to the app's port number: %v %v", where, a.ReadinessProbe.HTTPGet.Port, a.LivenessProbe.TCPSocket.Port)
	}
	if p.Labels[injector.LabelSidecar] != "injected" || p.Annotations[injector.AnnotationInjected] == "" {
		t.Errorf("%s: labels %v annotations %v", where, p.Labels, p.Annotations)
	}
}

// warningRecorder keeps the warnings the API server returns.
type warningRecorder struct {
	mu sync.Mutex
	w  []string
}

func (r *warningRecorder) HandleWarningHeader(code int, agent, text string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.w = append(r.w, fmt.Sprintf("%d %s", code, text))
}

func (r *warningRecorder) reset() { r.mu.Lock(); r.w = nil; r.mu.Unlock() }

func (r *warningRecorder) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.w)
}
