package injector

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	admissionv1 "k8s.io/api/admission/v1"
)

// startWithCertDir runs an injector on loopback serving a certificate
// from a directory, as with cert-manager; it returns the injector and a
// client trusting that certificate's CA.
func startWithCertDir(t *testing.T) (*Injector, *http.Client, string) {
	t.Helper()
	dir := t.TempDir()
	kp, err := selfSigned([]string{"hopscope-injector.observability.svc", "127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "tls.crt"), kp.cert, 0o600)
	os.WriteFile(filepath.Join(dir, "tls.key"), kp.key, 0o600)
	cfg := DefaultConfig()
	cfg.Listen, cfg.AdminListen, cfg.CertDir, cfg.ShutdownGrace = "127.0.0.1:0", "127.0.0.1:0", dir, 0
	cfg.Template = filepath.Join("testdata", "sidecar-template.yaml")
	reg := prometheus.NewRegistry()
	inj, err := New(cfg, Options{Registerer: reg, Gatherer: reg})
	if err != nil {
		t.Fatal(err)
	}
	if err := inj.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inj.Shutdown(context.Background()) })
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(kp.ca)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	return inj, client, "https://" + inj.Addr().String()
}

const reviewTmpl = `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u-1",
"kind":{"group":"","version":"v1","kind":"KIND"},"resource":{"group":"","version":"v1","resource":"pods"},
"namespace":"shop","operation":"CREATE","userInfo":{"username":"test"},
"object":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","annotations":ANN},
"spec":{"containers":[{"name":"app","image":"x","ports":[{"name":"http","containerPort":8080}]}]}}}}`

func review(kind, ann string) string {
	return strings.NewReplacer("KIND", kind, "ANN", ann).Replace(reviewTmpl)
}

func TestServeReview(t *testing.T) {
	inj, client, base := startWithCertDir(t)
	for _, tc := range []struct {
		name, path, body string
		status           int
		patched          bool
		warning          string
	}{
		{"annotated pod", PathPod, review("Pod", `{"hopscope.io/inject":"enabled"}`), 200, true, ""},
		{"pod of a labelled namespace", PathNamespace, review("Pod", `{}`), 200, true, ""},
		{"pod asking for nothing", PathPod, review("Pod", `{}`), 200, false, ""},
		{"pod refusing in a labelled namespace", PathNamespace, review("Pod", `{"hopscope.io/inject":"disabled"}`), 200, false, ""},
		{"not a pod", PathPod, review("Deployment", `{"hopscope.io/inject":"enabled"}`), 200, false, ""},
		{"bad port-name annotation", PathPod, review("Pod", `{"hopscope.io/inject":"enabled","hopscope.io/port-name":"Not_A_Name"}`), 200, false, "not a port name"},
		{"garbage", PathPod, `{"apiVersion":`, 400, false, ""},
		{"no request", PathPod, `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`, 400, false, ""},
		{"too large", PathPod, `{"x":"` + strings.Repeat("a", maxReviewBytes) + `"}`, 413, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := client.Post(base+tc.path, "application/json", strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", res.StatusCode, tc.status, body)
			}
			if tc.status != 200 {
				return
			}
			var out admissionv1.AdmissionReview
			if err := json.Unmarshal(body, &out); err != nil || out.Response == nil {
				t.Fatalf("answer %s: %v", body, err)
			}
			r := out.Response
			if !r.Allowed || r.UID != "u-1" || out.APIVersion != "admission.k8s.io/v1" || out.Kind != "AdmissionReview" {
				t.Errorf("answer %s", body)
			}
			if got := bytes.Contains(r.Patch, []byte(ContainerName)); got != tc.patched {
				t.Errorf("patched %v, want %v: %s", got, tc.patched, r.Patch)
			}
			if tc.patched && (r.PatchType == nil || *r.PatchType != admissionv1.PatchTypeJSONPatch) {
				t.Errorf("patch type %v", r.PatchType)
			}
			if tc.warning != "" && !strings.Contains(strings.Join(r.Warnings, "\n"), tc.warning) {
				t.Errorf("warnings %q lack %q", r.Warnings, tc.warning)
			}
		})
	}
	for result, want := range map[string]float64{resultInjected: 2, resultSkipped: 4, resultError: 3} {
		if got := testutil.ToFloat64(inj.m.requests.WithLabelValues(result)); got != want {
			t.Errorf("hopscope_injector_requests_total{result=%q} = %v, want %v", result, got, want)
		}
	}
	res, err := http.Get("http://" + inj.AdminAddr().String() + "/readyz")
	if err != nil {
		t.Fatalf("/readyz: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Errorf("/readyz: %v", res.Status)
	}
}

