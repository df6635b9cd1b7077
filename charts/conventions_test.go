package charts

// Tests of the values users of the reference charts (OpenTelemetry
// Collector, Jaeger, kube-prometheus-stack, Linkerd) expect (issue 12,
// item 3).

import (
	"cmp"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// TestEnabledFalseRendersNothing: `enabled: false` renders no object and
// no hook for any ci/*-values.yaml (the chart as a subchart switched off),
// passes helm lint --strict, and NOTES.txt says so.
func TestEnabledFalseRendersNothing(t *testing.T) {
	for variant, path := range ciFiles(t) {
		t.Run(variant, func(t *testing.T) {
			t.Parallel()
			if on := decodeAll(t, renderCI(t, variant)); len(on) == 0 {
				t.Fatal("the variant renders nothing with enabled true")
			}
			objs := decodeAll(t, mustTemplate(t, "-f", path, "--set", "enabled=false"))
			if len(objs) != 0 {
				t.Errorf("enabled=false renders %s", names(objs))
			}
			out, stderr, err := runHelm(t, "lint", "--strict", "--kube-version", defaultKubeVersion, chartDir, "-f", path, "--set", "enabled=false")
			if err != nil {
				t.Errorf("helm lint --strict --set enabled=false: %v\n%s%s", err, out, stderr)
			}
		})
	}
	notes := renderNotes(t, "--set", "enabled=false")
	if !strings.Contains(notes, "disabled") || strings.Contains(notes, "kubectl") {
		t.Errorf("NOTES.txt with enabled=false:\n%s", notes)
	}
}

// TestGlobalIsShared: a parent chart's globals pass the schema next to
// global.imageRegistry.
func TestGlobalIsShared(t *testing.T) {
	out := mustTemplate(t, "--set", "global.imageRegistry=mirror.example.com", "--set", "global.storageClass=fast",
		"--set-json", `global.parent={"any":["thing"]}`, "--show-only", "templates/collector-deployment.yaml")
	if !strings.Contains(out, "image: mirror.example.com/hopscope/hopscope:") {
		t.Errorf("the collector's image is not under global.imageRegistry:\n%s", out)
	}
}

// renderedImages returns the image of every container the release runs or
// injects: "collector", "injector", "gateway", "selftest" (by container
// name) and "sidecar" (the sidecar template).
func renderedImages(t *testing.T, objs []object) map[string]string {
	t.Helper()
	out := map[string]string{}
	for name, p := range podSpecs(objs) {
		for _, c := range append(p.Spec.InitContainers, p.Spec.Containers...) {
			if _, dup := out[c.Name]; dup {
				t.Errorf("%s: a second container %q", name, c.Name)
			}
			out[c.Name] = c.Image
		}
	}
	if tmpl, ok := sidecarTemplate(t, objs); ok {
		out["sidecar"] = tmpl.Container.Image
	}
	return out
}

// TestImageReferences: image.digest wins over the tag (and reaches the
// sidecar unless it has a tag of its own), each image has its own digest,
// and global.imageRegistry takes the place of the registry of every image
// the chart runs or injects.
func TestImageReferences(t *testing.T) {
	v := chartAppVersion(t)
	const (
		d1 = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
		d2 = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
		d3 = "sha256:3333333333333333333333333333333333333333333333333333333333333333"
	)
	hop, gw := "ghcr.io/hopscope/hopscope:"+v, "ghcr.io/hopscope/gateway:"+v
	base := map[string]string{"collector": hop, "injector": hop, "selftest": hop, "sidecar": hop, "gateway": gw}
	with := func(changes map[string]string) map[string]string {
		m := maps.Clone(base)
		maps.Copy(m, changes)
		return m
	}
	for _, tc := range []struct {
		name string
		set  []string
		want map[string]string
	}{
		{"defaults", nil, base},
		{"tag", []string{"image.tag=1.2.3"}, with(map[string]string{"collector": "ghcr.io/hopscope/hopscope:1.2.3",
			"injector": "ghcr.io/hopscope/hopscope:1.2.3", "selftest": "ghcr.io/hopscope/hopscope:1.2.3", "sidecar": "ghcr.io/hopscope/hopscope:1.2.3"})},
		{"digest wins over the tag", []string{"image.tag=1.2.3", "image.digest=" + d1}, with(map[string]string{
			"collector": "ghcr.io/hopscope/hopscope@" + d1, "injector": "ghcr.io/hopscope/hopscope@" + d1,
			"selftest": "ghcr.io/hopscope/hopscope@" + d1, "sidecar": "ghcr.io/hopscope/hopscope@" + d1})},
		{"sidecar tag beats the inherited digest", []string{"image.digest=" + d1, "sidecar.image.tag=0.9.0"}, with(map[string]string{
			"collector": "ghcr.io/hopscope/hopscope@" + d1, "injector": "ghcr.io/hopscope/hopscope@" + d1,
			"selftest": "ghcr.io/hopscope/hopscope@" + d1, "sidecar": "ghcr.io/hopscope/hopscope:0.9.0"})},
		{"own digests", []string{"image.digest=" + d1, "sidecar.image.repository=example.com/sidecar", "sidecar.image.digest=" + d2,
			"collector.gateway.image.digest=" + d3}, with(map[string]string{
			"collector": "ghcr.io/hopscope/hopscope@" + d1, "injector": "ghcr.io/hopscope/hopscope@" + d1,
			"selftest": "ghcr.io/hopscope/hopscope@" + d1, "sidecar": "example.com/sidecar@" + d2, "gateway": "ghcr.io/hopscope/gateway@" + d3})},
		{"global registry", []string{"global.imageRegistry=mirror.example.com:5000"}, with(map[string]string{
			"collector": "mirror.example.com:5000/hopscope/hopscope:" + v, "injector": "mirror.example.com:5000/hopscope/hopscope:" + v,
			"selftest": "mirror.example.com:5000/hopscope/hopscope:" + v, "sidecar": "mirror.example.com:5000/hopscope/hopscope:" + v,
			"gateway": "mirror.example.com:5000/hopscope/gateway:" + v})},
		{"global registry with a path, repositories without a registry, digests", []string{"global.imageRegistry=harbor.example.com/ghcr/",
			"image.repository=hopscope/hopscope", "image.digest=" + d1, "sidecar.image.repository=localhost/sidecar",
			"collector.gateway.image.repository=gateway", "collector.gateway.image.tag=v7"}, with(map[string]string{
			"collector": "harbor.example.com/ghcr/hopscope/hopscope@" + d1, "injector": "harbor.example.com/ghcr/hopscope/hopscope@" + d1,
			"selftest": "harbor.example.com/ghcr/hopscope/hopscope@" + d1, "sidecar": "harbor.example.com/ghcr/sidecar@" + d1,
			"gateway": "harbor.example.com/ghcr/gateway:v7"})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := []string{"--set", "collector.replicas=3"}
			for _, s := range tc.set {
				args = append(args, "--set", s)
			}
			got := renderedImages(t, decodeAll(t, mustTemplate(t, args...)))
			if !maps.Equal(got, tc.want) {
				t.Errorf("images\n%v\nwant\n%v", got, tc.want)
			}
		})
	}
}

