package charts

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/hopscope/hopscope/charts/internal/chartdoc"
	"github.com/hopscope/hopscope/dashboards"
	"github.com/hopscope/hopscope/injector"
	"github.com/hopscope/hopscope/internal/testkit"
	"github.com/hopscope/hopscope/rules"
)

// Names of the default release's objects.
const (
	collectorName       = "hopscope-collector"
	injectorName        = "hopscope-injector"
	rumName             = "hopscope-rum"
	sidecarTemplateName = "hopscope-sidecar-template"
	testPodName         = "hopscope-selftest"
)

// variants are the ci/*-values.yaml files: the objects each renders (by
// kind) and what else each must show.
var variants = []struct {
	name  string
	kinds map[string]int
	check func(t *testing.T, objs []object)
}{
	{
		name: "default",
		kinds: map[string]int{"Deployment": 2, "Service": 2, "ConfigMap": 1, "ServiceAccount": 2, "Role": 1, "RoleBinding": 1,
			"ClusterRole": 1, "ClusterRoleBinding": 1, "MutatingWebhookConfiguration": 1, "NetworkPolicy": 2, "PodDisruptionBudget": 1, "Pod": 1},
		check: checkDefault,
	},
	{
		name: "cert-manager",
		kinds: map[string]int{"Deployment": 2, "Service": 2, "ConfigMap": 1, "ServiceAccount": 2, "MutatingWebhookConfiguration": 1,
			"NetworkPolicy": 2, "PodDisruptionBudget": 1, "Pod": 1, "Issuer": 1, "Certificate": 1},
		check: checkCertManager,
	},
	{
		name: "monitoring",
		kinds: map[string]int{"Deployment": 2, "Service": 2, "ConfigMap": 1 + len(generatedDashboards()), "ServiceAccount": 2, "Role": 1, "RoleBinding": 1,
			"ClusterRole": 1, "ClusterRoleBinding": 1, "MutatingWebhookConfiguration": 1, "NetworkPolicy": 2, "PodDisruptionBudget": 1, "Pod": 1,
			"ServiceMonitor": 2, "PodMonitor": 1, "PrometheusRule": 1},
		check: checkMonitoring,
	},
	{
		name:  "no-injector",
		kinds: map[string]int{"Deployment": 1, "Service": 1, "ServiceAccount": 1, "NetworkPolicy": 1, "Pod": 1},
		check: checkNoInjector,
	},
	{
		name:  "external-webhook-url",
		kinds: map[string]int{"Deployment": 1, "Service": 1, "ConfigMap": 1, "ServiceAccount": 1, "MutatingWebhookConfiguration": 1, "NetworkPolicy": 1, "Pod": 1},
		check: checkExternalWebhook,
	},
	{
		name: "rum-ingress",
		kinds: map[string]int{"Deployment": 2, "Service": 3, "ConfigMap": 1, "ServiceAccount": 2, "Role": 1, "RoleBinding": 1,
			"ClusterRole": 1, "ClusterRoleBinding": 1, "MutatingWebhookConfiguration": 1, "NetworkPolicy": 2, "PodDisruptionBudget": 2, "Pod": 1, "Ingress": 1},
		check: checkRUMIngress,
	},
	{
		name: "scale-out",
		kinds: map[string]int{"Deployment": 3, "Service": 4, "ConfigMap": 2, "ServiceAccount": 3, "Role": 2, "RoleBinding": 2,
			"ClusterRole": 1, "ClusterRoleBinding": 1, "MutatingWebhookConfiguration": 1, "NetworkPolicy": 3, "PodDisruptionBudget": 1, "Pod": 1},
		check: checkScaleOut,
	},
}

// TestCIValues lints and renders the chart with every ci/*-values.yaml and
// checks what it renders: strict decoding into the API types (CRDs as
// unstructured), Pod Security "restricted" and resources of every pod, the
// objects expected for the variant, Services that select pods and name
// their ports, and each variant's own expectations.
func TestCIValues(t *testing.T) {
	files := ciFiles(t)
	var tested []string
	for _, v := range variants {
		tested = append(tested, v.name)
	}
	for name := range files {
		if !slices.Contains(tested, name) {
			t.Errorf("ci/%s-values.yaml has no entry in variants", name)
		}
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			path, ok := files[v.name]
			if !ok {
				t.Fatalf("ci/%s-values.yaml is missing", v.name)
			}
			out, stderr, err := runHelm(t, "lint", "--strict", "--kube-version", defaultKubeVersion, chartDir, "-f", path)
			if err != nil {
				t.Errorf("helm lint --strict -f ci/%s-values.yaml: %v\n%s%s", v.name, err, out, stderr)
			}
			objs := decodeAll(t, renderCI(t, v.name))
			if got := kinds(objs); !reflect.DeepEqual(got, v.kinds) {
				t.Errorf("rendered kinds = %v, want %v (objects: %s)", got, v.kinds, names(objs))
			}
			for _, o := range objs {
				if len(o.Name) > 63 {
					t.Errorf("%s: the name is longer than 63 characters", o)
				}
			}
			pods := podSpecs(objs)
			if len(pods) == 0 {
				t.Fatal("no pod templates rendered")
			}
			for name, p := range pods {
				for _, problem := range checkRestricted(name, p.Meta, p.Spec) {
					t.Error(problem)
				}
				for _, problem := range psaRestricted(name, p.Meta, p.Spec) {
					t.Error(problem)
				}
				for _, problem := range checkResources(name, p.Spec) {
					t.Error(problem)
				}
			}
			checkServices(t, objs)
			if tmpl, ok := sidecarTemplate(t, objs); ok {
				checkSidecarTemplate(t, tmpl)
			}
			v.check(t, objs)
		})
	}
}

// checkServices wants every Service to select the pods of a rendered
// workload and every targetPort to be one of their named ports.
func checkServices(t *testing.T, objs []object) {
	t.Helper()
	pods := podSpecs(objs)
	for _, o := range objs {
		svc, ok := o.Typed.(*corev1.Service)
		if !ok {
			continue
		}
		var match *podTemplate
		for _, p := range pods {
			if selects(svc.Spec.Selector, p.Meta.Labels) && p.Meta.Labels["app.kubernetes.io/component"] != "test" {
				match = &p
				break
			}
		}
		if match == nil {
			t.Errorf("%s selects no rendered pod (selector %v)", o, svc.Spec.Selector)
			continue
		}
		for _, sp := range svc.Spec.Ports {
			if sp.TargetPort.Type != intstr.String || !hasPort(match.Spec, sp.TargetPort.StrVal) {
				t.Errorf("%s: port %s targets %s, which is no named port of its pods", o, sp.Name, sp.TargetPort.String())
			}
		}
	}
}

func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func hasPort(spec corev1.PodSpec, name string) bool {
	for _, c := range spec.Containers {
		for _, p := range c.Ports {
			if p.Name == name {
				return true
			}
		}
	}
	return false
}

func typed[T any](t *testing.T, objs []object, kind, name string) T {
	t.Helper()
	o := find(t, objs, kind, name)
	x, ok := o.Typed.(T)
	if !ok {
		t.Fatalf("%s decodes to %T", o, o.Typed)
	}
	return x
}

func container(t *testing.T, d *appsv1.Deployment, name string) corev1.Container {
	t.Helper()
	for _, c := range d.Spec.Template.Spec.Containers {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("Deployment/%s has no container %q", d.Name, name)
	return corev1.Container{}
}

func wantArgs(t *testing.T, what string, args []string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !slices.Contains(args, w) {
			t.Errorf("%s: args %q lack %q", what, args, w)
		}
	}
}

