// Command cluster brings up a real single-node Kubernetes cluster on this
// machine and tears it down: etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler, the kubelet on containerd's CRI with runc, kube-proxy in
// iptables mode, the bridge CNI with host-local IPAM and CoreDNS, all
// built from tools/ or installed from Debian, with every image built here
// without a container daemon. Then, unless --workloads=false, it installs
// hopscope as a user would (helm install), the shop example in a Pod
// Security "restricted" namespace with the injected sidecar, an ingress
// nginx, Jaeger v2, and on the node HAProxy in the load balancer's place,
// PostgreSQL and Redis (as RDS and ElastiCache are outside a cluster) and
// Prometheus discovering the pods.
//
//	go run ./test/cluster up      # prints one JSON line: kubeconfig and URLs
//	go run ./test/cluster down    # removes everything up made
//
// Pod and Service addresses live only on a bridge this command creates;
// nothing is masqueraded or routed off the machine. It runs as root.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hopscope/hopscope/internal/modroot"
)

// cluster is one run of `up` or `down`.
type cluster struct {
	cfg  Config
	root string // the hopscope module
	st   *state
	pki  *pki
	bins map[string]string
	out  io.Writer
	t0   time.Time
}

func (k *cluster) progress(format string, a ...any) {
	fmt.Fprintf(k.out, "[%5.1fs] %s\n", time.Since(k.t0).Seconds(), fmt.Sprintf(format, a...))
}

func main() {
	if err := run1(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		os.Exit(1)
	}
}

func run1(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: cluster up|down|ship-logs [flags]")
	}
	cfg := DefaultConfig()
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.StringVar(&cfg.StateDir, "state-dir", cfg.StateDir, "where the cluster keeps everything")
	fs.StringVar(&cfg.Bridge, "bridge", cfg.Bridge, "the pods' bridge")
	fs.Func("pod-cidr", "pods' subnet (default "+cfg.PodCIDR.String()+")", func(s string) (err error) { cfg.PodCIDR, err = netip.ParsePrefix(s); return })
	fs.Func("service-cidr", "ClusterIP range (default "+cfg.ServiceCIDR.String()+")", func(s string) (err error) { cfg.ServiceCIDR, err = netip.ParsePrefix(s); return })
	fs.IntVar(&cfg.EdgePort, "edge-port", cfg.EdgePort, "127.0.0.1 port of the load balancer")
	fs.IntVar(&cfg.CollectorPort, "collector-port", cfg.CollectorPort, "127.0.0.1 port of the collector's API and UI")
	fs.IntVar(&cfg.JaegerPort, "jaeger-port", cfg.JaegerPort, "127.0.0.1 port of Jaeger's query API")
	fs.IntVar(&cfg.PrometheusPort, "prometheus-port", cfg.PrometheusPort, "127.0.0.1 port of Prometheus")
	fs.IntVar(&cfg.EtcdPort, "etcd-port", cfg.EtcdPort, "127.0.0.1 port of etcd (and the next one)")
	fs.BoolVar(&cfg.Workloads, "workloads", cfg.Workloads, "install hopscope, the shop, the ingress, Jaeger and the backends")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	root, err := modroot.FromWorkingDir()
	if err != nil {
		return err
	}
	k := &cluster{cfg: cfg, root: root, out: os.Stderr, t0: time.Now()}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch args[0] {
	case "up":
		res, err := k.up(ctx)
		if err != nil {
			return err
		}
		b, _ := json.Marshal(res)
		fmt.Println(string(b))
		return nil
	case "down":
		return k.down()
	case "ship-logs":
		return shipLogs(ctx, cfg, fs.Args())
	}
	return fmt.Errorf("unknown command %q: up, down", args[0])
}

