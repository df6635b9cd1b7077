package injector

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
)

// Keys of the Secret that keeps the self-signed certificate.
const (
	secretCert = "tls.crt"
	secretKey  = "tls.key"
	secretCA   = "ca.crt"
)

// certValidity is the life of a self-signed certificate; one with less
// than certRenewBefore left is replaced at the next start.
const (
	certValidity    = 5 * 365 * 24 * time.Hour
	certRenewBefore = 90 * 24 * time.Hour
)

// keyPair is a serving certificate and the CA that signed it.
type keyPair struct {
	cert, key, ca []byte // PEM
}

// dnsNames are the names the API server uses to reach the Service.
func dnsNames(service, namespace string) []string {
	return []string{service, service + "." + namespace, service + "." + namespace + ".svc", service + "." + namespace + ".svc.cluster.local"}
}

// selfSigned makes a CA and a serving certificate for names (DNS names or
// IP addresses) valid from now.
func selfSigned(names []string, now time.Time) (keyPair, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return keyPair{}, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "hopscope-injector-ca"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(certValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return keyPair{}, err
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return keyPair{}, err
	}
	leaf := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: names[0]},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(certValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			leaf.IPAddresses = append(leaf.IPAddresses, ip)
		} else {
			leaf.DNSNames = append(leaf.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		return keyPair{}, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return keyPair{}, err
	}
	return keyPair{
		cert: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		key:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
		ca:   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
	}, nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}

// usable tells whether kp is a valid pair covering names for long enough.
func (kp keyPair) usable(names []string, now time.Time) bool {
	pair, err := tls.X509KeyPair(kp.cert, kp.key)
	if err != nil || len(kp.ca) == 0 {
		return false
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil || now.Add(certRenewBefore).After(leaf.NotAfter) {
		return false
	}
	for _, n := range names {
		if leaf.VerifyHostname(n) != nil {
			return false
		}
	}
	return true
}

// ensureSecret returns the certificate kept in the Secret, making and
// storing a new one when there is none or it no longer fits. Replicas
// starting together race on Create or Update; the loser reads the
// winner's.
func ensureSecret(ctx context.Context, client KubeClient, namespace, name string, names []string, now time.Time) (keyPair, error) {
	var out keyPair
	err := retry.OnError(retry.DefaultRetry, func(err error) bool {
		return apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err)
	}, func() error {
		s, err := client.GetSecret(ctx, namespace, name)
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("reading Secret %s/%s: %w", namespace, name, err)
		}
		if err == nil {
			kp := keyPair{cert: s.Data[secretCert], key: s.Data[secretKey], ca: s.Data[secretCA]}
			if kp.usable(names, now) {
				out = kp
				return nil
			}
		}
		kp, genErr := selfSigned(names, now)
		if genErr != nil {
			return fmt.Errorf("making a certificate: %w", genErr)
		}
		data := map[string][]byte{secretCert: kp.cert, secretKey: kp.key, secretCA: kp.ca}
		if apierrors.IsNotFound(err) {
			_, err = client.CreateSecret(ctx, &corev1.Secret{
				TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
				ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: map[string]string{"app.kubernetes.io/managed-by": "hopscope-injector"}},
				Type:       corev1.SecretTypeTLS, Data: data,
			})
		} else {
			s.Data = data
			_, err = client.UpdateSecret(ctx, s)
		}
		if err != nil {
			return err
		}
		out = kp
		return nil
	})
	return out, err
}

// patchCABundle puts ca into every webhook of the named
// MutatingWebhookConfiguration that does not have it yet.
func patchCABundle(ctx context.Context, client KubeClient, webhookConfig string, ca []byte) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		mwc, err := client.GetMutatingWebhookConfiguration(ctx, webhookConfig)
		if err != nil {
			return fmt.Errorf("reading MutatingWebhookConfiguration %s: %w", webhookConfig, err)
		}
		changed := false
		for i := range mwc.Webhooks {
			if !bytes.Equal(mwc.Webhooks[i].ClientConfig.CABundle, ca) {
				mwc.Webhooks[i].ClientConfig.CABundle = ca
				changed = true
			}
		}
		if !changed {
			return nil
		}
		_, err = client.UpdateMutatingWebhookConfiguration(ctx, mwc)
		return err
	})
}

// fileCert serves the certificate in dir (cert-manager's Secret, mounted),
// re-reading it at most every reloadEvery when its files change.
type fileCert struct {
	dir string

	mu      sync.Mutex
	cert    *tls.Certificate
	modTime time.Time
	checked time.Time
}

const reloadEvery = 10 * time.Second

func (f *fileCert) load() error {
	crt, key := filepath.Join(f.dir, secretCert), filepath.Join(f.dir, secretKey)
	st, err := os.Stat(crt)
	if err != nil {
		return fmt.Errorf("--cert-dir: %w", err)
	}
	if f.cert != nil && st.ModTime().Equal(f.modTime) {
		return nil
	}
	pair, err := tls.LoadX509KeyPair(crt, key)
	if err != nil {
		return fmt.Errorf("--cert-dir: loading %s and %s: %w", crt, key, err)
	}
	f.cert, f.modTime = &pair, st.ModTime()
	return nil
}

// GetCertificate is tls.Config.GetCertificate. A failed reload keeps
// serving the certificate it had.
func (f *fileCert) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if now := time.Now(); now.Sub(f.checked) >= reloadEvery || f.cert == nil {
		f.checked = now
		if err := f.load(); err != nil && f.cert == nil {
			return nil, err
		}
	}
	return f.cert, nil
}

// allNames is the Service's DNS names and the extra ones, without repeats.
func allNames(cfg Config) []string {
	names := slices.Clone(cfg.ExtraSANs)
	if cfg.ServiceName != "" && cfg.Namespace != "" {
		names = append(dnsNames(cfg.ServiceName, cfg.Namespace), names...)
	}
	slices.Sort(names)
	names = slices.Compact(names)
	if len(names) == 0 {
		return nil
	}
	return names
}

var errNoNames = errors.New("no names for the self-signed certificate: set --service-name and --namespace")