func noArgPrefix(t *testing.T, what string, args []string, prefixes ...string) {
	t.Helper()
	for _, a := range args {
		for _, p := range prefixes {
			if strings.HasPrefix(a, p) {
				t.Errorf("%s: unexpected arg %q", what, a)
			}
		}
	}
}

func checkDefault(t *testing.T, objs []object) {
	webhook := typed[*admissionregistrationv1.MutatingWebhookConfiguration](t, objs, "MutatingWebhookConfiguration", injectorName)
	checkWebhooks(t, webhook, func(path string) admissionregistrationv1.WebhookClientConfig {
		return admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{
			Namespace: releaseNamespace, Name: injectorName, Path: &path, Port: ptr(int32(443))}}
	})
	if len(webhook.Annotations) != 0 {
		t.Errorf("webhook annotations = %v, want none (the injector patches the caBundle)", webhook.Annotations)
	}
	// matchConditions (GA in 1.30) on the pod webhook only.
	if mc := webhook.Webhooks[0].MatchConditions; len(mc) != 1 || !strings.Contains(mc[0].Expression, "'hopscope.io/inject'") {
		t.Errorf("pod webhook matchConditions = %+v", mc)
	}
	if mc := webhook.Webhooks[1].MatchConditions; len(mc) != 0 {
		t.Errorf("namespace webhook matchConditions = %+v, want none", mc)
	}

	// Least privilege for the self-signed certificate.
	role := typed[*rbacv1.Role](t, objs, "Role", injectorName)
	wantRules := []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{"hopscope-injector-tls"}, Verbs: []string{"get", "update"}},
		{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"create"}},
	}
	if !reflect.DeepEqual(role.Rules, wantRules) {
		t.Errorf("Role rules = %+v, want %+v", role.Rules, wantRules)
	}
	cr := typed[*rbacv1.ClusterRole](t, objs, "ClusterRole", injectorName)
	wantCR := []rbacv1.PolicyRule{{APIGroups: []string{"admissionregistration.k8s.io"}, Resources: []string{"mutatingwebhookconfigurations"},
		ResourceNames: []string{injectorName}, Verbs: []string{"get", "update"}}}
	if !reflect.DeepEqual(cr.Rules, wantCR) {
		t.Errorf("ClusterRole rules = %+v, want %+v", cr.Rules, wantCR)
	}
	for _, b := range []struct {
		kind    string
		subject []rbacv1.Subject
		ref     rbacv1.RoleRef
	}{
		{"RoleBinding", typed[*rbacv1.RoleBinding](t, objs, "RoleBinding", injectorName).Subjects, typed[*rbacv1.RoleBinding](t, objs, "RoleBinding", injectorName).RoleRef},
		{"ClusterRoleBinding", typed[*rbacv1.ClusterRoleBinding](t, objs, "ClusterRoleBinding", injectorName).Subjects, typed[*rbacv1.ClusterRoleBinding](t, objs, "ClusterRoleBinding", injectorName).RoleRef},
	} {
		want := []rbacv1.Subject{{Kind: "ServiceAccount", Name: injectorName, Namespace: releaseNamespace}}
		if !reflect.DeepEqual(b.subject, want) || b.ref.Name != injectorName {
			t.Errorf("%s: subjects %+v, roleRef %+v", b.kind, b.subject, b.ref)
		}
	}

	inj := typed[*appsv1.Deployment](t, objs, "Deployment", injectorName)
	if inj.Spec.Replicas == nil || *inj.Spec.Replicas != 2 {
		t.Errorf("injector replicas = %v, want 2", inj.Spec.Replicas)
	}
	ps := inj.Spec.Template.Spec
	if ps.AutomountServiceAccountToken == nil || !*ps.AutomountServiceAccountToken {
		t.Error("the self-signed injector needs its service account token")
	}
	if ps.ServiceAccountName != injectorName {
		t.Errorf("injector serviceAccountName = %q", ps.ServiceAccountName)
	}
	c := container(t, inj, "injector")
	wantArgs(t, "injector", c.Args, "injector", "--listen=:8443", "--admin-listen=:9090", "--template=/etc/hopscope/sidecar.yaml",
		"--namespace=$(POD_NAMESPACE)", "--service-name="+injectorName, "--cert-secret=hopscope-injector-tls", "--webhook-config="+injectorName)
	noArgPrefix(t, "injector", c.Args, "--cert-dir")
	if len(c.Env) == 0 || c.Env[0].Name != "POD_NAMESPACE" || c.Env[0].ValueFrom == nil || c.Env[0].ValueFrom.FieldRef.FieldPath != "metadata.namespace" {
		t.Errorf("injector env = %+v, want POD_NAMESPACE from metadata.namespace first", c.Env)
	}
	if p := c.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/readyz" || p.HTTPGet.Port.String() != "admin" {
		t.Errorf("injector readinessProbe = %+v", p)
	}
	if p := c.LivenessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" {
		t.Errorf("injector livenessProbe = %+v", p)
	}
	if !mountsConfigMap(ps, c, "/etc/hopscope", sidecarTemplateName) {
		t.Errorf("the injector does not mount ConfigMap %s at /etc/hopscope", sidecarTemplateName)
	}
	if inj.Spec.Template.Annotations["checksum/sidecar-template"] == "" {
		t.Error("the injector's pod template has no checksum/sidecar-template annotation")
	}
	svc := typed[*corev1.Service](t, objs, "Service", injectorName)
	if p := svc.Spec.Ports[0]; p.Port != 443 || p.TargetPort.String() != "https" || !hasContainerPort(c, "https", 8443) {
		t.Errorf("injector Service port %+v: want 443 → https (8443)", p)
	}

	col := typed[*appsv1.Deployment](t, objs, "Deployment", collectorName)
	if col.Spec.Replicas == nil || *col.Spec.Replicas != 1 {
		t.Errorf("collector replicas = %v, want 1", col.Spec.Replicas)
	}
	if a := col.Spec.Template.Spec.AutomountServiceAccountToken; a == nil || *a {
		t.Error("the collector must not mount a service account token")
	}
	cc := container(t, col, "collector")
	wantArgs(t, "collector", cc.Args, "collector", "--rum-listen=", "--state-dir=/var/lib/hopscope", "--max-traces=100000", "--window=10m", "--export-delay=5s",
		"--export-compression=none")
	noArgPrefix(t, "collector", cc.Args, "--export-otlp-endpoint", "--rum-allowed-origins", "--tail", "--alb-logs", "--export-ca-file", "--export-headers")
	for _, e := range cc.Env {
		if e.Name == "HOPSCOPE_EXPORT_HEADERS" {
			t.Errorf("collector env has HOPSCOPE_EXPORT_HEADERS without collector.exportHeadersSecret: %+v", e)
		}
	}
	state := false
	for _, v := range col.Spec.Template.Spec.Volumes {
		state = state || (v.Name == "state" && v.EmptyDir != nil)
	}
	if !state {
		t.Error("the collector's --state-dir is not an emptyDir")
	}
	csvc := typed[*corev1.Service](t, objs, "Service", collectorName)
	var ports []string
	for _, p := range csvc.Spec.Ports {
		ports = append(ports, fmt.Sprintf("%s:%d", p.Name, p.Port))
	}
	if want := []string{"otlp-grpc:4317", "otlp-http:4318", "forward:24224", "http:8088"}; !reflect.DeepEqual(ports, want) {
		t.Errorf("collector Service ports = %v, want %v", ports, want)
	}

	test := typed[*corev1.Pod](t, objs, "Pod", testPodName)
	if test.Annotations["helm.sh/hook"] != "test" || test.Spec.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("test pod: hook %q, restartPolicy %q", test.Annotations["helm.sh/hook"], test.Spec.RestartPolicy)
	}
	wantArgs(t, "selftest", test.Spec.Containers[0].Args, "selftest",
		"--collector=http://hopscope-collector.observability.svc:8088",
		"--otlp=http://hopscope-collector.observability.svc:4318",
		"--injector=https://hopscope-injector.observability.svc:443")

	// The NetworkPolicies are checked by TestNetworkPolicyLeastPrivilege.
	pdb := typed[*policyv1.PodDisruptionBudget](t, objs, "PodDisruptionBudget", injectorName)
	if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 || pdb.Spec.MinAvailable != nil {
		t.Errorf("injector PDB = %+v, want maxUnavailable 1", pdb.Spec)
	}
}

