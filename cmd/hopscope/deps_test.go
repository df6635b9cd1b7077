package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestProductBinaryDeps: the product binary holds no test or demo
// infrastructure (the demo is its own program, examples/demo), and not
// client-go's typed clientset, apply configurations or scheme of every
// API group (the injector's KubeClient makes its five calls over
// k8s.io/client-go/rest's HTTP client).
func TestProductBinaryDeps(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 100 {
		t.Fatalf("go list -deps listed only %d packages:\n%s", len(deps), out)
	}
	forbidden := []string{
		"github.com/hopscope/hopscope/examples/",
		"github.com/hopscope/hopscope/internal/realcomp",
		"github.com/hopscope/hopscope/internal/fixture",
		"github.com/hopscope/hopscope/internal/testkit",
		"github.com/hopscope/hopscope/test/",
		"sigs.k8s.io/controller-runtime",
		"k8s.io/client-go/kubernetes",
		"k8s.io/client-go/applyconfigurations",
	}
	for _, d := range deps {
		for _, f := range forbidden {
			if d == f || strings.HasPrefix(d, f+"/") || (strings.HasSuffix(f, "/") && strings.HasPrefix(d, f)) {
				t.Errorf("cmd/hopscope depends on %s", d)
			}
		}
	}
}
