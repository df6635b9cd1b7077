package injector

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
)

// Paths the webhook configuration calls: one for pods that ask by
// annotation, one for every pod of a namespace labelled
// hopscope.io/inject=enabled.
const (
	PathPod       = "/inject/pod"
	PathNamespace = "/inject/namespace"
)

// maxReviewBytes bounds an AdmissionReview body (a pod with large
// annotations stays far below it; the API server's own limit is 3 MiB per
// object).
const maxReviewBytes = 8 << 20

// Options are what the caller provides besides Config.
type Options struct {
	// Registerer receives the injector's metrics; Gatherer serves them.
	// Both nil: a private registry.
	Registerer prometheus.Registerer
	Gatherer   prometheus.Gatherer
	// Logger receives diagnostics; nop when nil.
	Logger *zap.Logger
	// Client talks to the API server for the self-signed certificate; nil
	// builds one from --kubeconfig or the in-cluster service account.
	Client KubeClient
	// Now is the clock for certificates; time.Now when nil.
	Now func() time.Time
}

// Injector is the webhook server.
type Injector struct {
	cfg    Config
	tmpl   Template
	opts   Options
	log    *zap.Logger
	client KubeClient
	m      *metrics

	ln, adminLn   net.Listener
	srv, adminSrv *http.Server
	ready         atomic.Bool
	wg            sync.WaitGroup
	cancel        context.CancelFunc
}

// New validates cfg and loads the sidecar template.
func New(cfg Config, opts Options) (*Injector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	tmpl, err := LoadTemplate(cfg.Template)
	if err != nil {
		return nil, fmt.Errorf("--template: %w", err)
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Registerer == nil && opts.Gatherer == nil {
		reg := prometheus.NewRegistry()
		opts.Registerer, opts.Gatherer = reg, reg
	}
	if opts.Registerer == nil || opts.Gatherer == nil {
		return nil, errors.New("injector: Options.Registerer and Options.Gatherer go together")
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, fmt.Errorf("registering metrics: %w", err)
	}
	return &Injector{cfg: cfg, tmpl: tmpl, opts: opts, log: opts.Logger, client: opts.Client, m: m}, nil
}

// Start gets the serving certificate (from --cert-dir, or self-signed,
// kept in a Secret and put into the webhook's caBundle) and serves. With a
// self-signed certificate, the caBundle is patched in the background until
// it succeeds (the webhook configuration may be created after the
// injector starts); /readyz answers 503 until then.
func (i *Injector) Start(ctx context.Context) error {
	ctx, i.cancel = context.WithCancel(context.WithoutCancel(ctx))
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	var ca []byte
	if i.cfg.CertDir != "" {
		fc := &fileCert{dir: i.cfg.CertDir}
		if err := fc.load(); err != nil {
			return err
		}
		tlsCfg.GetCertificate = fc.GetCertificate
	} else {
		if i.client == nil {
			c, err := newClient(i.cfg.Kubeconfig)
			if err != nil {
				return err
			}
			i.client = c
		}
		names := allNames(i.cfg)
		if names == nil {
			return errNoNames
		}
		kp, err := ensureSecret(ctx, i.client, i.cfg.Namespace, i.cfg.CertSecret, names, i.opts.Now())
		if err != nil {
			return fmt.Errorf("self-signed certificate: %w", err)
		}
		pair, err := tls.X509KeyPair(kp.cert, kp.key)
		if err != nil {
			return fmt.Errorf("self-signed certificate: %w", err)
		}
		tlsCfg.Certificates = []tls.Certificate{pair}
		ca = kp.ca
	}

	ln, err := net.Listen("tcp", i.cfg.Listen)
	if err != nil {
		return fmt.Errorf("--listen %s: %w", i.cfg.Listen, err)
	}
	i.ln = ln
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+PathPod, func(w http.ResponseWriter, r *http.Request) { i.serveReview(w, r, false) })
	mux.HandleFunc("POST "+PathNamespace, func(w http.ResponseWriter, r *http.Request) { i.serveReview(w, r, true) })
	i.srv = &http.Server{Handler: mux, TLSConfig: tlsCfg, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		ErrorLog: zap.NewStdLog(i.log.Named("http"))}
	i.wg.Add(1)
	go func() {
		defer i.wg.Done()
		if err := i.srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			i.log.Error("webhook server stopped", zap.Error(err))
		}
	}()

	if i.cfg.AdminListen != "" {
		aln, err := net.Listen("tcp", i.cfg.AdminListen)
		if err != nil {
			i.srv.Close()
			return fmt.Errorf("--admin-listen %s: %w", i.cfg.AdminListen, err)
		}
		i.adminLn = aln
		amux := http.NewServeMux()
		amux.Handle("GET /metrics", promhttp.HandlerFor(i.opts.Gatherer, promhttp.HandlerOpts{}))
		amux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
		amux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
			if !i.ready.Load() {
				http.Error(w, "not ready: the webhook's caBundle is not patched yet", http.StatusServiceUnavailable)
				return
			}
			io.WriteString(w, "ok\n")
		})
		i.adminSrv = &http.Server{Handler: amux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: zap.NewStdLog(i.log.Named("http"))}
		i.wg.Add(1)
		go func() {
			defer i.wg.Done()
			if err := i.adminSrv.Serve(aln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				i.log.Error("admin server stopped", zap.Error(err))
			}
		}()
	}

	if ca == nil || i.cfg.WebhookConfig == "" {
		i.ready.Store(true)
		return nil
	}
	i.wg.Add(1)
	go func() {
		defer i.wg.Done()
		for delay := 500 * time.Millisecond; ; delay = min(2*delay, 30*time.Second) {
			err := patchCABundle(ctx, i.client, i.cfg.WebhookConfig, ca)
			if err == nil {
				i.log.Info("webhook caBundle set", zap.String("webhook_config", i.cfg.WebhookConfig))
				i.ready.Store(true)
				return
			}
			i.log.Warn("setting the webhook's caBundle; retrying", zap.Error(err), zap.Duration("in", delay))
			select {
			case <-ctx.Done():
				return
			case <-time.After(delay):
			}
		}
	}()
	return nil
}