func hasContainerPort(c corev1.Container, name string, port int32) bool {
	for _, p := range c.Ports {
		if p.Name == name && p.ContainerPort == port {
			return true
		}
	}
	return false
}

func mountsConfigMap(spec corev1.PodSpec, c corev1.Container, path, configMap string) bool {
	for _, m := range c.VolumeMounts {
		if m.MountPath != path {
			continue
		}
		for _, v := range spec.Volumes {
			if v.Name == m.Name && v.ConfigMap != nil && v.ConfigMap.Name == configMap {
				return true
			}
		}
	}
	return false
}

func ptr[T any](v T) *T { return &v }

// checkWebhooks checks the two webhooks of the configuration against the
// chart's contract; client gives the clientConfig expected for a path.
func checkWebhooks(t *testing.T, w *admissionregistrationv1.MutatingWebhookConfiguration, client func(path string) admissionregistrationv1.WebhookClientConfig) {
	t.Helper()
	if len(w.Webhooks) != 2 {
		t.Fatalf("%d webhooks, want 2", len(w.Webhooks))
	}
	excluded := []string{releaseNamespace, "kube-system", "kube-node-lease", "kube-public"}
	for i, want := range []struct {
		name, path string
		op         metav1.LabelSelectorOperator
	}{
		{"pod.inject.hopscope.io", injector.PathPod, "NotIn"},
		{"namespace.inject.hopscope.io", injector.PathNamespace, "In"},
	} {
		h := w.Webhooks[i]
		if h.Name != want.name {
			t.Errorf("webhook %d is %q, want %q", i, h.Name, want.name)
		}
		if cc := client(want.path); !reflect.DeepEqual(h.ClientConfig, cc) {
			t.Errorf("%s: clientConfig = %+v, want %+v", h.Name, describe(h.ClientConfig), describe(cc))
		}
		sel := h.NamespaceSelector
		if sel == nil || len(sel.MatchLabels) != 0 || len(sel.MatchExpressions) != 2 {
			t.Fatalf("%s: namespaceSelector = %+v", h.Name, sel)
		}
		if e := sel.MatchExpressions[0]; e.Key != "hopscope.io/inject" || e.Operator != want.op || !reflect.DeepEqual(e.Values, []string{"enabled"}) {
			t.Errorf("%s: namespaceSelector[0] = %+v", h.Name, e)
		}
		if e := sel.MatchExpressions[1]; e.Key != "kubernetes.io/metadata.name" || e.Operator != "NotIn" || !reflect.DeepEqual(e.Values, excluded) {
			t.Errorf("%s: namespaceSelector[1] = %+v, want NotIn %v", h.Name, e, excluded)
		}
		wantRules := []admissionregistrationv1.RuleWithOperations{{
			Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
			Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"},
				Scope: ptr(admissionregistrationv1.NamespacedScope)},
		}}
		if !reflect.DeepEqual(h.Rules, wantRules) {
			t.Errorf("%s: rules = %+v", h.Name, h.Rules)
		}
		if h.FailurePolicy == nil || *h.FailurePolicy != admissionregistrationv1.Ignore {
			t.Errorf("%s: failurePolicy = %v, want Ignore", h.Name, h.FailurePolicy)
		}
		if h.SideEffects == nil || *h.SideEffects != admissionregistrationv1.SideEffectClassNone {
			t.Errorf("%s: sideEffects = %v", h.Name, h.SideEffects)
		}
		if h.MatchPolicy == nil || *h.MatchPolicy != admissionregistrationv1.Equivalent {
			t.Errorf("%s: matchPolicy = %v", h.Name, h.MatchPolicy)
		}
		if h.ReinvocationPolicy == nil || *h.ReinvocationPolicy != admissionregistrationv1.NeverReinvocationPolicy {
			t.Errorf("%s: reinvocationPolicy = %v", h.Name, h.ReinvocationPolicy)
		}
		if !reflect.DeepEqual(h.AdmissionReviewVersions, []string{"v1"}) || h.TimeoutSeconds == nil {
			t.Errorf("%s: admissionReviewVersions %v, timeoutSeconds %v", h.Name, h.AdmissionReviewVersions, h.TimeoutSeconds)
		}
	}
}

func describe(c admissionregistrationv1.WebhookClientConfig) string {
	b, _ := json.Marshal(c)
	return string(b)
}

func checkCertManager(t *testing.T, objs []object) {
	cert := find(t, objs, "Certificate", injectorName).Un
	secret, _, _ := unstructuredString(cert.Object, "spec", "secretName")
	issuer, _, _ := unstructuredString(cert.Object, "spec", "issuerRef", "name")
	if !has(objs, "Issuer", issuer) {
		t.Errorf("the Certificate's issuer %q is not rendered", issuer)
	}
	dns, _, _ := unstructuredStrings(cert.Object, "spec", "dnsNames")
	if !slices.Contains(dns, "hopscope-injector.observability.svc") {
		t.Errorf("Certificate dnsNames = %v", dns)
	}
	webhook := typed[*admissionregistrationv1.MutatingWebhookConfiguration](t, objs, "MutatingWebhookConfiguration", injectorName)
	if got, want := webhook.Annotations["cert-manager.io/inject-ca-from"], releaseNamespace+"/"+cert.GetName(); got != want {
		t.Errorf("cert-manager.io/inject-ca-from = %q, want %q", got, want)
	}
	inj := typed[*appsv1.Deployment](t, objs, "Deployment", injectorName)
	ps := inj.Spec.Template.Spec
	if ps.AutomountServiceAccountToken == nil || *ps.AutomountServiceAccountToken {
		t.Error("with cert-manager the injector needs no API access: automountServiceAccountToken must be false")
	}
	c := container(t, inj, "injector")
	wantArgs(t, "injector", c.Args, "--cert-dir=/etc/hopscope-tls")
	noArgPrefix(t, "injector", c.Args, "--cert-secret", "--webhook-config")
	found := false
	for _, m := range c.VolumeMounts {
		for _, v := range ps.Volumes {
			if v.Name == m.Name && m.MountPath == "/etc/hopscope-tls" && v.Secret != nil && v.Secret.SecretName == secret {
				found = true
			}
		}
	}
	if !found {
		t.Errorf("the injector does not mount the Certificate's Secret %q at /etc/hopscope-tls", secret)
	}
}

func unstructuredString(obj map[string]any, path ...string) (string, bool, error) {
	v, ok := nested(obj, path...)
	s, isStr := v.(string)
	return s, ok && isStr, nil
}

func unstructuredStrings(obj map[string]any, path ...string) ([]string, bool, error) {
	v, ok := nested(obj, path...)
	list, _ := v.([]any)
	var out []string
	for _, x := range list {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out, ok, nil
}

func nested(obj map[string]any, path ...string) (any, bool) {
	var cur any = obj
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		cur, ok = m[p]
		if !ok {
			return nil, false
		}
	}
	return cur, true
}

