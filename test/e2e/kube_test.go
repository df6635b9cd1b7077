//go:build e2e

package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// kube is a real API server (kube-apiserver from k8s.io/kubernetes, etcd
// from Debian) started through envtest. There is no kubelet, scheduler or
// controller-manager: objects are stored and admitted, pods never run.
type kube struct {
	env        *envtest.Environment
	cfg        *rest.Config
	client     kubernetes.Interface
	kubeconfig string // a file for helm and the injector
}

func startKube(t *testing.T) *kube {
	t.Helper()
	apiserver := toolBinary(t, "HOPSCOPE_KUBE_APISERVER_BIN", "kube-apiserver")
	etcd := need(t, "etcd")
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
	t.Cleanup(func() { env.Stop() })
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kc, env.KubeConfig, 0o600); err != nil {
		t.Fatal(err)
	}
	return &kube{env: env, cfg: cfg, client: client, kubeconfig: kc}
}

// namespace creates a namespace with labels.
func (k *kube) namespace(t *testing.T, name string, labels map[string]string) {
	t.Helper()
	_, err := k.client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating namespace %s: %v", name, err)
	}
}

// helm runs the Helm CLI built from tools/helm against the API server,
// with its home directories under a temp dir.
func (k *kube) helm(t *testing.T, args ...string) string {
	t.Helper()
	bin := toolBinary(t, "HOPSCOPE_HELM_BIN", "helm")
	home := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append(args, "--kubeconfig", k.kubeconfig)...)
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+filepath.Join(home, "cache"), "HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}