// TestCommonLabels: commonLabels reach the metadata.labels of every object
// of every variant (the gateway's, the monitoring objects', the hooks')
// and nothing else: no selector, no pod template. The chart's own labels
// and an object's own labels win over them.
func TestCommonLabels(t *testing.T) {
	files := ciFiles(t)
	for _, variant := range []string{"default", "monitoring", "scale-out", "rum-ingress", "cert-manager", "external-webhook-url"} {
		t.Run(variant, func(t *testing.T) {
			t.Parallel()
			out := mustTemplate(t, "-f", files[variant], "--set", "commonLabels.team=platform-xyz",
				"--set", "commonLabels.release=from-common", "--set-string", `commonLabels.app\.kubernetes\.io/name=from-common`,
				"--set", "collector.pdb.enabled=true")
			objs := decodeAll(t, out)
			if len(objs) == 0 {
				t.Fatal("nothing rendered")
			}
			for _, o := range objs {
				var m map[string]any
				if err := yaml.Unmarshal(o.Raw, &m); err != nil {
					t.Fatal(err)
				}
				meta, _ := m["metadata"].(map[string]any)
				labels, _ := meta["labels"].(map[string]any)
				if labels["team"] != "platform-xyz" {
					t.Errorf("%s: metadata.labels %v lack team=platform-xyz", o, labels)
				}
				if labels["app.kubernetes.io/name"] != "hopscope" {
					t.Errorf("%s: app.kubernetes.io/name = %v, want the chart's hopscope", o, labels["app.kubernetes.io/name"])
				}
				wantRelease := "from-common"
				if variant == "monitoring" && (o.Kind == "ServiceMonitor" || o.Kind == "PodMonitor" || o.Kind == "PrometheusRule") {
					wantRelease = "kube-prometheus-stack" // the object's own labels win
				}
				if labels["release"] != wantRelease {
					t.Errorf("%s: release = %v, want %s", o, labels["release"], wantRelease)
				}
				delete(meta, "labels")
				if b, _ := json.Marshal(m); strings.Contains(string(b), "platform-xyz") || strings.Contains(string(b), "from-common") {
					t.Errorf("%s: commonLabels beyond metadata.labels:\n%s", o, o.Raw)
				}
			}
			checkServices(t, objs)
		})
	}
}