func checkMonitoring(t *testing.T, objs []object) {
	for _, n := range []struct{ kind, name string }{
		{"ServiceMonitor", collectorName}, {"ServiceMonitor", injectorName}, {"PodMonitor", "hopscope-sidecars"}, {"PrometheusRule", "hopscope"},
	} {
		u := find(t, objs, n.kind, n.name).Un
		if u.GetLabels()["release"] != "kube-prometheus-stack" {
			t.Errorf("%s/%s: labels %v lack release=kube-prometheus-stack", n.kind, n.name, u.GetLabels())
		}
	}
	sm := find(t, objs, "ServiceMonitor", collectorName).Un
	if port, _, _ := unstructuredString(sm.Object["spec"].(map[string]any)["endpoints"].([]any)[0].(map[string]any), "port"); port != "http" {
		t.Errorf("collector ServiceMonitor port = %q, want http (8088)", port)
	}
	ism := find(t, objs, "ServiceMonitor", injectorName).Un
	if port, _, _ := unstructuredString(ism.Object["spec"].(map[string]any)["endpoints"].([]any)[0].(map[string]any), "port"); port != "admin" {
		t.Errorf("injector ServiceMonitor port = %q, want admin (9090)", port)
	}
	pm := find(t, objs, "PodMonitor", "hopscope-sidecars").Un
	sel, _ := nested(pm.Object, "spec", "selector", "matchLabels")
	if !reflect.DeepEqual(sel, map[string]any{injector.LabelSidecar: "injected"}) {
		t.Errorf("PodMonitor selector = %v", sel)
	}
	if any, _ := nested(pm.Object, "spec", "namespaceSelector", "any"); any != true {
		t.Errorf("PodMonitor namespaceSelector.any = %v, want true", any)
	}
	if port, _ := nested(pm.Object, "spec", "podMetricsEndpoints"); port.([]any)[0].(map[string]any)["port"] != "hopscope-admin" {
		t.Errorf("PodMonitor port = %v, want hopscope-admin", port)
	}
}

func checkNoInjector(t *testing.T, objs []object) {
	col := typed[*appsv1.Deployment](t, objs, "Deployment", collectorName)
	wantArgs(t, "collector", container(t, col, "collector").Args,
		`--export-otlp-endpoint=http://jaeger-collector.observability.svc:4318`, "--jaeger-ui-url=https://jaeger.example.com",
		"--export-compression=gzip", "--export-ca-file=/etc/hopscope/export-ca/ca.crt")
	checkExportSecrets(t, col)
	test := typed[*corev1.Pod](t, objs, "Pod", testPodName)
	noArgPrefix(t, "selftest", test.Spec.Containers[0].Args, "--injector")
}

func checkExternalWebhook(t *testing.T, objs []object) {
	webhook := typed[*admissionregistrationv1.MutatingWebhookConfiguration](t, objs, "MutatingWebhookConfiguration", injectorName)
	checkWebhooks(t, webhook, func(path string) admissionregistrationv1.WebhookClientConfig {
		return admissionregistrationv1.WebhookClientConfig{URL: ptr("https://192.168.49.1:8443" + path)}
	})
	for _, o := range objs {
		if o.Name == injectorName && o.Kind != "MutatingWebhookConfiguration" {
			t.Errorf("%s is rendered for an injector outside the cluster", o)
		}
	}
	test := typed[*corev1.Pod](t, objs, "Pod", testPodName)
	noArgPrefix(t, "selftest", test.Spec.Containers[0].Args, "--injector")
	tmpl, ok := sidecarTemplate(t, objs)
	if !ok {
		t.Fatal("no sidecar template for the external injector")
	}
	if tmpl.Native {
		t.Error("sidecar.nativeSidecar false renders native: true")
	}
	env := map[string]string{}
	for _, e := range tmpl.Container.Env {
		env[e.Name] = e.Value
	}
	for k, v := range map[string]string{
		"HOPSCOPE_FLUENT_ADDRESS": "fluent-bit.logging.svc:24224", "HOPSCOPE_PROPAGATORS": "tracecontext,baggage,b3multi",
		"HOPSCOPE_TIMING_ALLOW_ORIGIN": "https://shop.example.com", "HOPSCOPE_ACCESS_LOG": "off", "HOPSCOPE_ROUTES": "/orders/{id},/users/{id}",
		"HOPSCOPE_REQUEST_BODY_TIMEOUT": "2m",
	} {
		if env[k] != v {
			t.Errorf("sidecar env %s = %q, want %q", k, env[k], v)
		}
	}
}

func checkRUMIngress(t *testing.T, objs []object) {
	ing := typed[*networkingv1.Ingress](t, objs, "Ingress", rumName)
	if ing.Spec.IngressClassName == nil || *ing.Spec.IngressClassName != "nginx" || len(ing.Spec.TLS) != 1 {
		t.Errorf("Ingress spec = %+v", ing.Spec)
	}
	b := ing.Spec.Rules[0].HTTP.Paths[0].Backend.Service
	if ing.Spec.Rules[0].Host != "rum.shop.example.com" || b.Name != rumName || b.Port.Name != "rum" {
		t.Errorf("Ingress rule = %+v → %+v, want rum.shop.example.com → %s:rum", ing.Spec.Rules[0], b, rumName)
	}
	svc := typed[*corev1.Service](t, objs, "Service", rumName)
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 8089 || svc.Spec.Ports[0].TargetPort.StrVal != "rum" {
		t.Errorf("RUM Service ports = %+v", svc.Spec.Ports)
	}
	col := typed[*appsv1.Deployment](t, objs, "Deployment", collectorName)
	c := container(t, col, "collector")
	wantArgs(t, "collector", c.Args, "--rum-listen=:8089", "--rum-allowed-origins=https://shop.example.com", "--rum-trust-forwarded-for=true")
	if !hasContainerPort(c, "rum", 8089) {
		t.Error("the collector has no rum port 8089")
	}
	pdb := typed[*policyv1.PodDisruptionBudget](t, objs, "PodDisruptionBudget", collectorName)
	if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() != 1 || pdb.Spec.MaxUnavailable != nil {
		t.Errorf("collector PDB = %+v, want minAvailable 1 only", pdb.Spec)
	}
}

// sidecarTemplate returns the parsed sidecar.yaml of the rendered
// ConfigMap, if any.
func sidecarTemplate(t *testing.T, objs []object) (injector.Template, bool) {
	t.Helper()
	data, ok := sidecarTemplateData(t, objs)
	if !ok {
		return injector.Template{}, false
	}
	tmpl, err := injector.ParseTemplate([]byte(data))
	if err != nil {
		t.Fatalf("injector.ParseTemplate: %v\n%s", err, data)
	}
	return tmpl, true
}

func sidecarTemplateData(t *testing.T, objs []object) (string, bool) {
	t.Helper()
	if !has(objs, "ConfigMap", sidecarTemplateName) {
		return "", false
	}
	cm := typed[*corev1.ConfigMap](t, objs, "ConfigMap", sidecarTemplateName)
	data, ok := cm.Data["sidecar.yaml"]
	if !ok || len(cm.Data) != 1 {
		t.Fatalf("ConfigMap %s: data keys %v, want sidecar.yaml only", sidecarTemplateName, mapsKeys(cm.Data))
	}
	return data, true
}

