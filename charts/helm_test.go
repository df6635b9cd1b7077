package charts

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"
)

// The release every test renders, unless it says otherwise.
const (
	releaseName      = "hopscope"
	releaseNamespace = "observability"
	// defaultKubeVersion is passed to helm: a Helm built with `go build`
	// (no -ldflags) assumes Kubernetes v1.20.0, below the chart's
	// kubeVersion.
	defaultKubeVersion = "1.31.0"
)

// withMonitoringAPI makes helm template render as for a cluster that
// serves the Prometheus Operator's API (its CRDs installed), where
// monitoringCRDs auto renders ServiceMonitors, PodMonitors and the
// PrometheusRule.
var withMonitoringAPI = []string{"--api-versions", "monitoring.coreos.com/v1"}

// root is the module root; chartDir the chart.
var (
	root     = mustModuleRoot()
	chartDir = filepath.Join(root, "charts", "hopscope")
)

func mustModuleRoot() string {
	wd, err := os.Getwd()
	if err != nil {
		panic(err)
	}
	for d := wd; ; {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		parent := filepath.Dir(d)
		if parent == d {
			panic("no go.mod above " + wd)
		}
		d = parent
	}
}

var (
	helmOnce sync.Once
	helmPath string
	helmErr  error
)

// helmBin returns the Helm binary: $HOPSCOPE_HELM_BIN, else tools/bin/helm
// as tools/build makes it (Helm v3 pinned in tools/helm; Go relinks only
// when it changed).
func helmBin(t *testing.T) string {
	t.Helper()
	helmOnce.Do(func() {
		if p := os.Getenv("HOPSCOPE_HELM_BIN"); p != "" {
			helmPath = p
			return
		}
		cmd := exec.Command("bash", filepath.Join(root, "tools", "build"), "helm")
		if out, err := cmd.CombinedOutput(); err != nil {
			helmErr = fmt.Errorf("building helm with tools/build (set HOPSCOPE_HELM_BIN to skip): %v\n%s", err, out)
			return
		}
		helmPath = filepath.Join(root, "tools", "bin", "helm")
	})
	if helmErr != nil {
		t.Fatal(helmErr)
	}
	return helmPath
}

// runHelm runs helm with its cache, config and data directories in a
// fresh temporary directory, so that no repository or plugin of the user
// is involved, and returns stdout and stderr.
func runHelm(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	home := t.TempDir()
	cmd := exec.Command(helmBin(t), args...)
	cmd.Env = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
		"KUBECONFIG="+filepath.Join(home, "no-kubeconfig"),
	)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

// template renders the chart as release hopscope in observability for
// defaultKubeVersion, with args (-f, --set, --kube-version …) added.
func template(t *testing.T, args ...string) (string, error) {
	t.Helper()
	full := []string{"template", releaseName, chartDir, "--namespace", releaseNamespace}
	if !containsArg(args, "--kube-version") {
		full = append(full, "--kube-version", defaultKubeVersion)
	}
	out, stderr, err := runHelm(t, append(full, args...)...)
	if err != nil {
		return "", fmt.Errorf("helm %s: %v\n%s", strings.Join(append(full, args...), " "), err, stderr)
	}
	return out, nil
}