// TestExtraObjects: extraObjects are rendered with tpl, as objects and as
// strings, as given (no commonLabels), and not at all with enabled=false.
func TestExtraObjects(t *testing.T) {
	values := `commonLabels:
  team: platform
extraObjects:
  - apiVersion: v1
    kind: ConfigMap
    metadata:
      name: '{{ include "hopscope.fullname" . }}-extra'
      namespace: '{{ .Release.Namespace }}'
    data:
      collector: '{{ include "hopscope.collector.fullname" . }}.{{ .Release.Namespace }}.svc'
  - |
    apiVersion: v1
    kind: Secret
    metadata:
      name: {{ .Release.Name }}-extra
      namespace: {{ .Release.Namespace }}
    stringData:
      replicas: {{ .Values.collector.replicas | quote }}
`
	path := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(path, []byte(values), 0o644); err != nil {
		t.Fatal(err)
	}
	objs := decodeAll(t, mustTemplate(t, "-f", path, "--show-only", "templates/extra-objects.yaml"))
	if len(objs) != 2 {
		t.Fatalf("rendered %s, want the two extraObjects", names(objs))
	}
	cm := typed[*corev1.ConfigMap](t, objs, "ConfigMap", "hopscope-extra")
	if cm.Namespace != releaseNamespace || cm.Data["collector"] != "hopscope-collector.observability.svc" || len(cm.Labels) != 0 {
		t.Errorf("ConfigMap = %+v", cm)
	}
	sec := typed[*corev1.Secret](t, objs, "Secret", "hopscope-extra")
	if sec.Namespace != releaseNamespace || sec.StringData["replicas"] != "1" {
		t.Errorf("Secret = %+v", sec)
	}
	if objs := decodeAll(t, mustTemplate(t, "-f", path, "--set", "enabled=false")); len(objs) != 0 {
		t.Errorf("enabled=false renders %s", names(objs))
	}
	_, stderr, err := runHelm(t, "lint", "--strict", "--kube-version", defaultKubeVersion, chartDir, "-f", path)
	if err != nil {
		t.Errorf("helm lint --strict: %v\n%s", err, stderr)
	}
}