func mapsKeys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// checkSidecarTemplate checks what the injector will add to users' pods:
// the restricted security context, resources, ports, probes and env.
func checkSidecarTemplate(t *testing.T, tmpl injector.Template) {
	t.Helper()
	c := tmpl.Container
	for _, p := range checkContainerRestricted(c, false, false) {
		t.Errorf("sidecar template: %s: %s", p.control, p.msg)
	}
	for _, p := range containerResourceProblems("sidecar template", c) {
		t.Error(p)
	}
	sc := c.SecurityContext
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.RunAsUser == nil || *sc.RunAsUser != 65532 {
		t.Errorf("sidecar securityContext = %+v, want readOnlyRootFilesystem and runAsUser 65532", sc)
	}
	if c.Name != injector.ContainerName || !reflect.DeepEqual(c.Command, []string{"/hopscope-sidecar"}) || len(c.Args) != 0 {
		t.Errorf("sidecar name %q command %q args %q, want the slim /hopscope-sidecar without a subcommand", c.Name, c.Command, c.Args)
	}
	if tmpl.ProxyPort != 15080 || tmpl.AdminPort != 15090 {
		t.Errorf("proxyPort %d adminPort %d, want 15080 15090", tmpl.ProxyPort, tmpl.AdminPort)
	}
	if !reflect.DeepEqual(c.Ports, []corev1.ContainerPort{{Name: "hopscope-admin", ContainerPort: 15090}}) {
		t.Errorf("sidecar ports = %+v", c.Ports)
	}
	if p := c.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/readyz" || p.HTTPGet.Port.IntValue() != 15090 {
		t.Errorf("sidecar readinessProbe = %+v", p)
	}
	if p := c.StartupProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" || p.HTTPGet.Port.IntValue() != 15090 {
		t.Errorf("sidecar startupProbe = %+v", p)
	}
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	if env["HOPSCOPE_LISTEN"].Value != ":15080" || env["HOPSCOPE_ADMIN_LISTEN"].Value != ":15090" {
		t.Errorf("sidecar listen env = %+v %+v", env["HOPSCOPE_LISTEN"], env["HOPSCOPE_ADMIN_LISTEN"])
	}
	if v := env["HOPSCOPE_POD_APP_LABEL"].ValueFrom; v == nil || v.FieldRef == nil || v.FieldRef.FieldPath != "metadata.labels['app.kubernetes.io/name']" {
		t.Errorf("HOPSCOPE_POD_APP_LABEL = %+v", env["HOPSCOPE_POD_APP_LABEL"])
	}
	// k8s.pod.name, k8s.namespace.name and k8s.node.name reach the
	// sidecar's spans through the downward API.
	for name, path := range map[string]string{"HOPSCOPE_POD_NAME": "metadata.name", "HOPSCOPE_POD_NAMESPACE": "metadata.namespace", "HOPSCOPE_NODE_NAME": "spec.nodeName"} {
		if v := env[name].ValueFrom; v == nil || v.FieldRef == nil || v.FieldRef.FieldPath != path {
			t.Errorf("%s = %+v, want the downward API's %s", name, env[name], path)
		}
	}
	if got, want := env["OTEL_RESOURCE_ATTRIBUTES"].Value, "k8s.pod.name=$(HOPSCOPE_POD_NAME),k8s.namespace.name=$(HOPSCOPE_POD_NAMESPACE),k8s.node.name=$(HOPSCOPE_NODE_NAME)"; got != want {
		t.Errorf("OTEL_RESOURCE_ATTRIBUTES = %q, want %q", got, want)
	}
	for _, k := range []string{"HOPSCOPE_UPSTREAM", "HOPSCOPE_SERVICE"} {
		if _, ok := env[k]; ok {
			t.Errorf("the template sets %s, which the injector sets per pod", k)
		}
	}
}

// goldenSidecarTemplate is the template for the default values, which the
// injector's own tests read.
var goldenSidecarTemplate = filepath.Join(root, "injector", "testdata", "sidecar-template.yaml")

