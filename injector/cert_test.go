package injector

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// fakeKube is an in-memory KubeClient with the API server's optimistic
// concurrency: an update must carry the stored resourceVersion. Hooks run
// before a call (by its method name) and may change the store, as another
// replica would, or fail the call.
type fakeKube struct {
	mu      sync.Mutex
	rv      int
	secrets map[string]*corev1.Secret
	mwcs    map[string]*admissionregistrationv1.MutatingWebhookConfiguration
	calls   []string
	hooks   map[string]func(f *fakeKube) error
}

func newFakeKube() *fakeKube {
	return &fakeKube{secrets: map[string]*corev1.Secret{}, mwcs: map[string]*admissionregistrationv1.MutatingWebhookConfiguration{}, hooks: map[string]func(*fakeKube) error{}}
}

func (f *fakeKube) call(name string) error {
	f.calls = append(f.calls, name)
	if h := f.hooks[name]; h != nil {
		delete(f.hooks, name)
		return h(f)
	}
	return nil
}

func (f *fakeKube) nextRV() string { f.rv++; return strconv.Itoa(f.rv) }

func (f *fakeKube) putSecret(s *corev1.Secret) {
	s = s.DeepCopy()
	s.ResourceVersion = f.nextRV()
	f.secrets[s.Namespace+"/"+s.Name] = s
}

func (f *fakeKube) GetSecret(_ context.Context, namespace, name string) (*corev1.Secret, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("GetSecret"); err != nil {
		return nil, err
	}
	s, ok := f.secrets[namespace+"/"+name]
	if !ok {
		return nil, apierrors.NewNotFound(secrets, name)
	}
	return s.DeepCopy(), nil
}

func (f *fakeKube) CreateSecret(_ context.Context, s *corev1.Secret) (*corev1.Secret, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("CreateSecret"); err != nil {
		return nil, err
	}
	if _, ok := f.secrets[s.Namespace+"/"+s.Name]; ok {
		return nil, apierrors.NewAlreadyExists(secrets, s.Name)
	}
	f.putSecret(s)
	return f.secrets[s.Namespace+"/"+s.Name].DeepCopy(), nil
}

func (f *fakeKube) UpdateSecret(_ context.Context, s *corev1.Secret) (*corev1.Secret, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("UpdateSecret"); err != nil {
		return nil, err
	}
	old, ok := f.secrets[s.Namespace+"/"+s.Name]
	if !ok {
		return nil, apierrors.NewNotFound(secrets, s.Name)
	}
	if old.ResourceVersion != s.ResourceVersion {
		return nil, apierrors.NewConflict(secrets, s.Name, fmt.Errorf("resourceVersion %s, stored %s", s.ResourceVersion, old.ResourceVersion))
	}
	f.putSecret(s)
	return f.secrets[s.Namespace+"/"+s.Name].DeepCopy(), nil
}

func (f *fakeKube) GetMutatingWebhookConfiguration(_ context.Context, name string) (*admissionregistrationv1.MutatingWebhookConfiguration, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("GetMutatingWebhookConfiguration"); err != nil {
		return nil, err
	}
	c, ok := f.mwcs[name]
	if !ok {
		return nil, apierrors.NewNotFound(webhooks, name)
	}
	return c.DeepCopy(), nil
}

func (f *fakeKube) UpdateMutatingWebhookConfiguration(_ context.Context, c *admissionregistrationv1.MutatingWebhookConfiguration) (*admissionregistrationv1.MutatingWebhookConfiguration, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("UpdateMutatingWebhookConfiguration"); err != nil {
		return nil, err
	}
	old, ok := f.mwcs[c.Name]
	if !ok {
		return nil, apierrors.NewNotFound(webhooks, c.Name)
	}
	if old.ResourceVersion != c.ResourceVersion {
		return nil, apierrors.NewConflict(webhooks, c.Name, fmt.Errorf("resourceVersion %s, stored %s", c.ResourceVersion, old.ResourceVersion))
	}
	c = c.DeepCopy()
	c.ResourceVersion = f.nextRV()
	f.mwcs[c.Name] = c
	return c.DeepCopy(), nil
}

func (f *fakeKube) writes() (n int) {
	for _, c := range f.calls {
		if !strings.HasPrefix(c, "Get") {
			n++
		}
	}
	return n
}

const (
	testNS     = "observability"
	testSecret = "hopscope-injector-tls"
)

var testNames = dnsNames("hopscope-injector", testNS)

// storeSecret puts kp into the test Secret, as a replica would.
func (f *fakeKube) storeSecret(kp keyPair) {
	f.putSecret(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: testSecret},
		Data: map[string][]byte{secretCert: kp.cert, secretKey: kp.key, secretCA: kp.ca}})
}

