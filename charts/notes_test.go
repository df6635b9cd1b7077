package charts

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// renderNotes renders templates/NOTES.txt, which helm template leaves
// out: in a copy of the chart, the notes become the body of a named
// template that a ConfigMap renders as a JSON string.
func renderNotes(t *testing.T, args ...string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "hopscope")
	err := filepath.WalkDir(chartDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(chartDir, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dir, rel), 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	notes, err := os.ReadFile(filepath.Join(chartDir, "templates", "NOTES.txt"))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"_notes_test.tpl": `{{- define "notes.test" -}}` + "\n" + string(notes) + `{{- end }}`,
		"notes-test.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\ndata:\n  notes: {{ include \"notes.test\" . | toJson }}\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, "templates", name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	full := append([]string{"template", releaseName, dir, "--namespace", releaseNamespace, "--kube-version", defaultKubeVersion,
		"--show-only", "templates/notes-test.yaml"}, args...)
	out, stderr, err := runHelm(t, full...)
	if err != nil {
		t.Fatalf("rendering NOTES.txt: %v\n%s", err, stderr)
	}
	objs := decodeAll(t, out)
	cm := typed[*corev1.ConfigMap](t, objs, "ConfigMap", "notes")
	return cm.Data["notes"]
}

// logFormatUpstream is the ingress-nginx log format docs/ingress-nginx.md
// gives.
func logFormatUpstream(t *testing.T) string {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join(root, "docs", "ingress-nginx.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*log-format-upstream: ('\{"msec".*\}')$`).FindSubmatch(doc)
	if m == nil {
		t.Fatal("docs/ingress-nginx.md has no log-format-upstream line")
	}
	return string(m[1])
}

func TestNotes(t *testing.T) {
	format := logFormatUpstream(t)
	for _, tc := range []struct {
		variant     string
		want, avoid []string
	}{
		{"default", []string{
			"kubectl label namespace <namespace> hopscope.io/inject=enabled",
			"hopscope.io/inject: enabled",
			"kubectl port-forward -n observability svc/hopscope-collector 8088:8088",
			"http://localhost:8088/ui/",
			"Name   forward", "Host   hopscope-collector.observability.svc", "Port   24224",
			"log-format-upstream: " + format,
			`proxy_set_header X-Request-Start "t=${msec}";`,
			"helm test hopscope -n observability",
			"collector.exportOTLPEndpoint",
		}, nil},
		{"no-injector", []string{"helm test hopscope", "Port   24224"}, []string{"hopscope.io/inject", "collector.exportOTLPEndpoint"}},
		{"rum-ingress", []string{"https://rum.shop.example.com/rum.js", "hopscope-rum:8089"}, nil},
		{"external-webhook-url", []string{"https://192.168.49.1:8443", "--webhook-config hopscope-injector", "hopscope-sidecar-template"}, nil},
	} {
		t.Run(tc.variant, func(t *testing.T) {
			t.Parallel()
			notes := renderNotes(t, "-f", ciFiles(t)[tc.variant])
			for _, w := range tc.want {
				if !strings.Contains(notes, w) {
					t.Errorf("NOTES.txt lacks %q:\n%s", w, notes)
				}
			}
			for _, a := range tc.avoid {
				if strings.Contains(notes, a) {
					t.Errorf("NOTES.txt has %q:\n%s", a, notes)
				}
			}
		})
	}
}