func mustTemplate(t *testing.T, args ...string) string {
	t.Helper()
	out, err := template(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func containsArg(args []string, a string) bool {
	for _, x := range args {
		if x == a || strings.HasPrefix(x, a+"=") {
			return true
		}
	}
	return false
}

// ciFiles are the chart's ci/*-values.yaml, by variant name ("default",
// "cert-manager", …).
func ciFiles(t *testing.T) map[string]string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(chartDir, "ci", "*-values.yaml"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no ci/*-values.yaml: %v", err)
	}
	out := map[string]string{}
	for _, p := range paths {
		out[strings.TrimSuffix(filepath.Base(p), "-values.yaml")] = p
	}
	return out
}

var (
	ciMu      sync.Mutex
	ciRenders = map[string]*ciRender{}
)

type ciRender struct {
	once sync.Once
	out  string
	err  error
}

// renderCI renders the chart with ci/<variant>-values.yaml once per test
// binary; every test reading a variant shares the output.
func renderCI(t *testing.T, variant string) string {
	t.Helper()
	path, ok := ciFiles(t)[variant]
	if !ok {
		t.Fatalf("no ci/%s-values.yaml", variant)
	}
	ciMu.Lock()
	r := ciRenders[variant]
	if r == nil {
		r = &ciRender{}
		ciRenders[variant] = r
	}
	ciMu.Unlock()
	r.once.Do(func() { r.out, r.err = template(t, "-f", path) })
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.out
}

// object is one rendered document: typed when its kind is in client-go's
// scheme, unstructured otherwise (CRDs).
type object struct {
	Kind, Name, Namespace string
	// Source is the template that rendered it ("# Source:" line).
	Source string
	Raw    []byte
	Typed  runtime.Object
	Un     *unstructured.Unstructured
}

func (o object) String() string { return o.Kind + "/" + o.Name }

// strictDecoder rejects unknown and duplicate fields.
var strictDecoder = json.NewSerializerWithOptions(json.DefaultMetaFactory, scheme.Scheme, scheme.Scheme,
	json.SerializerOptions{Yaml: true, Strict: true})

// crdGroups are the API groups of the CRDs the chart renders; their
// objects are checked as unstructured (checkCRD).
var crdGroups = []string{"monitoring.coreos.com", "cert-manager.io"}

// decodeAll splits helm's output into documents and decodes each one:
// strictly into its k8s.io/api type, or, for a CRD, into unstructured.
func decodeAll(t *testing.T, manifests string) []object {
	t.Helper()
	objs, err := decode(manifests)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func decode(manifests string) ([]object, error) {
	r := k8syaml.NewYAMLReader(bufio.NewReader(strings.NewReader(manifests)))
	var out []object
	var errs []error
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		var head map[string]any
		if err := yaml.Unmarshal(doc, &head); err != nil {
			errs = append(errs, fmt.Errorf("invalid YAML: %v\n%s", err, doc))
			continue
		}
		if len(head) == 0 {
			continue // comments only
		}
		u := &unstructured.Unstructured{Object: head}
		o := object{Kind: u.GetKind(), Name: u.GetName(), Namespace: u.GetNamespace(), Raw: doc, Source: sourceOf(doc)}
		group := u.GroupVersionKind().Group
		if isCRDGroup(group) {
			o.Un = u
			if err := checkCRD(u); err != nil {
				errs = append(errs, fmt.Errorf("%s (%s): %w", o, o.Source, err))
			}
		} else {
			typed, _, err := strictDecoder.Decode(doc, nil, nil)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s (%s): strict decoding: %w", o, o.Source, err))
				continue
			}
			o.Typed = typed
		}
		out = append(out, o)
	}
	return out, errors.Join(errs...)
}

func sourceOf(doc []byte) string {
	for _, l := range strings.Split(string(doc), "\n") {
		if s, ok := strings.CutPrefix(l, "# Source: "); ok {
			return s
		}
	}
	return "?"
}

func isCRDGroup(g string) bool {
	for _, c := range crdGroups {
		if g == c {
			return true
		}
	}
	return false
}

// crdSpec lists, per CRD kind, the spec fields the chart may set (the
// CRD's schema has more; the chart uses these) and the required ones, as
// dotted paths.
var crdSpec = map[string]struct {
	allowed  []string
	required []string
}{
	"ServiceMonitor": {[]string{"selector", "namespaceSelector", "endpoints"}, []string{"selector", "endpoints"}},
	"PodMonitor":     {[]string{"selector", "namespaceSelector", "podMetricsEndpoints"}, []string{"selector", "podMetricsEndpoints"}},
	"PrometheusRule": {[]string{"groups"}, []string{"groups"}},
	"Certificate": {[]string{"secretName", "duration", "renewBefore", "dnsNames", "privateKey", "usages", "issuerRef"},
		[]string{"secretName", "dnsNames", "issuerRef.name"}},
	"Issuer": {[]string{"selfSigned", "ca"}, nil},
}

// endpointFields are the fields of a ServiceMonitor endpoint or a
// PodMonitor podMetricsEndpoint the chart may set.
var endpointFields = []string{"port", "path", "interval", "scrapeTimeout", "honorLabels", "relabelings", "metricRelabelings"}

// checkCRD checks a CRD object: apiVersion v1, metadata name and
// namespace, spec fields known and required ones present, and per kind
// what its controller would refuse.
func checkCRD(u *unstructured.Unstructured) error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if v := u.GroupVersionKind().Version; v != "v1" {
		bad("apiVersion %s: want v1", u.GetAPIVersion())
	}
	if u.GetName() == "" || u.GetNamespace() == "" {
		bad("metadata.name and metadata.namespace are required")
	}
	for k := range u.Object {
		if k != "apiVersion" && k != "kind" && k != "metadata" && k != "spec" {
			bad("unknown top-level field %q", k)
		}
	}
	spec, ok := u.Object["spec"].(map[string]any)
	if !ok {
		bad("spec is missing")
		return errors.Join(errs...)
	}
	s, ok := crdSpec[u.GetKind()]
	if !ok {
		bad("kind %s is not expected", u.GetKind())
		return errors.Join(errs...)
	}
	for k := range spec {
		if !contains(s.allowed, k) {
			bad("unknown field spec.%s", k)
		}
	}
	for _, r := range s.required {
		v, found, err := unstructured.NestedFieldNoCopy(spec, strings.Split(r, ".")...)
		if err != nil || !found || v == nil || v == "" {
			bad("spec.%s is required", r)
		}
	}
	switch u.GetKind() {
	case "ServiceMonitor", "PodMonitor":
		field := "endpoints"
		if u.GetKind() == "PodMonitor" {
			field = "podMetricsEndpoints"
		}
		eps, _, _ := unstructured.NestedSlice(spec, field)
		if len(eps) == 0 {
			bad("spec.%s is empty", field)
		}
		for i, e := range eps {
			m, _ := e.(map[string]any)
			if p, _ := m["port"].(string); p == "" {
				bad("spec.%s[%d].port is required", field, i)
			}
			for k := range m {
				if !contains(endpointFields, k) {
					bad("unknown field spec.%s[%d].%s", field, i, k)
				}
			}
		}
	case "Issuer":
		if len(spec) != 1 {
			bad("spec must name exactly one issuer type")
		}
	}
	return errors.Join(errs...)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// kinds counts objects by kind, for error messages and expectations.
func kinds(objs []object) map[string]int {
	out := map[string]int{}
	for _, o := range objs {
		out[o.Kind]++
	}
	return out
}

func names(objs []object) string {
	var s []string
	for _, o := range objs {
		s = append(s, o.String())
	}
	sort.Strings(s)
	return strings.Join(s, ", ")
}

// find returns the object of kind and name, failing the test without it.
func find(t *testing.T, objs []object, kind, name string) object {
	t.Helper()
	for _, o := range objs {
		if o.Kind == kind && o.Name == name {
			return o
		}
	}
	t.Fatalf("no %s/%s among %s", kind, name, names(objs))
	return object{}
}

func has(objs []object, kind, name string) bool {
	for _, o := range objs {
		if o.Kind == kind && o.Name == name {
			return true
		}
	}
	return false
}
