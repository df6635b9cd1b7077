package injector

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// startAPIServer runs a real kube-apiserver (tools/kube-apiserver, or
// $HOPSCOPE_KUBE_APISERVER_BIN) on etcd (Debian's etcd-server) through
// envtest, on loopback, for the test.
func startAPIServer(t *testing.T) *rest.Config {
	t.Helper()
	apiserver := os.Getenv("HOPSCOPE_KUBE_APISERVER_BIN")
	if apiserver == "" {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
		defer cancel()
		tools := filepath.Join("..", "tools")
		if out, err := exec.CommandContext(ctx, "bash", filepath.Join(tools, "build"), "kube-apiserver").CombinedOutput(); err != nil {
			t.Fatalf("building kube-apiserver with tools/build (set HOPSCOPE_KUBE_APISERVER_BIN to skip): %v\n%s", err, out)
		}
		apiserver, _ = filepath.Abs(filepath.Join(tools, "bin", "kube-apiserver"))
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
	t.Cleanup(func() { env.Stop() })
	return cfg
}

// TestKubeClientOnRealAPIServer: the injector's five calls, and the
// errors ensureSecret and patchCABundle tell apart, against a real
// kube-apiserver; then both of them end to end.
func TestKubeClientOnRealAPIServer(t *testing.T) {
	cfg := startAPIServer(t)
	kc, err := NewKubeClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const ns = "default"

	if _, err := kc.GetSecret(ctx, ns, "tls"); !apierrors.IsNotFound(err) {
		t.Fatalf("GetSecret of none: %v, want NotFound", err)
	}
	in := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "tls", Labels: map[string]string{"a": "b"}},
		Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"k": []byte("v1")}}
	created, err := kc.CreateSecret(ctx, in)
	if err != nil || created.ResourceVersion == "" || string(created.Data["k"]) != "v1" || created.Labels["a"] != "b" {
		t.Fatalf("CreateSecret: %+v, %v", created, err)
	}
	if _, err := kc.CreateSecret(ctx, in); !apierrors.IsAlreadyExists(err) {
		t.Fatalf("CreateSecret again: %v, want AlreadyExists", err)
	}
	got, err := kc.GetSecret(ctx, ns, "tls")
	if err != nil || got.UID != created.UID || string(got.Data["k"]) != "v1" {
		t.Fatalf("GetSecret: %+v, %v", got, err)
	}
	got.Data["k"] = []byte("v2")
	updated, err := kc.UpdateSecret(ctx, got)
	if err != nil || string(updated.Data["k"]) != "v2" || updated.ResourceVersion == got.ResourceVersion {
		t.Fatalf("UpdateSecret: %+v, %v", updated, err)
	}
	if _, err := kc.UpdateSecret(ctx, got); !apierrors.IsConflict(err) { // got's resourceVersion is stale now
		t.Fatalf("UpdateSecret with a stale resourceVersion: %v, want Conflict", err)
	}

	// The Secret the injector keeps: made, then found and kept.
	now := time.Now()
	kp, err := ensureSecret(ctx, kc, ns, testSecret, testNames, now)
	if err != nil {
		t.Fatal(err)
	}
	again, err := ensureSecret(ctx, kc, ns, testSecret, testNames, now)
	if err != nil || !bytes.Equal(again.cert, kp.cert) {
		t.Fatalf("second ensureSecret: new pair or %v", err)
	}
	if s, err := kc.GetSecret(ctx, ns, testSecret); err != nil || s.Type != corev1.SecretTypeTLS || !bytes.Equal(s.Data[secretCA], kp.ca) {
		t.Fatalf("the injector's Secret: %+v, %v", s, err)
	}

	// The webhook configuration: created here as the chart would.
	if _, err := kc.GetMutatingWebhookConfiguration(ctx, "hopscope"); !apierrors.IsNotFound(err) {
		t.Fatalf("GetMutatingWebhookConfiguration of none: %v, want NotFound", err)
	}
	none := admissionregistrationv1.SideEffectClassNone
	url := "https://127.0.0.1:1/inject/pod"
	mwc := &admissionregistrationv1.MutatingWebhookConfiguration{
		TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "MutatingWebhookConfiguration"},
		ObjectMeta: metav1.ObjectMeta{Name: "hopscope"},
	}
	for _, name := range []string{"pod.inject.hopscope.io", "namespace.inject.hopscope.io"} {
		mwc.Webhooks = append(mwc.Webhooks, admissionregistrationv1.MutatingWebhook{Name: name, SideEffects: &none,
			AdmissionReviewVersions: []string{"v1"}, ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: &url}})
	}
	if err := kc.(*restClient).do(ctx, http.MethodPost, webhookPath(""), webhooks, "hopscope", mwc, mwc); err != nil {
		t.Fatalf("creating the webhook configuration: %v", err)
	}
	if err := patchCABundle(ctx, kc, "hopscope", kp.ca); err != nil {
		t.Fatal(err)
	}
	stored, err := kc.GetMutatingWebhookConfiguration(ctx, "hopscope")
	if err != nil || len(stored.Webhooks) != 2 {
		t.Fatalf("GetMutatingWebhookConfiguration: %+v, %v", stored, err)
	}
	for _, w := range stored.Webhooks {
		if !bytes.Equal(w.ClientConfig.CABundle, kp.ca) {
			t.Errorf("webhook %s: caBundle not set", w.Name)
		}
	}
	if _, err := kc.UpdateMutatingWebhookConfiguration(ctx, mwc); !apierrors.IsConflict(err) {
		t.Fatalf("UpdateMutatingWebhookConfiguration with a stale resourceVersion: %v, want Conflict", err)
	}

	// Without credentials the API server refuses, and the error says so.
	anon := rest.AnonymousClientConfig(cfg)
	ac, err := NewKubeClient(anon)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ac.GetSecret(ctx, ns, testSecret); !apierrors.IsForbidden(err) && !apierrors.IsUnauthorized(err) {
		t.Fatalf("anonymous GetSecret: %v, want Forbidden or Unauthorized", err)
	}
}