// TestEnsureSecret: the pair in the Secret is used when it fits, else a
// new one is made and stored; replicas racing on Create or Update end up
// with the same pair, the one stored.
func TestEnsureSecret(t *testing.T) {
	now := time.Now()
	pair := func(names []string, at time.Time) keyPair {
		kp, err := selfSigned(names, at)
		if err != nil {
			t.Fatal(err)
		}
		return kp
	}
	fitting := pair(testNames, now)
	otherNames := pair([]string{"someone-else.example"}, now)
	expiring := pair(testNames, now.Add(-certValidity+certRenewBefore/2))
	winner := pair(testNames, now)
	for _, tc := range []struct {
		name   string
		stored *keyPair // nil: no Secret
		hooks  map[string]func(*fakeKube) error
		calls  string
		want   *keyPair // nil: a new pair
	}{
		{name: "none: created", calls: "GetSecret CreateSecret"},
		{name: "fitting: kept", stored: &fitting, calls: "GetSecret", want: &fitting},
		{name: "for other names: replaced", stored: &otherNames, calls: "GetSecret UpdateSecret"},
		{name: "expiring: replaced", stored: &expiring, calls: "GetSecret UpdateSecret"},
		{name: "another replica created it first: its pair", calls: "GetSecret CreateSecret GetSecret", want: &winner,
			hooks: map[string]func(*fakeKube) error{"CreateSecret": func(f *fakeKube) error { f.storeSecret(winner); return nil }}},
		{name: "another replica replaced it first: its pair", stored: &otherNames, calls: "GetSecret UpdateSecret GetSecret", want: &winner,
			hooks: map[string]func(*fakeKube) error{"UpdateSecret": func(f *fakeKube) error { f.storeSecret(winner); return nil }}},
		{name: "another replica touched it: retried", stored: &otherNames, calls: "GetSecret UpdateSecret GetSecret UpdateSecret",
			hooks: map[string]func(*fakeKube) error{"UpdateSecret": func(f *fakeKube) error { f.storeSecret(otherNames); return nil }}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeKube()
			if tc.stored != nil {
				f.storeSecret(*tc.stored)
			}
			f.calls = nil
			for k, h := range tc.hooks {
				f.hooks[k] = h
			}
			got, err := ensureSecret(context.Background(), f, testNS, testSecret, testNames, now)
			if err != nil {
				t.Fatal(err)
			}
			if calls := strings.Join(f.calls, " "); calls != tc.calls {
				t.Errorf("calls %q, want %q", calls, tc.calls)
			}
			if !got.usable(testNames, now) {
				t.Error("the pair returned does not serve the names")
			}
			if tc.want != nil && !bytes.Equal(got.cert, tc.want.cert) {
				t.Error("not the stored pair")
			}
			if tc.want == nil && tc.stored != nil && bytes.Equal(got.cert, tc.stored.cert) {
				t.Error("the stored pair was kept")
			}
			s := f.secrets[testNS+"/"+testSecret]
			if s == nil || !bytes.Equal(s.Data[secretCert], got.cert) || !bytes.Equal(s.Data[secretKey], got.key) || !bytes.Equal(s.Data[secretCA], got.ca) {
				t.Errorf("the Secret does not hold the pair returned: %+v", s)
			}
			if tc.stored == nil && tc.want == nil && (s.Type != corev1.SecretTypeTLS || s.Labels["app.kubernetes.io/managed-by"] != "hopscope-injector") {
				t.Errorf("created Secret: type %q, labels %v", s.Type, s.Labels)
			}
		})
	}
}

func TestEnsureSecretReadError(t *testing.T) {
	f := newFakeKube()
	f.hooks["GetSecret"] = func(*fakeKube) error {
		return apierrors.NewForbidden(secrets, testSecret, errors.New("no RBAC"))
	}
	_, err := ensureSecret(context.Background(), f, testNS, testSecret, testNames, time.Now())
	if err == nil || !strings.Contains(err.Error(), "reading Secret observability/hopscope-injector-tls") || !apierrors.IsForbidden(err) {
		t.Fatalf("err = %v", err)
	}
	if f.writes() != 0 {
		t.Errorf("wrote after a failed read: %v", f.calls)
	}
}

// TestPatchCABundle: every webhook of the configuration gets the CA, in
// one update, none when all have it; a conflicting update is retried.
func TestPatchCABundle(t *testing.T) {
	ca := []byte("-----BEGIN CERTIFICATE-----\nnew\n-----END CERTIFICATE-----\n")
	f := newFakeKube()
	f.mwcs["hopscope"] = &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "hopscope", ResourceVersion: f.nextRV()},
		Webhooks: []admissionregistrationv1.MutatingWebhook{
			{Name: "pod.inject.hopscope.io", ClientConfig: admissionregistrationv1.WebhookClientConfig{CABundle: []byte("old")}},
			{Name: "namespace.inject.hopscope.io"},
		},
	}
	f.hooks["UpdateMutatingWebhookConfiguration"] = func(f *fakeKube) error {
		f.mwcs["hopscope"].ResourceVersion = f.nextRV() // someone else wrote it
		return nil
	}
	if err := patchCABundle(context.Background(), f, "hopscope", ca); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(f.calls, " "), "GetMutatingWebhookConfiguration UpdateMutatingWebhookConfiguration GetMutatingWebhookConfiguration UpdateMutatingWebhookConfiguration"; got != want {
		t.Errorf("calls %q, want %q", got, want)
	}
	for _, w := range f.mwcs["hopscope"].Webhooks {
		if !bytes.Equal(w.ClientConfig.CABundle, ca) {
			t.Errorf("webhook %s: caBundle %q", w.Name, w.ClientConfig.CABundle)
		}
	}
	f.calls = nil
	if err := patchCABundle(context.Background(), f, "hopscope", ca); err != nil || f.writes() != 0 {
		t.Errorf("with the CA in place: err %v, calls %v", err, f.calls)
	}
	err := patchCABundle(context.Background(), f, "missing", ca)
	if err == nil || !strings.Contains(err.Error(), "reading MutatingWebhookConfiguration missing") || !apierrors.IsNotFound(err) {
		t.Errorf("missing configuration: %v", err)
	}
}
