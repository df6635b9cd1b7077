// Package kubetest starts a real kube-apiserver on etcd for tests, as the
// injector's tests do: tools/bin/kube-apiserver (built by tools/build, or
// $HOPSCOPE_KUBE_APISERVER_BIN) and Debian's etcd, through
// controller-runtime's envtest, on loopback. No kubelet: tests create the
// objects they need (Nodes, Pods, EndpointSlices) through the API.
package kubetest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/hopscope/hopscope/internal/modroot"
)

// Start runs kube-apiserver and etcd for the test and stops them at its
// end.
func Start(t *testing.T) *rest.Config {
	t.Helper()
	apiserver := os.Getenv("HOPSCOPE_KUBE_APISERVER_BIN")
	if apiserver == "" {
		root, err := modroot.FromWorkingDir()
		if err != nil {
			t.Fatal(err)
		}
		tools := filepath.Join(root, "tools")
		apiserver = filepath.Join(tools, "bin", "kube-apiserver")
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
		defer cancel()
		if out, err := exec.CommandContext(ctx, "bash", filepath.Join(tools, "build"), "kube-apiserver").CombinedOutput(); err != nil {
			t.Fatalf("building kube-apiserver with tools/build (set HOPSCOPE_KUBE_APISERVER_BIN to skip): %v\n%s", err, out)
		}
	}
	etcd, err := exec.LookPath("etcd")
	if err != nil {
		t.Fatalf("etcd: %v (apt-get install etcd-server)", err)
	}
	assets := t.TempDir()
	for name, bin := range map[string]string{"kube-apiserver": apiserver, "etcd": etcd} {
		if err := os.Symlink(bin, filepath.Join(assets, name)); err != nil {
			t.Fatal(err)
		}
	}
	env := &envtest.Environment{BinaryAssetsDirectory: assets, ControlPlaneStartTimeout: 90 * time.Second, ControlPlaneStopTimeout: 30 * time.Second}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting kube-apiserver and etcd: %v", err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	return cfg
}
