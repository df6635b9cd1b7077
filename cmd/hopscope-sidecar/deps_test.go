package main

import (
	"os/exec"
	"strings"
	"testing"
)

// sidecarForbidden are the packages the sidecar's own binary must not
// link (issue 15 item 1): the Kubernetes client, the collector, the
// injector, the demo and example apps, test infrastructure, and the
// PostgreSQL and Redis client libraries (the backend proxies decode the
// wire protocols themselves). An entry ending in "/" forbids everything
// under it; otherwise the package and its sub-packages.
var sidecarForbidden = []string{
	"k8s.io/client-go",
	"k8s.io/api",
	"k8s.io/apimachinery",
	"sigs.k8s.io/controller-runtime",
	"github.com/jackc/pgx",
	"github.com/redis/go-redis",
	"github.com/hopscope/hopscope/examples/",
	"github.com/hopscope/hopscope/collector",
	"github.com/hopscope/hopscope/injector",
	"github.com/hopscope/hopscope/internal/realcomp",
	"github.com/hopscope/hopscope/internal/fixture",
	"github.com/hopscope/hopscope/internal/testkit",
	"github.com/hopscope/hopscope/test/",
	"testing",
}

// forbiddenIn returns the packages of deps that forbidden names.
func forbiddenIn(deps, forbidden []string) []string {
	var bad []string
	for _, d := range deps {
		for _, f := range forbidden {
			if d == f || strings.HasPrefix(d, strings.TrimSuffix(f, "/")+"/") {
				bad = append(bad, d)
				break
			}
		}
	}
	return bad
}

// TestSidecarBinaryDeps: `go list -deps` of this command has none of
// sidecarForbidden, and does have the sidecar and its backend proxies (so
// that an empty or wrong listing cannot pass).
func TestSidecarBinaryDeps(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	for _, want := range []string{
		"github.com/hopscope/hopscope/sidecar",
		"github.com/hopscope/hopscope/sidecar/backend/pgproxy",
		"github.com/hopscope/hopscope/sidecar/backend/redisproxy",
		"github.com/hopscope/hopscope/sidecar/backend/httpegress",
	} {
		if !strings.Contains("\n"+string(out), "\n"+want+"\n") {
			t.Errorf("go list -deps has no %s: not the sidecar's listing?", want)
		}
	}
	for _, d := range forbiddenIn(deps, sidecarForbidden) {
		t.Errorf("cmd/hopscope-sidecar depends on %s", d)
	}
}

// TestForbiddenIn checks the matcher on listings that must and must not
// be caught, so that a broken match cannot pass by finding nothing.
func TestForbiddenIn(t *testing.T) {
	tests := []struct {
		dep  string
		want bool
	}{
		{"k8s.io/client-go/rest", true},
		{"k8s.io/client-go", true},
		{"github.com/jackc/pgx/v5/pgconn", true},
		{"github.com/redis/go-redis/v9", true},
		{"github.com/hopscope/hopscope/examples/shop", true},
		{"github.com/hopscope/hopscope/internal/realcomp", true},
		{"github.com/hopscope/hopscope/collector/store", true},
		{"testing", true},
		{"testing/iotest", true},
		{"github.com/hopscope/hopscope/sidecar", false},
		{"github.com/hopscope/hopscope/internal/realcompx", false},
		{"github.com/jackc/pgpassfile", false},
		{"k8s.io/klog/v2", false},
	}
	for _, tt := range tests {
		if got := len(forbiddenIn([]string{tt.dep}, sidecarForbidden)) == 1; got != tt.want {
			t.Errorf("forbiddenIn(%q) = %v, want %v", tt.dep, got, tt.want)
		}
	}
}