// Result is `up`'s last line of output.
type Result struct {
	Kubeconfig string `json:"kubeconfig"`
	Edge       string `json:"edge"`
	Collector  string `json:"collector"`
	Jaeger     string `json:"jaeger"`
	Prometheus string `json:"prometheus"`
	NodeIP     string `json:"node_ip"`
	StateDir   string `json:"state_dir"`
	// APITokenFile holds the bearer token the collector's API and OTLP
	// ports want (the chart's auth.enabled): hopscope breakdown
	// --token-file, or "Authorization: Bearer $(cat FILE)".
	APITokenFile string `json:"api_token_file"`
}

// up starts the cluster; when a step fails it tears down what it made.
func (k *cluster) up(ctx context.Context) (res *Result, err error) {
	if err := k.checkPrereqs(); err != nil {
		return nil, err
	}
	if old, _ := loadState(k.cfg.path("state.json")); old != nil {
		for _, p := range old.Processes {
			if p.alive() {
				return nil, fmt.Errorf("a cluster is up already in %s (%s, pid %d): go run ./test/cluster down", k.cfg.StateDir, p.Name, p.PID)
			}
		}
	}
	// Only ever remove a directory this command made.
	if entries, err := os.ReadDir(k.cfg.StateDir); err == nil && len(entries) > 0 {
		if _, err := os.Stat(k.cfg.path("state.json")); err != nil {
			return nil, fmt.Errorf("--state-dir %s is not empty and holds no state.json of this command: choose another", k.cfg.StateDir)
		}
	}
	if err := os.RemoveAll(k.cfg.StateDir); err != nil {
		return nil, err
	}
	if k.st, err = loadState(k.cfg.path("state.json")); err != nil {
		return nil, err
	}
	k.st.NetNSBefore = listNetNS()
	if err := k.st.save(); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			k.progress("failed: %v; tearing down what was started", err)
			if derr := k.down(); derr != nil {
				err = fmt.Errorf("%w (and tearing down: %v)", err, derr)
			}
		}
	}()
	steps := []struct {
		what string
		do   func(context.Context) error
	}{
		{"certificates and kubeconfig", k.makePKI},
		{"images (built without a daemon)", k.buildImages},
		{"bridge, sysctls and forward guard", func(context.Context) error { return k.setupNetwork() }},
		{"containerd", k.startContainerd},
		{"images imported into containerd", k.importImages},
		{"control plane", k.startControlPlane},
		{"kubelet", k.startKubelet},
		{"kube-proxy", func(context.Context) error { return k.startKubeProxy() }},
		{"node Ready and CoreDNS", k.addons},
	}
	if k.cfg.Workloads {
		steps = append(steps, struct {
			what string
			do   func(context.Context) error
		}{"workloads", k.installWorkloads})
	}
	for _, s := range steps {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("interrupted before %s", s.what)
		}
		k.progress("%s ...", s.what)
		if err := s.do(ctx); err != nil {
			return nil, fmt.Errorf("%s: %w", s.what, err)
		}
	}
	k.progress("up")
	return k.result(), nil
}

// result is what up prints.
func (k *cluster) result() *Result {
	return &Result{
		Kubeconfig:   k.kubeconfig(),
		Edge:         fmt.Sprintf("http://127.0.0.1:%d", k.cfg.EdgePort),
		Collector:    fmt.Sprintf("http://127.0.0.1:%d", k.cfg.CollectorPort),
		Jaeger:       fmt.Sprintf("http://127.0.0.1:%d", k.cfg.JaegerPort),
		Prometheus:   fmt.Sprintf("http://127.0.0.1:%d", k.cfg.PrometheusPort),
		NodeIP:       k.cfg.NodeIP().String(),
		StateDir:     k.cfg.StateDir,
		APITokenFile: k.cfg.path("api-token"),
	}
}

func (k *cluster) makePKI(context.Context) (err error) {
	if k.pki, err = newPKI(k.cfg.path("pki"), k.cfg); err != nil {
		return err
	}
	return k.pki.kubeconfig(k.kubeconfig(), k.apiURL())
}

// listNetNS lists the named network namespaces.
func listNetNS() []string {
	var names []string
	entries, _ := os.ReadDir("/var/run/netns")
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}
