// Command promoperator writes the Prometheus configuration the Prometheus
// Operator would generate from the ServiceMonitor, PodMonitor and
// PrometheusRule objects of a cluster, using the Operator's own generator
// (github.com/prometheus-operator/prometheus-operator/pkg/prometheus), so
// that tests scrape hopscope as users of kube-prometheus-stack do: with the
// Operator's relabelings, target labels and honor_labels defaults.
//
// It reads the objects from the API server named by --kubeconfig, as the
// Operator's informers would, and writes into --out:
//
//	prometheus.yaml          the configuration (global, rule_files, scrape_configs)
//	rules/<ns>-<name>.yaml   one rule file per PrometheusRule, as the Operator's
//	                         rule ConfigMaps hold them
//
// Three things differ from a Prometheus the Operator runs, each where the
// Operator assumes it runs in a pod: the generated kubernetes_sd_configs
// reach the API server through --api-server with the client certificate
// given (the Prometheus object's apiserverConfig, an Operator feature);
// rule_files point at --out/rules instead of /etc/prometheus/rules; and
// $(SHARD) is expanded to 0, as the Operator's config-reloader expands it
// from its pod's environment.
//
// Usage:
//
//	promoperator --kubeconfig K --api-server https://127.0.0.1:6443 \
//	  --ca ca.crt --cert admin.crt --key admin.key --out DIR
//
// The Operator's CustomResourceDefinitions are in its module, under
// example/prometheus-operator-crd (go mod download -json in this directory
// names where).
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/prometheus-operator/prometheus-operator/pkg/assets"
	monclient "github.com/prometheus-operator/prometheus-operator/pkg/client/versioned"
	"github.com/prometheus-operator/prometheus-operator/pkg/operator"
	prompkg "github.com/prometheus-operator/prometheus-operator/pkg/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "promoperator:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		kubeconfig = flag.String("kubeconfig", "", "kubeconfig of the cluster to read the monitoring objects from")
		apiServer  = flag.String("api-server", "", "API server URL the generated kubernetes_sd_configs use (the Prometheus object's apiserverConfig.host)")
		ca         = flag.String("ca", "", "CA file of the API server")
		cert       = flag.String("cert", "", "client certificate file Prometheus presents to the API server")
		key        = flag.String("key", "", "client key file")
		out        = flag.String("out", "", "directory to write prometheus.yaml and rules/ into")
		interval   = flag.String("scrape-interval", "5s", "the Prometheus object's scrapeInterval (and evaluationInterval)")
		version    = flag.String("prometheus-version", "v3.5.0", "the Prometheus object's version: the generator writes what that version understands")
	)
	flag.Parse()
	for name, v := range map[string]string{"--kubeconfig": *kubeconfig, "--api-server": *apiServer, "--ca": *ca, "--cert": *cert, "--key": *key, "--out": *out} {
		if v == "" {
			return fmt.Errorf("%s is required", name)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	rc, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		return fmt.Errorf("reading --kubeconfig: %w", err)
	}
	mc, err := monclient.NewForConfig(rc)
	if err != nil {
		return err
	}
	kc, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}

	// A Prometheus object as kube-prometheus-stack's, selecting every
	// monitor and rule in every namespace (its chart's
	// serviceMonitorSelectorNilUsesHelmValues=false).
	everything := &metav1.LabelSelector{}
	p := &monitoringv1.Prometheus{
		ObjectMeta: metav1.ObjectMeta{Name: "k8s", Namespace: "monitoring"},
		Spec: monitoringv1.PrometheusSpec{
			CommonPrometheusFields: monitoringv1.CommonPrometheusFields{
				Version:                         *version,
				ScrapeInterval:                  monitoringv1.Duration(*interval),
				ServiceMonitorSelector:          everything,
				ServiceMonitorNamespaceSelector: everything,
				PodMonitorSelector:              everything,
				PodMonitorNamespaceSelector:     everything,
				APIServerConfig: &monitoringv1.APIServerConfig{
					Host:      *apiServer,
					TLSConfig: &monitoringv1.TLSConfig{CAFile: *ca, CertFile: *cert, KeyFile: *key},
				},
			},
			EvaluationInterval:    monitoringv1.Duration(*interval),
			RuleSelector:          everything,
			RuleNamespaceSelector: everything,
		},
	}
	cg, err := prompkg.NewConfigGenerator(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})), p)
	if err != nil {
		return fmt.Errorf("the Operator's config generator: %w", err)
	}

	sms, err := mc.MonitoringV1().ServiceMonitors("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("listing ServiceMonitors: %w", err)
	}
	pms, err := mc.MonitoringV1().PodMonitors("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("listing PodMonitors: %w", err)
	}
	prs, err := mc.MonitoringV1().PrometheusRules("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("listing PrometheusRules: %w", err)
	}
	// The generator keys monitors by namespace/name, as the Operator's
	// resource selector does.
	smMap := map[string]*monitoringv1.ServiceMonitor{}
	for i := range sms.Items {
		sm := &sms.Items[i]
		smMap[sm.Namespace+"/"+sm.Name] = sm
	}
	pmMap := map[string]*monitoringv1.PodMonitor{}
	for i := range pms.Items {
		pm := &pms.Items[i]
		pmMap[pm.Namespace+"/"+pm.Name] = pm
	}

	const ruleDir = "prometheus-k8s-rulefiles-0"
	conf, err := cg.GenerateServerConfiguration(p, smMap, pmMap, nil, nil,
		assets.NewStoreBuilder(kc.CoreV1(), kc.CoreV1()), nil, nil, nil, []string{ruleDir})
	if err != nil {
		return fmt.Errorf("generating the configuration: %w", err)
	}
	rulesOut := filepath.Join(*out, "rules")
	if err := os.MkdirAll(rulesOut, 0o755); err != nil {
		return err
	}
	conf = []byte(strings.ReplaceAll(string(conf), prompkg.RulesDir+"/"+ruleDir, rulesOut))
	// The Operator's config-reloader expands $(SHARD) (its pod's shard
	// number, from the environment) before Prometheus reads the file; one
	// shard here.
	conf = []byte(strings.ReplaceAll(string(conf), "$(SHARD)", "0"))
	if err := os.WriteFile(filepath.Join(*out, "prometheus.yaml"), conf, 0o644); err != nil {
		return err
	}

	var names []string
	for i := range prs.Items {
		pr := &prs.Items[i]
		if errs := operator.ValidateRule(pr.Spec); len(errs) > 0 {
			return fmt.Errorf("PrometheusRule %s/%s: the Operator would reject it: %v", pr.Namespace, pr.Name, errs)
		}
		// The rule file as the Operator writes it into its ConfigMap: the
		// spec (groups) marshalled as YAML.
		content, err := yaml.Marshal(pr.Spec)
		if err != nil {
			return fmt.Errorf("PrometheusRule %s/%s: %w", pr.Namespace, pr.Name, err)
		}
		name := fmt.Sprintf("%s-%s.yaml", pr.Namespace, pr.Name)
		if err := os.WriteFile(filepath.Join(rulesOut, name), content, 0o644); err != nil {
			return err
		}
		names = append(names, name)
	}
	sort.Strings(names)
	fmt.Printf("wrote %s: %d ServiceMonitors, %d PodMonitors; rule files %v\n", filepath.Join(*out, "prometheus.yaml"), len(smMap), len(pmMap), names)
	return nil
}
