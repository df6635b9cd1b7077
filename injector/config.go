package injector

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/hopscope/hopscope/internal/cliconfig"
)

// Config is the injector's configuration. Every field is a flag of
// `hopscope injector`, an environment variable HOPSCOPE_<FLAG> and a key of
// the --config YAML file, all of the same name.
type Config struct {
	// Listen is the HTTPS address the API server calls (--listen).
	Listen string
	// AdminListen serves /metrics, /healthz and /readyz over plain HTTP
	// (--admin-listen).
	AdminListen string
	// Template is the sidecar template file the chart mounts (--template).
	Template string
	// CertDir holds tls.crt and tls.key (cert-manager's Secret, mounted);
	// they are re-read when they change. Empty: the injector makes its own
	// self-signed certificate (--cert-dir).
	CertDir string
	// CertSecret is the Secret, in Namespace, that keeps the self-signed
	// certificate so that every replica serves the same one; the first
	// replica creates it (--cert-secret). Used when CertDir is empty.
	CertSecret string
	// WebhookConfig is the MutatingWebhookConfiguration whose caBundle the
	// injector fills with its self-signed CA (--webhook-config). Used when
	// CertDir is empty.
	WebhookConfig string
	// Namespace is the injector's own namespace (--namespace; the chart
	// sets it from the downward API).
	Namespace string
	// ServiceName is the injector's Service; the certificate is made for
	// its DNS names (--service-name).
	ServiceName string
	// ExtraSANs are more DNS names or IP addresses for the self-signed
	// certificate, for an injector reached by URL (--extra-san, repeated).
	ExtraSANs []string
	// Kubeconfig is a kubeconfig file for running outside the cluster;
	// empty uses the in-cluster service account (--kubeconfig).
	Kubeconfig string
	// ShutdownGrace is how long the injector keeps answering after SIGTERM
	// while the API server stops calling it (--shutdown-grace).
	ShutdownGrace time.Duration
}

// DefaultConfig is the configuration the chart starts from.
func DefaultConfig() Config {
	return Config{
		Listen:        ":8443",
		AdminListen:   ":9090",
		Template:      "/etc/hopscope/sidecar.yaml",
		CertSecret:    "hopscope-injector-tls",
		WebhookConfig: "hopscope-injector",
		Namespace:     "",
		ServiceName:   "hopscope-injector",
		ShutdownGrace: 5 * time.Second,
	}
}

// RegisterFlags adds the configuration's flags to fs.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Listen, "listen", c.Listen, "HTTPS address for the API server's admission calls")
	fs.StringVar(&c.AdminListen, "admin-listen", c.AdminListen, "admin address: /metrics, /healthz, /readyz")
	fs.StringVar(&c.Template, "template", c.Template, "sidecar template file rendered by the chart")
	fs.StringVar(&c.CertDir, "cert-dir", c.CertDir, "directory with tls.crt and tls.key; empty = self-signed")
	fs.StringVar(&c.CertSecret, "cert-secret", c.CertSecret, "Secret keeping the self-signed certificate")
	fs.StringVar(&c.WebhookConfig, "webhook-config", c.WebhookConfig, "MutatingWebhookConfiguration whose caBundle gets the self-signed CA")
	fs.StringVar(&c.Namespace, "namespace", c.Namespace, "the injector's namespace")
	fs.StringVar(&c.ServiceName, "service-name", c.ServiceName, "the injector's Service, named in its certificate")
	fs.Var(cliconfig.NewStringList(&c.ExtraSANs), "extra-san", "more DNS names or IPs for the self-signed certificate (repeatable)")
	fs.StringVar(&c.Kubeconfig, "kubeconfig", c.Kubeconfig, "kubeconfig file; empty = in-cluster")
	fs.DurationVar(&c.ShutdownGrace, "shutdown-grace", c.ShutdownGrace, "time to keep answering after SIGTERM")
}

// Validate reports every bad value, naming its flag.
func (c *Config) Validate() error {
	var errs []error
	bad := func(flag, format string, a ...any) {
		errs = append(errs, fmt.Errorf("--%s: %s", flag, fmt.Sprintf(format, a...)))
	}
	if err := cliconfig.ListenAddr("listen", c.Listen, false); err != nil {
		errs = append(errs, err)
	}
	if err := cliconfig.ListenAddr("admin-listen", c.AdminListen, true); err != nil {
		errs = append(errs, err)
	}
	if c.Template == "" {
		bad("template", "must name the sidecar template file")
	}
	if c.CertDir == "" {
		if c.Namespace == "" {
			bad("namespace", "must be set when the injector makes its own certificate (it keeps it in a Secret there)")
		}
		if c.CertSecret == "" {
			bad("cert-secret", "must be set when --cert-dir is empty")
		}
		if c.ServiceName == "" {
			bad("service-name", "must be set when --cert-dir is empty")
		}
	}
	for _, s := range c.ExtraSANs {
		if net.ParseIP(s) == nil && (s == "" || strings.ContainsAny(s, " /:")) {
			bad("extra-san", "%q is neither an IP address nor a DNS name", s)
		}
	}
	if c.ShutdownGrace < 0 {
		bad("shutdown-grace", "must not be negative")
	}
	return errors.Join(errs...)
}
