package injector

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// KubeClient is all the injector asks of the API server: the Secret that
// keeps its self-signed certificate, and the MutatingWebhookConfiguration
// whose caBundle it sets. Errors from the API server are
// *apierrors.StatusError, so apierrors.IsNotFound and the like apply.
//
// It is this narrow on purpose: client-go's typed clientset and its scheme
// of every API group would be most of the binary's dependencies and of its
// build time, for five calls.
type KubeClient interface {
	GetSecret(ctx context.Context, namespace, name string) (*corev1.Secret, error)
	CreateSecret(ctx context.Context, s *corev1.Secret) (*corev1.Secret, error)
	UpdateSecret(ctx context.Context, s *corev1.Secret) (*corev1.Secret, error)
	GetMutatingWebhookConfiguration(ctx context.Context, name string) (*admissionregistrationv1.MutatingWebhookConfiguration, error)
	UpdateMutatingWebhookConfiguration(ctx context.Context, c *admissionregistrationv1.MutatingWebhookConfiguration) (*admissionregistrationv1.MutatingWebhookConfiguration, error)
}

// newClient builds a KubeClient from a kubeconfig file, or in-cluster.
func newClient(kubeconfig string) (KubeClient, error) {
	var cfg *rest.Config
	var err error
	if kubeconfig != "" {
		cfg, err = clientcmd.BuildConfigFromFlags("", kubeconfig)
	} else {
		cfg, err = rest.InClusterConfig()
	}
	if err != nil {
		return nil, fmt.Errorf("--kubeconfig: connecting to the API server: %w", err)
	}
	return NewKubeClient(cfg)
}

// NewKubeClient is a KubeClient speaking JSON to the API server cfg
// describes, with cfg's credentials and TLS settings.
func NewKubeClient(cfg *rest.Config) (KubeClient, error) {
	base, _, err := rest.DefaultServerUrlFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("API server address: %w", err)
	}
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("API server client: %w", err)
	}
	ua := cfg.UserAgent
	if ua == "" {
		ua = rest.DefaultKubernetesUserAgent()
	}
	return &restClient{base: base, http: hc, userAgent: ua}, nil
}

// restClient is KubeClient over plain HTTP and JSON.
type restClient struct {
	base      *url.URL
	http      *http.Client
	userAgent string
}

var (
	secrets  = schema.GroupResource{Resource: "secrets"}
	webhooks = schema.GroupResource{Group: "admissionregistration.k8s.io", Resource: "mutatingwebhookconfigurations"}
)

func secretPath(namespace, name string) string {
	return path.Join("/api/v1/namespaces", namespace, "secrets", name)
}

func webhookPath(name string) string {
	return path.Join("/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations", name)
}

func (c *restClient) GetSecret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	out := &corev1.Secret{}
	return out, c.do(ctx, http.MethodGet, secretPath(namespace, name), secrets, name, nil, out)
}

func (c *restClient) CreateSecret(ctx context.Context, s *corev1.Secret) (*corev1.Secret, error) {
	out := &corev1.Secret{}
	return out, c.do(ctx, http.MethodPost, secretPath(s.Namespace, ""), secrets, s.Name, s, out)
}

func (c *restClient) UpdateSecret(ctx context.Context, s *corev1.Secret) (*corev1.Secret, error) {
	out := &corev1.Secret{}
	return out, c.do(ctx, http.MethodPut, secretPath(s.Namespace, s.Name), secrets, s.Name, s, out)
}

func (c *restClient) GetMutatingWebhookConfiguration(ctx context.Context, name string) (*admissionregistrationv1.MutatingWebhookConfiguration, error) {
	out := &admissionregistrationv1.MutatingWebhookConfiguration{}
	return out, c.do(ctx, http.MethodGet, webhookPath(name), webhooks, name, nil, out)
}

func (c *restClient) UpdateMutatingWebhookConfiguration(ctx context.Context, w *admissionregistrationv1.MutatingWebhookConfiguration) (*admissionregistrationv1.MutatingWebhookConfiguration, error) {
	out := &admissionregistrationv1.MutatingWebhookConfiguration{}
	return out, c.do(ctx, http.MethodPut, webhookPath(w.Name), webhooks, w.Name, w, out)
}

// maxResponseBytes bounds an API server answer (a Secret is at most 1 MiB).
const maxResponseBytes = 4 << 20

// do sends in (nil: no body) as JSON to p under the server's URL and
// decodes a 2xx answer into out; any other answer becomes a StatusError,
// from the API server's Status when it sent one.
func (c *restClient) do(ctx context.Context, method, p string, gr schema.GroupResource, name string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	u := *c.base
	u.Path = path.Join("/", u.Path, p)
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, maxResponseBytes))
	if err != nil {
		return fmt.Errorf("%s %s: reading the answer: %w", method, u.Path, err)
	}
	if res.StatusCode/100 == 2 {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: decoding the answer: %w", method, u.Path, err)
		}
		return nil
	}
	var st metav1.Status
	if json.Unmarshal(b, &st) == nil && st.Kind == "Status" && st.Status == metav1.StatusFailure {
		if st.Code == 0 {
			st.Code = int32(res.StatusCode)
		}
		return &apierrors.StatusError{ErrStatus: st}
	}
	verb := map[string]string{http.MethodGet: "get", http.MethodPost: "create", http.MethodPut: "update"}[method]
	return apierrors.NewGenericServerResponse(res.StatusCode, verb, gr, name, string(b), 0, true)
}