// TestFileCertReload: a certificate rotated on disk (cert-manager renews
// its Secret) is served without a restart; a broken one is ignored.
func TestFileCertReload(t *testing.T) {
	dir := t.TempDir()
	write := func(name string) []byte {
		kp, err := selfSigned([]string{name}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, "tls.crt"), kp.cert, 0o600)
		os.WriteFile(filepath.Join(dir, "tls.key"), kp.key, 0o600)
		return kp.cert
	}
	write("first.example")
	fc := &fileCert{dir: dir}
	leafName := func() string {
		c, err := fc.GetCertificate(nil)
		if err != nil {
			t.Fatal(err)
		}
		leaf, _ := x509.ParseCertificate(c.Certificate[0])
		return leaf.DNSNames[0]
	}
	if n := leafName(); n != "first.example" {
		t.Fatalf("serving %s", n)
	}
	time.Sleep(10 * time.Millisecond) // a new modification time
	write("second.example")
	if n := leafName(); n != "first.example" {
		t.Errorf("reloaded before reloadEvery: %s", n)
	}
	fc.checked = time.Time{}
	if n := leafName(); n != "second.example" {
		t.Errorf("after rotation serving %s", n)
	}
	os.WriteFile(filepath.Join(dir, "tls.key"), []byte("broken"), 0o600)
	os.Chtimes(filepath.Join(dir, "tls.crt"), time.Now().Add(time.Minute), time.Now().Add(time.Minute))
	fc.checked = time.Time{}
	if n := leafName(); n != "second.example" {
		t.Errorf("a broken rotation replaced the certificate: %s", n)
	}
}

func TestSelfSignedUsable(t *testing.T) {
	now := time.Now()
	names := dnsNames("hopscope-injector", "observability")
	kp, err := selfSigned(append(names, "127.0.0.1"), now)
	if err != nil {
		t.Fatal(err)
	}
	if !kp.usable(names, now) || !kp.usable([]string{"127.0.0.1"}, now) {
		t.Error("a fresh certificate is not usable for its names")
	}
	if kp.usable([]string{"other.observability.svc"}, now) {
		t.Error("usable for a name it lacks")
	}
	if kp.usable(names, now.Add(certValidity-certRenewBefore+time.Hour)) {
		t.Error("usable although it expires within certRenewBefore")
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(kp.ca)
	pair, _ := tls.X509KeyPair(kp.cert, kp.key)
	leaf, _ := x509.ParseCertificate(pair.Certificate[0])
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "hopscope-injector.observability.svc", Roots: pool}); err != nil {
		t.Errorf("the leaf does not verify against its CA: %v", err)
	}
}

func TestConfigValidateNamesTheFlag(t *testing.T) {
	for _, tc := range []struct {
		mutate func(*Config)
		want   string
	}{
		{func(c *Config) { c.Listen = "nope" }, "--listen"},
		{func(c *Config) { c.Template = "" }, "--template"},
		{func(c *Config) { c.Namespace = "" }, "--namespace"},
		{func(c *Config) { c.ExtraSANs = []string{"a b"} }, "--extra-san"},
		{func(c *Config) { c.ShutdownGrace = -1 }, "--shutdown-grace"},
	} {
		c := DefaultConfig()
		c.Namespace = "observability"
		tc.mutate(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want one naming %s", err, tc.want)
		}
	}
	c := DefaultConfig()
	c.CertDir = "/etc/tls" // cert-manager: no namespace needed
	if err := c.Validate(); err != nil {
		t.Errorf("cert-dir config: %v", err)
	}
}
