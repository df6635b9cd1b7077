package injector

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseTemplateErrorsNameTheKey(t *testing.T) {
	good, err := os.ReadFile(filepath.Join("testdata", "sidecar-template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseTemplate(good); err != nil {
		t.Fatalf("the chart's rendered template: %v", err)
	}
	for _, tc := range []struct {
		name, from, to, want string
	}{
		{"unknown key", "native:", "nativ:", `unknown field "nativ"`},
		{"container name", "name: hopscope-sidecar", "name: proxy", "container.name"},
		{"no image", "image: ", "imageX: ", "unknown field"},
		{"no cpu request", "      cpu: 50m\n", "", "container.resources.requests.cpu"},
		{"bad port name", "portName: http", "portName: HTTP_PORT", "portName"},
		{"same ports", "adminPort: 15090", "adminPort: 15080", "adminPort: must differ"},
		{"port range", "proxyPort: 15080", "proxyPort: 70000", "proxyPort"},
		{"escalation", "allowPrivilegeEscalation: false", "allowPrivilegeEscalation: true", "container.securityContext"},
		{"root", "runAsNonRoot: true", "runAsNonRoot: false", "container.securityContext"},
		// FuzzParseTemplate: these passed, and injected pods the API
		// server or Pod Security "restricted" refuses.
		{"port named portName", "    - name: hopscope-admin\n", "    - name: http\n", "container.ports[0].name"},
		{"portName is the admin port's", "portName: http", "portName: hopscope-admin", "container.ports[0].name"},
		{"port named as the moved app port", "    - name: hopscope-admin\n", "    - name: app-http\n", "container.ports[0].name"},
		{"two ports of one name", "      containerPort: 15090\n", "      containerPort: 15090\n    - name: hopscope-admin\n      containerPort: 15091\n", "container.ports[1].name"},
		{"bad port name", "    - name: hopscope-admin\n", "    - name: hopscope_admin_port\n", "container.ports[0].name"},
		{"drop not ALL", "        - ALL", "        - NET_RAW", `capabilities.drop=["ALL"]`},
		{"runAsUser 0", "runAsUser: 65532", "runAsUser: 0", "runAsUser=0"},
		{"no seccomp profile", "    seccompProfile:\n      type: RuntimeDefault\n", "", "seccompProfile"},
		{"privileged", "    readOnlyRootFilesystem: true\n", "    readOnlyRootFilesystem: true\n    privileged: true\n", "privileged"},
		{"host port", "      containerPort: 15090\n", "      containerPort: 15090\n      hostPort: 15090\n", "hostPort"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := strings.Replace(string(good), tc.from, tc.to, 1)
			if data == string(good) {
				t.Fatalf("%q not in the template", tc.from)
			}
			_, err := ParseTemplate([]byte(data))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one naming %q", err, tc.want)
			}
		})
	}
}

func TestMovedPortName(t *testing.T) {
	for in, want := range map[string]string{"http": "app-http", "web": "app-web", "grpc-web-public": "app-grpc-web-pu", "http-metric-xx": "app-http-metric"} {
		if got := movedPortName(in); got != want {
			t.Errorf("movedPortName(%q) = %q, want %q", in, got, want)
		}
	}
}
