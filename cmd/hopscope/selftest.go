package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/hopscope/hopscope/internal/bearer"
	"github.com/hopscope/hopscope/internal/cli"
)

// selftestConfig is what `hopscope selftest` checks (the chart's helm test).
type selftestConfig struct {
	// Collector is the collector's internal API base URL (--collector).
	Collector string
	// OTLP is the collector's OTLP/HTTP base URL (--otlp).
	OTLP string
	// Injector is the injector's HTTPS base URL; empty skips it
	// (--injector).
	Injector string
	// Timeout bounds the whole test, retries included (--timeout).
	Timeout time.Duration
}

func (c *selftestConfig) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Collector, "collector", c.Collector, "collector API base URL, e.g. http://hopscope-collector.observability.svc:8088")
	fs.StringVar(&c.OTLP, "otlp", c.OTLP, "collector OTLP/HTTP base URL, e.g. http://hopscope-collector.observability.svc:4318")
	fs.StringVar(&c.Injector, "injector", c.Injector, "injector HTTPS base URL (empty = not checked)")
	fs.DurationVar(&c.Timeout, "timeout", c.Timeout, "give up after this long")
}

func (c *selftestConfig) Validate() error {
	var errs []error
	for _, f := range []struct {
		flag, v string
		schemes []string
	}{{"collector", c.Collector, []string{"http", "https"}}, {"otlp", c.OTLP, []string{"http", "https"}}, {"injector", c.Injector, []string{"https"}}} {
		if f.v == "" && f.flag == "injector" {
			continue
		}
		u, err := url.Parse(f.v)
		if err != nil || u.Host == "" || !slices.Contains(f.schemes, u.Scheme) {
			errs = append(errs, fmt.Errorf("--%s: must be an %s:// URL with a host, got %q", f.flag, strings.Join(f.schemes, ":// or "), f.v))
		}
	}
	if c.Timeout <= 0 {
		errs = append(errs, errors.New("--timeout: must be positive"))
	}
	return errors.Join(errs...)
}

// runSelftest checks a running installation the way a user's traffic
// would use it: the collector answers and accepts an OTLP export, and the
// injector patches an annotated pod with the sidecar. Each check is
// retried until --timeout (pods may still be starting).
func runSelftest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := selftestConfig{Timeout: 60 * time.Second}
	if err := cli.LoadConfig("hopscope selftest", &cfg, args, stderr); err != nil {
		return err
	}
	// The headers an OTLP sender is given (the chart's auth.enabled puts
	// the bearer token there, as for the sidecars).
	headers, err := bearer.TracesHeadersFromEnv()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	otlpURL := strings.TrimRight(cfg.OTLP, "/") + "/v1/traces"
	checks := []selfCheck{
		{"collector is healthy", func(ctx context.Context) error {
			return expectStatus(ctx, http.DefaultClient, "GET", strings.TrimRight(cfg.Collector, "/")+"/healthz", "", nil, nil, 200)
		}},
		{"collector accepts an OTLP/HTTP export", func(ctx context.Context) error {
			// An empty ExportTraceServiceRequest is a valid, empty protobuf message.
			return expectStatus(ctx, http.DefaultClient, "POST", otlpURL, "application/x-protobuf", headers, nil, 200)
		}},
	}
	if headers.Get("Authorization") != "" {
		checks = append(checks,
			selfCheck{"collector refuses an OTLP export without the token", func(ctx context.Context) error {
				return expectStatus(ctx, http.DefaultClient, "POST", otlpURL, "application/x-protobuf", nil, nil, 401)
			}},
			selfCheck{"collector API takes the token", func(ctx context.Context) error {
				return expectStatus(ctx, http.DefaultClient, "GET", strings.TrimRight(cfg.Collector, "/")+"/api/v1/breakdowns?limit=1", "", headers, nil, 200)
			}})
	}
	if cfg.Injector != "" {
		checks = append(checks, selfCheck{"injector adds the sidecar to an annotated pod", func(ctx context.Context) error { return checkInjector(ctx, cfg.Injector) }})
	}
	for _, c := range checks {
		var err, answered error
		for {
			if err = c.run(ctx); err == nil || ctx.Err() != nil {
				// Cut off by --timeout: say what the last answer was
				// (a 401 says more than "deadline exceeded").
				if err != nil && ctx.Err() != nil && answered != nil {
					err = answered
				}
				break
			}
			answered = err
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
		if err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
		fmt.Fprintf(stdout, "ok  %s\n", c.name)
	}
	return nil
}

// selfCheck is one check of `hopscope selftest`, retried until it passes.
type selfCheck struct {
	name string
	run  func(context.Context) error
}

func expectStatus(ctx context.Context, client *http.Client, method, u, contentType string, headers http.Header, body []byte, want int) error {
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	for k, v := range headers {
		req.Header[k] = v
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
	if res.StatusCode != want {
		return fmt.Errorf("%s %s: %s %s", method, u, res.Status, bytes.TrimSpace(b))
	}
	return nil
}

// selftestReview is an AdmissionReview for a pod that asks for the sidecar.
const selftestReview = `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{
"uid":"00000000-0000-0000-0000-00000000beef","kind":{"group":"","version":"v1","kind":"Pod"},
"resource":{"group":"","version":"v1","resource":"pods"},"namespace":"default","operation":"CREATE",
"userInfo":{"username":"hopscope-selftest"},
"object":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"selftest","annotations":{"hopscope.io/inject":"enabled"}},
"spec":{"containers":[{"name":"app","image":"example/app","ports":[{"name":"http","containerPort":8080}]}]}}}}`

// checkInjector sends the review and wants the sidecar in the patch. The
// injector's certificate is self-signed (the API server trusts it through
// the webhook's caBundle): the check is about what it answers.
func checkInjector(ctx context.Context, base string) error {
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	req, _ := http.NewRequestWithContext(ctx, "POST", strings.TrimRight(base, "/")+"/inject/pod", strings.NewReader(selftestReview))
	req.Header.Set("Content-Type", "application/json")
	res, err := client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	var review struct {
		Response struct {
			UID      string   `json:"uid"`
			Allowed  bool     `json:"allowed"`
			Patch    []byte   `json:"patch"`
			Warnings []string `json:"warnings"`
		} `json:"response"`
	}
	if err := json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(&review); err != nil {
		return fmt.Errorf("decoding the injector's answer (%s): %w", res.Status, err)
	}
	r := review.Response
	if !r.Allowed || r.UID != "00000000-0000-0000-0000-00000000beef" {
		return fmt.Errorf("answer not allowed or for another request: %+v", r)
	}
	if !bytes.Contains(r.Patch, []byte(`"hopscope-sidecar"`)) {
		return fmt.Errorf("no sidecar in the patch %s (warnings %v)", r.Patch, r.Warnings)
	}
	return nil
}