func TestSidecarTemplateGolden(t *testing.T) {
	objs := decodeAll(t, renderCI(t, "default"))
	data, ok := sidecarTemplateData(t, objs)
	if !ok {
		t.Fatal("no sidecar template for the default values")
	}
	tmpl, _ := sidecarTemplate(t, objs)
	if !tmpl.Native || tmpl.PortName != "http" {
		t.Errorf("default template: native %v portName %q, want true (Kubernetes %s) and http", tmpl.Native, tmpl.PortName, defaultKubeVersion)
	}
	if got := envValue(tmpl.Container, "HOPSCOPE_OTLP_ENDPOINT"); got != "http://hopscope-collector.observability.svc:4318" {
		t.Errorf("HOPSCOPE_OTLP_ENDPOINT = %q", got)
	}
	if tmpl.Container.Image != "ghcr.io/hopscope/hopscope:"+chartAppVersion(t) {
		t.Errorf("sidecar image %q, want the chart's appVersion tag", tmpl.Container.Image)
	}
	if testkit.Update() {
		if err := os.MkdirAll(filepath.Dir(goldenSidecarTemplate), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(goldenSidecarTemplate, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(goldenSidecarTemplate)
	if err != nil {
		t.Fatalf("%v; run go test ./charts -update", err)
	}
	if string(want) != data {
		t.Errorf("the rendered sidecar template differs from injector/testdata/sidecar-template.yaml; run go test ./charts -update\n--- rendered\n%s", data)
	}
}

func envValue(c corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

func chartAppVersion(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(chartDir, "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		AppVersion string `yaml:"appVersion"`
	}
	if err := yaml.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	return c.AppVersion
}

// TestNativeSidecarFollowsKubeVersion: auto means native from 1.29 on;
// true and false are kept; matchConditions appear from 1.30 on.
func TestNativeSidecarFollowsKubeVersion(t *testing.T) {
	for _, tc := range []struct {
		kube, value     string
		native, matches bool
	}{
		{"1.28.0", "auto", false, false},
		{"1.29.0", "auto", true, false},
		{"1.30.0", "auto", true, true},
		{"1.28.0", "true", true, false},
		{"1.30.0", "false", false, true},
	} {
		t.Run(tc.kube+"_"+tc.value, func(t *testing.T) {
			t.Parallel()
			out := mustTemplate(t, "--kube-version", tc.kube, "--set", "sidecar.nativeSidecar="+tc.value,
				"--show-only", "templates/sidecar-template.yaml", "--show-only", "templates/injector-webhook.yaml")
			objs := decodeAll(t, out)
			tmpl, ok := sidecarTemplate(t, objs)
			if !ok {
				t.Fatal("no sidecar template")
			}
			if tmpl.Native != tc.native {
				t.Errorf("native = %v, want %v", tmpl.Native, tc.native)
			}
			w := typed[*admissionregistrationv1.MutatingWebhookConfiguration](t, objs, "MutatingWebhookConfiguration", injectorName)
			if got := len(w.Webhooks[0].MatchConditions) > 0; got != tc.matches {
				t.Errorf("pod webhook has matchConditions: %v, want %v", got, tc.matches)
			}
		})
	}
}

// TestSidecarEgress: sidecar.egress puts the forward proxy into the
// template the injector reads (off by default).
func TestSidecarEgress(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want *injector.Egress
	}{
		{nil, nil},
		{[]string{"--set", "sidecar.egress.enabled=true"}, &injector.Egress{Listen: "127.0.0.1:15081", NoProxy: "localhost,127.0.0.1,.svc,.cluster.local"}},
		{[]string{"--set", "sidecar.egress.enabled=true", "--set", "sidecar.egress.port=18080", "--set", "sidecar.egress.noProxy=.internal"}, &injector.Egress{Listen: "127.0.0.1:18080", NoProxy: ".internal"}},
	} {
		out := mustTemplate(t, append(tc.args, "--show-only", "templates/sidecar-template.yaml")...)
		tmpl, ok := sidecarTemplate(t, decodeAll(t, out))
		if !ok {
			t.Fatal("no sidecar template")
		}
		if (tmpl.Egress == nil) != (tc.want == nil) || (tc.want != nil && *tmpl.Egress != *tc.want) {
			t.Errorf("%v: egress %+v, want %+v", tc.args, tmpl.Egress, tc.want)
		}
	}
}

// TestSidecarSampling: sidecar.tracesSampler and tracesSamplerArg reach
// the injected sidecar as OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG
// (a number or a string alike); unset, neither is in the template and the
// sidecar keeps its default.
func TestSidecarSampling(t *testing.T) {
	for _, tc := range []struct {
		args         []string
		sampler, arg string // "" = not set
	}{
		{nil, "", ""},
		{[]string{"--set", "sidecar.tracesSampler=parentbased_traceidratio", "--set", "sidecar.tracesSamplerArg=0.25"}, "parentbased_traceidratio", "0.25"},
		{[]string{"--set", "sidecar.tracesSampler=traceidratio", "--set-string", "sidecar.tracesSamplerArg=0.1"}, "traceidratio", "0.1"},
		{[]string{"--set", "sidecar.tracesSampler=always_off"}, "always_off", ""},
		{[]string{"--set", "sidecar.tracesSampler=traceidratio", "--set", "sidecar.tracesSamplerArg=0"}, "traceidratio", "0"},
	} {
		out := mustTemplate(t, append(tc.args, "--show-only", "templates/sidecar-template.yaml")...)
		tmpl, ok := sidecarTemplate(t, decodeAll(t, out))
		if !ok {
			t.Fatal("no sidecar template")
		}
		env := map[string]string{}
		for _, e := range tmpl.Container.Env {
			env[e.Name] = e.Value
		}
		for name, want := range map[string]string{"OTEL_TRACES_SAMPLER": tc.sampler, "OTEL_TRACES_SAMPLER_ARG": tc.arg} {
			got, set := env[name]
			if set != (want != "") || got != want {
				t.Errorf("%v: %s = %q (set %v), want %q", tc.args, name, got, set, want)
			}
		}
	}
}

// TestSchemaRejects: values.schema.json refuses misspelt keys and values
// outside their enums and ranges, naming them; the templates refuse what
// the schema cannot express.
func TestSchemaRejects(t *testing.T) {
	for _, tc := range []struct {
		name, values string
		want         []string
	}{
		{"unknown top-level key", "collecter:\n  enabled: true\n", []string{"collecter"}},
		{"unknown nested key", "sidecar:\n  resorces:\n    requests:\n      cpu: 10m\n", []string{"/sidecar", "resorces"}},
		{"unknown deep key", "collector:\n  rum:\n    ingress:\n      clasName: nginx\n", []string{"/collector/rum/ingress", "clasName"}},
		{"failurePolicy enum", "injector:\n  failurePolicy: Sometimes\n", []string{"/injector/failurePolicy"}},
		{"nativeSidecar enum", "sidecar:\n  nativeSidecar: maybe\n", []string{"/sidecar/nativeSidecar"}},
		{"accessLog enum", "sidecar:\n  accessLog: verbose\n", []string{"/sidecar/accessLog"}},
		{"requestBodyTimeout not a duration", "sidecar:\n  requestBodyTimeout: soon\n", []string{"/sidecar/requestBodyTimeout"}},
		{"requestBodyTimeout a bare number", "sidecar:\n  requestBodyTimeout: 60\n", []string{"/sidecar/requestBodyTimeout"}},
		{"tracesSampler enum", "sidecar:\n  tracesSampler: sometimes\n", []string{"/sidecar/tracesSampler"}},
		{"tracesSamplerArg above 1", "sidecar:\n  tracesSamplerArg: 2\n", []string{"/sidecar/tracesSamplerArg"}},
		{"tracesSamplerArg not a number", "sidecar:\n  tracesSamplerArg: quarter\n", []string{"/sidecar/tracesSamplerArg"}},
		{"threshold not a bucket", "slo:\n  latencyThresholdSeconds: 0.3\n", []string{"/slo/latencyThresholdSeconds"}},
		{"objective 1", "slo:\n  availabilityObjective: 1\n", []string{"/slo/availabilityObjective"}},
		{"objective 0", "slo:\n  latencyObjective: 0\n", []string{"/slo/latencyObjective"}},
		{"memory limit removed", "sidecar:\n  resources:\n    limits:\n      memory: null\n", []string{"/sidecar/resources/limits", "memory"}},
		{"timeout out of range", "injector:\n  timeoutSeconds: 31\n", []string{"/injector/timeoutSeconds"}},
		{"port name too long", "sidecar:\n  portName: a-very-long-port-name\n", []string{"/sidecar/portName"}},
		{"digest not a digest", "image:\n  digest: latest\n", []string{"/image/digest"}},
		{"sidecar digest without algorithm", "sidecar:\n  image:\n    digest: 0123456789abcdef0123456789abcdef\n", []string{"/sidecar/image/digest"}},
		{"relabeling in Prometheus's spelling", "serviceMonitor:\n  relabelings:\n    - source_labels: [pod]\n", []string{"/serviceMonitor/relabelings/0", "source_labels"}},
		{"relabeling action", "podMonitor:\n  metricRelabelings:\n    - action: delete\n", []string{"/podMonitor/metricRelabelings/0/action"}},
		{"scrapeTimeout not a Prometheus duration", "serviceMonitor:\n  scrapeTimeout: 1.5s\n", []string{"/serviceMonitor/scrapeTimeout"}},
		{"selector In without values", "injector:\n  namespaceSelector:\n    matchExpressions:\n      - key: team\n        operator: In\n", []string{"/injector/namespaceSelector/matchExpressions/0"}},
		{"selector Exists with values", "injector:\n  objectSelector:\n    matchExpressions:\n      - key: team\n        operator: Exists\n        values: [a]\n", []string{"/injector/objectSelector/matchExpressions/0"}},
		{"objectSelector unknown key", "injector:\n  objectSelector:\n    matchLabel:\n      a: b\n", []string{"/injector/objectSelector", "matchLabel"}},
		{"registry with a scheme", "global:\n  imageRegistry: https://mirror.example.com\n", []string{"/global/imageRegistry"}},
		{"disabled alert misspelt", "prometheusRule:\n  disabled:\n    HopscopeErrorBudgetBurns: true\n", []string{"/prometheusRule/disabled", "HopscopeErrorBudgetBurns"}},
		{"additionalAlertLabels not strings", "prometheusRule:\n  additionalAlertLabels:\n    HopscopeCollectorEvicting:\n      team: [a]\n", []string{"/prometheusRule/additionalAlertLabels/HopscopeCollectorEvicting/team"}},
		{"runbookBaseURL with a fragment", "prometheusRule:\n  runbookBaseURL: https://wiki.example.com/hopscope#alerts\n", []string{"/prometheusRule/runbookBaseURL"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "values.yaml")
			if err := os.WriteFile(path, []byte(tc.values), 0o644); err != nil {
				t.Fatal(err)
			}
			out, stderr, err := runHelm(t, "lint", "--strict", "--kube-version", defaultKubeVersion, chartDir, "-f", path)
			if err == nil {
				t.Fatalf("helm lint accepted\n%s", tc.values)
			}
			for _, w := range tc.want {
				if !strings.Contains(out+stderr, w) {
					t.Errorf("helm lint's output does not name %q:\n%s%s", w, out, stderr)
				}
			}
		})
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"rum without origins", []string{"--set", "collector.rum.enabled=true"}, "collector.rum.allowedOrigins"},
		{"ingress without rum", []string{"--set", "collector.rum.ingress.enabled=true"}, "collector.rum.ingress.enabled"},
		{"cert-manager with url", []string{"--set", "injector.certManager.enabled=true", "--set", "injector.webhook.url=https://10.0.0.1:8443"}, "injector.certManager.enabled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := template(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("helm template %v: error %v, want one naming %s", tc.args, err, tc.want)
			}
		})
	}
}

// generatedDashboards are the files `go generate ./dashboards` writes
// for import by hand (the export flavour).
func generatedDashboards() []string {
	paths, _ := filepath.Glob(filepath.Join(root, "dashboards", "generated", "*.json"))
	return paths
}