// TestScrapeSettings: scrapeTimeout, honorLabels, relabelings and
// metricRelabelings of serviceMonitor and podMonitor reach every endpoint
// of their objects; by default honorLabels is false (the Operator's
// default) and the others are left out.
func TestScrapeSettings(t *testing.T) {
	const set = `
  enabled: true
  interval: 20s
  scrapeTimeout: 15s
  honorLabels: true
  relabelings:
    - sourceLabels: [__meta_kubernetes_pod_node_name]
      targetLabel: node
  metricRelabelings:
    - action: drop
      sourceLabels: [__name__]
      regex: go_gc_.*
`
	relabelings := []any{map[string]any{"sourceLabels": []any{"__meta_kubernetes_pod_node_name"}, "targetLabel": "node"}}
	metricRelabelings := []any{map[string]any{"action": "drop", "sourceLabels": []any{"__name__"}, "regex": "go_gc_.*"}}
	for _, tc := range []struct {
		key, template, field string
		objects              []string
	}{
		{"serviceMonitor", "templates/servicemonitor.yaml", "endpoints", []string{collectorName, injectorName}},
		{"podMonitor", "templates/podmonitor.yaml", "podMetricsEndpoints", []string{"hopscope-sidecars"}},
	} {
		t.Run(tc.key, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "values.yaml")
			if err := os.WriteFile(path, []byte(tc.key+":"+set), 0o644); err != nil {
				t.Fatal(err)
			}
			for _, run := range []struct {
				args []string
				want map[string]any
			}{
				{[]string{"--set", tc.key + ".enabled=true"}, map[string]any{"interval": "30s", "honorLabels": false}},
				{[]string{"-f", path}, map[string]any{"interval": "20s", "scrapeTimeout": "15s", "honorLabels": true,
					"relabelings": relabelings, "metricRelabelings": metricRelabelings}},
			} {
				args := append(append(run.args, withMonitoringAPI...), "--show-only", tc.template)
				objs := decodeAll(t, mustTemplate(t, args...))
				if len(objs) != len(tc.objects) {
					t.Fatalf("%v: rendered %s", run.args, names(objs))
				}
				for _, name := range tc.objects {
					o := find(t, objs, objs[0].Kind, name)
					eps, _ := nested(o.Un.Object, "spec", tc.field)
					list, _ := eps.([]any)
					if len(list) == 0 {
						t.Fatalf("%s: no %s", o, tc.field)
					}
					for i, e := range list {
						got := maps.Clone(e.(map[string]any))
						delete(got, "port")
						delete(got, "path")
						if !reflect.DeepEqual(got, run.want) {
							t.Errorf("%v: %s %s[%d] = %v, want %v", run.args, o, tc.field, i, got, run.want)
						}
					}
				}
			}
		})
	}
}

// TestMonitoringCRDs: the Prometheus Operator's objects are rendered only
// where the cluster serves monitoring.coreos.com/v1, unless
// monitoringCRDs is always; NOTES.txt says when enabled ones are left out.
func TestMonitoringCRDs(t *testing.T) {
	on := []string{"--set", "serviceMonitor.enabled=true", "--set", "podMonitor.enabled=true", "--set", "prometheusRule.enabled=true"}
	all := map[string]int{"ServiceMonitor": 2, "PodMonitor": 1, "PrometheusRule": 1}
	for _, tc := range []struct {
		name string
		args []string
		want map[string]int
	}{
		{"auto without the API", on, map[string]int{}},
		{"auto with the API", append(append([]string{}, on...), withMonitoringAPI...), all},
		{"auto with other APIs", append(append([]string{}, on...), "--api-versions", "monitoring.coreos.com/v1alpha1", "--api-versions", "cert-manager.io/v1"), map[string]int{}},
		{"always without the API", append(append([]string{}, on...), "--set", "monitoringCRDs=always"), all},
		{"with the API, only the rule", append([]string{"--set", "prometheusRule.enabled=true"}, withMonitoringAPI...), map[string]int{"PrometheusRule": 1}},
		{"with the API, none enabled", withMonitoringAPI, map[string]int{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := map[string]int{}
			for k, n := range kinds(decodeAll(t, mustTemplate(t, tc.args...))) {
				if _, ok := all[k]; ok {
					got[k] = n
				}
			}
			if !maps.Equal(got, tc.want) {
				t.Errorf("monitoring objects %v, want %v", got, tc.want)
			}
		})
	}
	notes := renderNotes(t, on...)
	for _, w := range []string{"monitoring.coreos.com/v1", "monitoringCRDs=always", "serviceMonitor", "podMonitor", "prometheusRule"} {
		if !strings.Contains(notes, w) {
			t.Errorf("NOTES.txt without the API lacks %q:\n%s", w, notes)
		}
	}
	if notes := renderNotes(t, append(append([]string{}, on...), withMonitoringAPI...)...); strings.Contains(notes, "monitoringCRDs") {
		t.Errorf("NOTES.txt with the API warns:\n%s", notes)
	}
}