// Addr is the webhook's HTTPS address; AdminAddr the admin one (nil when
// off).
func (i *Injector) Addr() net.Addr { return i.ln.Addr() }

// AdminAddr is the admin server's address, nil when it is off.
func (i *Injector) AdminAddr() net.Addr {
	if i.adminLn == nil {
		return nil
	}
	return i.adminLn.Addr()
}

// Ready tells whether the injector serves with its CA in the webhook
// configuration.
func (i *Injector) Ready() bool { return i.ready.Load() }

// Shutdown stops serving: /readyz fails at once, admission calls are
// answered for ShutdownGrace (the API server is told by the endpoints
// going away), then the servers close, within ctx.
func (i *Injector) Shutdown(ctx context.Context) error {
	i.ready.Store(false)
	select {
	case <-ctx.Done():
	case <-time.After(i.cfg.ShutdownGrace):
	}
	if i.cancel != nil {
		i.cancel()
	}
	var errs []error
	for _, s := range []*http.Server{i.srv, i.adminSrv} {
		if s != nil {
			errs = append(errs, s.Shutdown(ctx))
		}
	}
	i.wg.Wait()
	return errors.Join(errs...)
}

// serveReview answers one AdmissionReview. Whatever happens the pod is
// allowed: a failure to patch becomes a warning, never a refusal.
func (i *Injector) serveReview(w http.ResponseWriter, r *http.Request, namespaceEnabled bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxReviewBytes))
	if err != nil {
		i.m.requests.WithLabelValues(resultError).Inc()
		http.Error(w, "reading the AdmissionReview: "+err.Error(), http.StatusRequestEntityTooLarge)
		return
	}
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &review); err != nil || review.Request == nil {
		i.m.requests.WithLabelValues(resultError).Inc()
		msg := "the body is not an admission.k8s.io/v1 AdmissionReview with a request"
		if err != nil {
			msg += ": " + err.Error()
		}
		http.Error(w, msg, http.StatusBadRequest)
		return
	}
	resp, result := i.review(review.Request, namespaceEnabled)
	i.m.requests.WithLabelValues(result).Inc()
	out := admissionv1.AdmissionReview{TypeMeta: review.TypeMeta, Response: resp}
	if out.APIVersion == "" {
		out.APIVersion, out.Kind = "admission.k8s.io/v1", "AdmissionReview"
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

// Results counted in hopscope_injector_requests_total{result}.
const (
	resultInjected = "injected"
	resultSkipped  = "skipped"
	resultError    = "error"
)

func (i *Injector) review(req *admissionv1.AdmissionRequest, namespaceEnabled bool) (*admissionv1.AdmissionResponse, string) {
	resp := &admissionv1.AdmissionResponse{UID: req.UID, Allowed: true}
	if req.Kind.Kind != "Pod" || req.Kind.Group != "" || req.Operation != admissionv1.Create {
		return resp, resultSkipped
	}
	var pod corev1.Pod
	if err := json.Unmarshal(req.Object.Raw, &pod); err != nil {
		resp.Warnings = []string{"hopscope: sidecar not injected: the pod could not be decoded: " + err.Error()}
		i.log.Warn("undecodable pod", zap.String("namespace", req.Namespace), zap.Error(err))
		return resp, resultError
	}
	res := Mutate(i.tmpl, &pod, namespaceEnabled)
	resp.Warnings = res.Warnings
	name := pod.Name
	if name == "" {
		name = pod.GenerateName + "…"
	}
	if res.Skipped != "" {
		i.log.Debug("not injected", zap.String("namespace", req.Namespace), zap.String("pod", name), zap.String("why", res.Skipped))
		return resp, resultSkipped
	}
	patch, err := MarshalPatch(res.Patch)
	if err != nil {
		resp.Warnings = append(resp.Warnings, "hopscope: sidecar not injected: "+err.Error())
		return resp, resultError
	}
	pt := admissionv1.PatchTypeJSONPatch
	resp.Patch, resp.PatchType = patch, &pt
	i.log.Info("injected", zap.String("namespace", req.Namespace), zap.String("pod", name))
	return resp, resultInjected
}