// TestDashboards: the chart ships one ConfigMap per dashboard of
// dashboards/generated, holding its provisioned flavour (data source
// variables, which the Grafana sidecar's file provisioning resolves;
// it does not resolve the export flavour's __inputs).
func TestDashboards(t *testing.T) {
	gen := generatedDashboards()
	if len(gen) == 0 {
		t.Fatal("no dashboards/generated/*.json")
	}
	built, err := dashboards.All()
	if err != nil {
		t.Fatal(err)
	}
	provisioned := map[string][]byte{}
	for _, d := range built {
		provisioned[d.File] = d.JSON
	}
	shipped, _ := filepath.Glob(filepath.Join(chartDir, "dashboards", "*.json"))
	if len(shipped) != len(gen) || len(gen) != len(built) {
		t.Errorf("the chart ships %d dashboards, dashboards/generated has %d, the code builds %d; run go generate ./dashboards", len(shipped), len(gen), len(built))
	}
	objs := decodeAll(t, renderCI(t, "monitoring"))
	for _, path := range gen {
		file := filepath.Base(path)
		want, ok := provisioned[file]
		if !ok {
			t.Errorf("dashboards/generated/%s: no dashboard of the code; run go generate ./dashboards", file)
			continue
		}
		if chartCopy, err := os.ReadFile(filepath.Join(chartDir, "dashboards", file)); err != nil || !bytes.Equal(chartCopy, want) {
			t.Errorf("charts/hopscope/dashboards/%s is not the provisioned flavour of the code (%v); run go generate ./dashboards", file, err)
		}
		if bytes.Contains(want, []byte("__inputs")) || !bytes.Contains(want, []byte(`"${datasource}"`)) {
			t.Errorf("%s: the chart's copy must pick its data source by the datasource variable, not by __inputs", file)
		}
		name := "hopscope-dashboard-" + strings.TrimPrefix(strings.TrimSuffix(file, ".json"), "hopscope-")
		cm := typed[*corev1.ConfigMap](t, objs, "ConfigMap", name)
		if cm.Namespace != "grafana" {
			t.Errorf("%s: namespace %q, want grafana (dashboards.namespace)", name, cm.Namespace)
		}
		if cm.Labels["hopscope_dashboard"] != "yes" {
			t.Errorf("%s: labels %v lack hopscope_dashboard=yes", name, cm.Labels)
		}
		if cm.Annotations["grafana.example.com/folder"] != "Latency" {
			t.Errorf("%s: annotations %v lack the folder", name, cm.Annotations)
		}
		if cm.Data[file] != string(want) {
			t.Errorf("%s: data[%s] differs from charts/hopscope/dashboards/%s", name, file, file)
		}
		if !json.Valid([]byte(cm.Data[file])) {
			t.Errorf("%s: data[%s] is not JSON", name, file)
		}
	}
	// Off by default.
	for _, o := range decodeAll(t, renderCI(t, "default")) {
		if strings.Contains(o.Name, "-dashboard-") {
			t.Errorf("%s rendered with dashboards.enabled false", o)
		}
	}
}

// TestPrometheusAdapterRules: the rules documented in values.yaml are
// rules.AdapterRules().
func TestPrometheusAdapterRules(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var values map[string]yaml.Node
	if err := yaml.Unmarshal(data, &values); err != nil {
		t.Fatal(err)
	}
	node, ok := values["prometheusAdapter"]
	if !ok {
		t.Fatal("values.yaml has no prometheusAdapter")
	}
	var got struct {
		Rules []rules.AdapterRule `yaml:"rules"`
	}
	b, _ := yaml.Marshal(&node)
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Rules, rules.AdapterRules()) {
		t.Errorf("prometheusAdapter.rules in values.yaml differ from rules.AdapterRules():\n%+v\nwant\n%+v", got.Rules, rules.AdapterRules())
	}
}

// TestPrometheusRuleIsRulesGroups renders the PrometheusRule for several
// SLOs — the defaults, ci/monitoring-values.yaml (a whole-number threshold)
// and --set values (strings to Helm) — and compares its spec.groups with
// rules.Groups for the same SLO.
func TestPrometheusRuleIsRulesGroups(t *testing.T) {
	show := append([]string{"--show-only", "templates/prometheusrule.yaml"}, withMonitoringAPI...)
	for _, tc := range []struct {
		name    string
		args    []string
		slo     rules.SLO
		labels  map[string]string
		runbook string // prometheusRule.runbookBaseURL; empty: the default
	}{
		{"default", append([]string{"--set", "prometheusRule.enabled=true"}, show...), rules.DefaultSLO(), nil, ""},
		{"runbook-base", append([]string{"--set", "prometheusRule.enabled=true",
			"--set", "prometheusRule.runbookBaseURL=https://wiki.example.com/display/OPS/hopscope+runbooks?v=1&lang=en"}, show...),
			rules.DefaultSLO(), nil, "https://wiki.example.com/display/OPS/hopscope+runbooks?v=1&lang=en"},
		{"monitoring", append([]string{"-f", ciFiles(t)["monitoring"]}, show...),
			rules.SLO{LatencyThresholdSeconds: 1, LatencyObjective: 0.95, AvailabilityObjective: 0.9995},
			map[string]string{"release": "kube-prometheus-stack", "role": "alert-rules"}, ""},
		{"set-strings", append([]string{"--set", "prometheusRule.enabled=true", "--set", "slo.latencyThresholdSeconds=0.025",
			"--set", "slo.latencyObjective=0.9", "--set", "slo.availabilityObjective=0.99995"}, show...),
			rules.SLO{LatencyThresholdSeconds: 0.025, LatencyObjective: 0.9, AvailabilityObjective: 0.99995}, nil, ""},
		{"set-extremes", append([]string{"--set", "prometheusRule.enabled=true", "--set", "slo.latencyThresholdSeconds=30",
			"--set-json", `slo.latencyObjective=0.999`, "--set-json", `slo.availabilityObjective=0.5`}, show...),
			rules.SLO{LatencyThresholdSeconds: 30, LatencyObjective: 0.999, AvailabilityObjective: 0.5}, nil, ""},
		{"smallest-bucket", append([]string{"--set", "prometheusRule.enabled=true", "--set-json", "slo.latencyThresholdSeconds=0.0005"}, show...),
			rules.SLO{LatencyThresholdSeconds: 0.0005, LatencyObjective: 0.99, AvailabilityObjective: 0.999}, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out := mustTemplate(t, tc.args...)
			objs := decodeAll(t, out)
			if len(objs) != 1 || objs[0].Kind != "PrometheusRule" {
				t.Fatalf("rendered %s, want one PrometheusRule", names(objs))
			}
			var pr struct {
				APIVersion string         `yaml:"apiVersion"`
				Kind       string         `yaml:"kind"`
				Metadata   map[string]any `yaml:"metadata"`
				Spec       struct {
					Groups []rules.Group `yaml:"groups"`
				} `yaml:"spec"`
			}
			dec := yaml.NewDecoder(bytes.NewReader(objs[0].Raw))
			dec.KnownFields(true)
			if err := dec.Decode(&pr); err != nil {
				t.Fatal(err)
			}
			want, err := rules.Groups(tc.slo)
			if err != nil {
				t.Fatal(err)
			}
			if tc.runbook != "" {
				// Every alert, and only the alerts, link into the
				// page at the value's base.
				for _, g := range want {
					for _, r := range g.Rules {
						if r.Alert != "" {
							r.Annotations["runbook_url"] = rules.RunbookURL(tc.runbook, r.Alert)
						}
					}
				}
			}
			if !reflect.DeepEqual(pr.Spec.Groups, want) {
				t.Errorf("spec.groups differ from rules.Groups(%+v)\n%s", tc.slo, firstDiff(pr.Spec.Groups, want))
			}
			labels := objs[0].Un.GetLabels()
			for k, v := range tc.labels {
				if labels[k] != v {
					t.Errorf("label %s = %q, want %q", k, labels[k], v)
				}
			}
			if objs[0].Namespace != releaseNamespace || objs[0].Name != "hopscope" {
				t.Errorf("PrometheusRule %s/%s", objs[0].Namespace, objs[0].Name)
			}
		})
	}
	// Off by default.
	for _, o := range decodeAll(t, renderCI(t, "default")) {
		if o.Kind == "PrometheusRule" {
			t.Error("a PrometheusRule is rendered with prometheusRule.enabled false")
		}
	}
}

