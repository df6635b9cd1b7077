package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestProductBinaryDeps: the product binary holds no test or demo
// infrastructure (the demo is its own program, examples/demo), nor
// controller-runtime. client-go's typed clientset is in it since the
// collector's --kube-metadata watches EndpointSlices, Pods and Nodes with
// its informers (collector/k8smeta, as the OpenTelemetry Collector's
// k8sattributes processor does); the injected sidecar runs the slim
// cmd/hopscope-sidecar, which holds none of client-go (its own
// TestSidecarBinaryDeps).
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
	}
	for _, d := range deps {
		for _, f := range forbidden {
			if d == f || strings.HasPrefix(d, f+"/") || (strings.HasSuffix(f, "/") && strings.HasPrefix(d, f)) {
				t.Errorf("cmd/hopscope depends on %s", d)
			}
		}
	}
}