// TestWebhookSelectors: injector.namespaceSelector's matchLabels and
// matchExpressions are ANDed to the chart's selector of both webhooks (the
// hopscope.io/inject expression that tells them apart and the excluded
// namespaces stay first), and injector.objectSelector becomes both
// webhooks' objectSelector; by default neither adds anything.
func TestWebhookSelectors(t *testing.T) {
	values := `injector:
  namespaceSelector:
    excludeNamespaces: [legacy]
    matchLabels:
      environment: production
    matchExpressions:
      - key: team
        operator: In
        values: [shop, payments]
  objectSelector:
    matchLabels:
      hopscope.io/eligible: "true"
    matchExpressions:
      - key: app.kubernetes.io/managed-by
        operator: NotIn
        values: [some-operator]
`
	path := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(path, []byte(values), 0o644); err != nil {
		t.Fatal(err)
	}
	excluded := []string{releaseNamespace, "kube-system", "kube-node-lease", "kube-public"}
	for _, tc := range []struct {
		name      string
		args      []string
		excluded  []string
		nsLabels  map[string]string
		nsMore    []metav1.LabelSelectorRequirement
		objectSel *metav1.LabelSelector
	}{
		{"defaults", nil, excluded, nil, nil, nil},
		{"values", []string{"-f", path}, append(append([]string{}, excluded...), "legacy"), map[string]string{"environment": "production"},
			[]metav1.LabelSelectorRequirement{{Key: "team", Operator: metav1.LabelSelectorOpIn, Values: []string{"shop", "payments"}}},
			&metav1.LabelSelector{MatchLabels: map[string]string{"hopscope.io/eligible": "true"},
				MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app.kubernetes.io/managed-by", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"some-operator"}}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			objs := decodeAll(t, mustTemplate(t, append(tc.args, "--show-only", "templates/injector-webhook.yaml")...))
			w := typed[*admissionregistrationv1.MutatingWebhookConfiguration](t, objs, "MutatingWebhookConfiguration", injectorName)
			if len(w.Webhooks) != 2 {
				t.Fatalf("%d webhooks", len(w.Webhooks))
			}
			for i, op := range []metav1.LabelSelectorOperator{metav1.LabelSelectorOpNotIn, metav1.LabelSelectorOpIn} {
				h := w.Webhooks[i]
				want := &metav1.LabelSelector{MatchLabels: tc.nsLabels, MatchExpressions: append([]metav1.LabelSelectorRequirement{
					{Key: "hopscope.io/inject", Operator: op, Values: []string{"enabled"}},
					{Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpNotIn, Values: tc.excluded},
				}, tc.nsMore...)}
				if !reflect.DeepEqual(h.NamespaceSelector, want) {
					t.Errorf("%s: namespaceSelector\n%+v\nwant\n%+v", h.Name, h.NamespaceSelector, want)
				}
				if !reflect.DeepEqual(h.ObjectSelector, tc.objectSel) {
					t.Errorf("%s: objectSelector %+v, want %+v", h.Name, h.ObjectSelector, tc.objectSel)
				}
			}
		})
	}
}

// TestGoMemLimit: GOMEMLIMIT of the collector, the gateway and the injector
// is 80 % of their memory limit, in bytes, whatever the quantity's form
// (the collector's memory limiter then takes 80 % of it: 64 % of the
// container, docs/helm.md "The collector's memory").
func TestGoMemLimit(t *testing.T) {
	for _, tc := range []struct {
		memory string
		want   string
	}{
		{"", ""}, // the defaults: collector 1Gi, gateway 512Mi, injector 128Mi
		{"1Gi", "858993459"},
		{"512Mi", "429496729"},
		{"1G", "800000000"},
		{"1500M", "1200000000"},
		{"1.5Gi", "1288490188"},
		{"2147483648", "1717986918"},
		{"4e9", "3200000000"},
	} {
		t.Run(cmp.Or(tc.memory, "defaults"), func(t *testing.T) {
			t.Parallel()
			args := []string{"--set", "collector.replicas=3"}
			want := map[string]string{"collector": "858993459", "gateway": "429496729", "injector": "107374182"}
			if tc.memory != "" {
				for _, k := range []string{"collector.resources", "collector.gateway.resources", "injector.resources"} {
					args = append(args, "--set", k+".limits.memory="+tc.memory)
				}
				want = map[string]string{"collector": tc.want, "gateway": tc.want, "injector": tc.want}
			}
			objs := decodeAll(t, mustTemplate(t, args...))
			for name, d := range map[string]string{"collector": collectorName, "gateway": gatewayName, "injector": injectorName} {
				c := container(t, typed[*appsv1.Deployment](t, objs, "Deployment", d), name)
				var env *corev1.EnvVar
				for i := range c.Env {
					if c.Env[i].Name == "GOMEMLIMIT" {
						env = &c.Env[i]
					}
				}
				if env == nil || env.ValueFrom != nil || env.Value != want[name] {
					t.Errorf("%s: GOMEMLIMIT %+v, want %q", name, env, want[name])
				}
			}
		})
	}
}