// firstDiff describes the first rule that differs.
func firstDiff(got, want []rules.Group) string {
	for i := range min(len(got), len(want)) {
		if got[i].Name != want[i].Name || len(got[i].Rules) != len(want[i].Rules) {
			return fmt.Sprintf("group %d: %s (%d rules), want %s (%d rules)", i, got[i].Name, len(got[i].Rules), want[i].Name, len(want[i].Rules))
		}
		for j := range got[i].Rules {
			if !reflect.DeepEqual(got[i].Rules[j], want[i].Rules[j]) {
				return fmt.Sprintf("group %s rule %d:\n%+v\nwant\n%+v", got[i].Name, j, got[i].Rules[j], want[i].Rules[j])
			}
		}
	}
	return fmt.Sprintf("%d groups, want %d", len(got), len(want))
}

// TestReadmeIsCurrent: README.md is what charts/cmd/readme writes from
// Chart.yaml and values.yaml (which also requires every value to be
// documented).
func TestReadmeIsCurrent(t *testing.T) {
	chart, err := os.ReadFile(filepath.Join(chartDir, "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	values, err := os.ReadFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := chartdoc.Generate(chart, values)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(chartDir, "README.md")
	if testkit.Update() {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v; run go generate ./charts", err)
	}
	if !bytes.Equal(got, want) {
		t.Error("charts/hopscope/README.md is stale; run go generate ./charts (or go test ./charts -update)")
	}
}

// TestLongNames renders every optional object with the longest full name
// and checks that names stay valid and distinct.
func TestLongNames(t *testing.T) {
	long := strings.Repeat("a", 60)
	out := mustTemplate(t, "-f", ciFiles(t)["monitoring"], "-f", ciFiles(t)["rum-ingress"],
		"--set", "fullnameOverride="+long, "--set", "injector.certManager.enabled=true", "--set", "collector.pdb.enabled=true")
	objs := decodeAll(t, out)
	seen := map[string]bool{}
	for _, o := range objs {
		if len(o.Name) > 63 {
			t.Errorf("%s: the name has %d characters, more than 63", o, len(o.Name))
		}
		if strings.HasSuffix(o.Name, "-") || strings.Contains(o.Name, "--") {
			t.Errorf("%s: the name ends with a dash", o)
		}
		if seen[o.String()] {
			t.Errorf("%s is rendered twice", o)
		}
		seen[o.String()] = true
	}
	if len(objs) < 25 {
		t.Errorf("only %d objects rendered: %s", len(objs), names(objs))
	}
}

// TestDashboardSelectors: dashboards.cadvisorSelector and
// dashboards.ksmSelector default to the selectors the dashboards are
// generated with (dashboards.DefaultOptions), and other values become the
// values the Scaling dashboard's cadvisor_job and ksm_job text boxes start
// with, the rest of the dashboards unchanged.
func TestDashboardSelectors(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var values struct {
		Dashboards struct {
			CAdvisorSelector string `yaml:"cadvisorSelector"`
			KSMSelector      string `yaml:"ksmSelector"`
		} `yaml:"dashboards"`
	}
	if err := yaml.Unmarshal(data, &values); err != nil {
		t.Fatal(err)
	}
	def := dashboards.DefaultOptions()
	if values.Dashboards.CAdvisorSelector != def.CAdvisorSelector || values.Dashboards.KSMSelector != def.KSMSelector {
		t.Errorf("values.yaml: dashboards.cadvisorSelector %q, ksmSelector %q; want the generator's defaults %q, %q",
			values.Dashboards.CAdvisorSelector, values.Dashboards.KSMSelector, def.CAdvisorSelector, def.KSMSelector)
	}
	built, err := dashboards.All()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		o    dashboards.Options
	}{
		{"custom", dashboards.Options{CAdvisorSelector: `job="cadvisor", cluster!~"a|b"`, KSMSelector: `job=~"kube-state-metrics|ksm"`}},
		{"none", dashboards.Options{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, err := dashboards.Build(tc.o)
			if err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(t.TempDir(), "selectors.yaml")
			set, _ := yaml.Marshal(map[string]any{"dashboards": map[string]string{"cadvisorSelector": tc.o.CAdvisorSelector, "ksmSelector": tc.o.KSMSelector}})
			if err := os.WriteFile(file, set, 0o644); err != nil {
				t.Fatal(err)
			}
			objs := decodeAll(t, mustTemplate(t, "-f", ciFiles(t)["monitoring"], "-f", file))
			for i, d := range want {
				name := "hopscope-dashboard-" + strings.TrimPrefix(d.UID, "hopscope-")
				cm := typed[*corev1.ConfigMap](t, objs, "ConfigMap", name)
				// Rendered with the values, the chart ships what the
				// generator writes with them as options.
				if got := cm.Data[d.File]; got != string(d.JSON) {
					t.Errorf("%s: data[%s] is not the dashboard generated with %+v", name, d.File, tc.o)
				}
				if d.UID == "hopscope-scaling" && bytes.Equal(d.JSON, built[i].JSON) {
					t.Errorf("%s: the selectors %+v change nothing", d.UID, tc.o)
				}
			}
		})
	}
}

// checkExportSecrets: collector.exportHeadersSecret reaches the collector
// as HOPSCOPE_EXPORT_HEADERS from the Secret (not as an argument), and
// collector.exportCASecret is mounted where --export-ca-file points.
func checkExportSecrets(t *testing.T, col *appsv1.Deployment) {
	t.Helper()
	c := container(t, col, "collector")
	var found bool
	for _, e := range c.Env {
		if e.Name != "HOPSCOPE_EXPORT_HEADERS" {
			continue
		}
		found = true
		if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil || e.ValueFrom.SecretKeyRef.Name != "jaeger-token" ||
			e.ValueFrom.SecretKeyRef.Key != "headers" {
			t.Errorf("HOPSCOPE_EXPORT_HEADERS = %+v, want the key headers of Secret jaeger-token", e)
		}
	}
	if !found {
		t.Error("collector.exportHeadersSecret set: no HOPSCOPE_EXPORT_HEADERS in the collector's env")
	}
	noArgPrefix(t, "collector", c.Args, "--export-headers")
	var mounted bool
	for _, m := range c.VolumeMounts {
		if m.Name == "export-ca" && m.MountPath == "/etc/hopscope/export-ca" {
			mounted = true
		}
	}
	if !mounted {
		t.Errorf("collector.exportCASecret set: no export-ca mount at /etc/hopscope/export-ca in %+v", c.VolumeMounts)
	}
	var vol bool
	for _, v := range col.Spec.Template.Spec.Volumes {
		if v.Name == "export-ca" && v.Secret != nil && v.Secret.SecretName == "jaeger-ca" &&
			len(v.Secret.Items) == 1 && v.Secret.Items[0].Key == "ca.crt" && v.Secret.Items[0].Path == "ca.crt" {
			vol = true
		}
	}
	if !vol {
		t.Errorf("collector.exportCASecret set: no export-ca volume of Secret jaeger-ca's ca.crt in %+v", col.Spec.Template.Spec.Volumes)
	}
}
