package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// daemon starts a long-running component in a session of its own (it
// outlives `up`), its output in logs/NAME.log, and records its pid.
func (k *cluster) daemon(name, bin string, args []string, opts ...func(*exec.Cmd)) error {
	if err := os.MkdirAll(k.cfg.path("logs"), 0o755); err != nil {
		return err
	}
	logf, err := os.OpenFile(k.cfg.path("logs", name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = os.Environ()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	for _, o := range opts {
		o(cmd)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", name, err)
	}
	exe, _ := os.Readlink("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/exe")
	k.st.Processes = append(k.st.Processes, process{Name: name, PID: cmd.Process.Pid, Exe: exe})
	go cmd.Wait() // reaped while `up` runs; re-parented after
	k.progress("%s started (pid %d, log %s)", name, cmd.Process.Pid, logf.Name())
	return k.st.save()
}

// logTail is the end of a component's log, for an error message.
func (k *cluster) logTail(name string) string {
	b, _ := os.ReadFile(k.cfg.path("logs", name+".log"))
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}

// waitFor polls check until it is nil, the deadline passes, or the named
// process has died.
func (k *cluster) waitFor(ctx context.Context, what, proc string, within time.Duration, check func() error) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	var last error
	for {
		if last = check(); last == nil {
			return nil
		}
		if proc != "" {
			for _, p := range k.st.Processes {
				if p.Name == proc && !p.alive() {
					return fmt.Errorf("%s exited while waiting for %s; its log ends:\n%s", proc, what, k.logTail(proc))
				}
			}
		}
		select {
		case <-ctx.Done():
			msg := fmt.Sprintf("%s not within %s: %v", what, within, last)
			if proc != "" {
				msg += "\n" + proc + "'s log ends:\n" + k.logTail(proc)
			}
			return fmt.Errorf("%s", msg)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// containerdConfig is containerd 1.6's config: its own root, state and
// socket under the state directory; the CRI plugin with our pause image,
// the bridge CNI and restrict_oom_score_adj (this sandbox may not lower
// oom_score_adj below 0, which the kubelet asks for every sandbox).
func (k *cluster) containerdConfig() string {
	c := k.cfg
	return fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]

[grpc]
  address = %q
[ttrpc]
  address = %q

[plugins."io.containerd.internal.v1.opt"]
  path = %q

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %q
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = %q
`, c.path("containerd", "root"), c.path("containerd", "state"), k.containerdSocket(), c.path("containerd", "ttrpc.sock"),
		c.path("containerd", "opt"), imagePause, c.path("cni", "net.d"))
}

func (k *cluster) containerdSocket() string { return k.cfg.path("containerd", "containerd.sock") }

// startContainerd writes the CNI and containerd configs and starts it.
func (k *cluster) startContainerd(ctx context.Context) error {
	for _, d := range []string{"containerd", "cni/net.d", "cni/ipam"} {
		if err := os.MkdirAll(k.cfg.path(d), 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile(k.cfg.path("cni", "net.d", "10-hopscope.conflist"), []byte(k.cniConfig()), 0o644); err != nil {
		return err
	}
	conf := k.cfg.path("containerd", "config.toml")
	if err := os.WriteFile(conf, []byte(k.containerdConfig()), 0o644); err != nil {
		return err
	}
	if err := k.daemon("containerd", k.bins["containerd"], []string{"--config", conf}); err != nil {
		return err
	}
	return k.waitFor(ctx, "containerd's socket", "containerd", 30*time.Second, func() error {
		return exec.Command("ctr", "--address", k.containerdSocket(), "version").Run()
	})
}

// startControlPlane starts etcd, kube-apiserver, kube-controller-manager
// and kube-scheduler; every client uses the admin certificate.
func (k *cluster) startControlPlane(ctx context.Context) error {
	c := k.cfg
	peer := c.EtcdPort + 1
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", c.EtcdPort)
	if err := k.daemon("etcd", k.bins["etcd"], []string{
		"--name", "hopscope", "--data-dir", c.path("etcd"),
		"--listen-client-urls", etcdURL, "--advertise-client-urls", etcdURL,
		"--listen-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", peer),
		"--initial-advertise-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", peer),
		"--initial-cluster", fmt.Sprintf("hopscope=http://127.0.0.1:%d", peer),
		"--listen-metrics-urls", "", "--log-level", "warn",
	}); err != nil {
		return err
	}
	if err := k.waitFor(ctx, "etcd", "etcd", 30*time.Second, func() error { return httpOK(http.DefaultClient, etcdURL+"/health") }); err != nil {
		return err
	}
	p := k.pki.path
	if err := k.daemon("kube-apiserver", k.bins["kube-apiserver"], []string{
		"--etcd-servers", etcdURL,
		"--bind-address", c.NodeIP().String(), "--advertise-address", c.NodeIP().String(), "--secure-port", "6443",
		"--tls-cert-file", p("apiserver.crt"), "--tls-private-key-file", p("apiserver.key"), "--client-ca-file", p("ca.crt"),
		"--service-cluster-ip-range", c.ServiceCIDR.String(),
		"--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file", p("sa.pub"), "--service-account-signing-key-file", p("sa.key"),
		"--authorization-mode", "Node,RBAC",
		"--kubelet-client-certificate", p("admin.crt"), "--kubelet-client-key", p("admin.key"),
		"--kubelet-preferred-address-types", "InternalIP",
		"--enable-admission-plugins", "NodeRestriction",
		// The aggregation layer, for prometheus-adapter's
		// custom.metrics.k8s.io (HorizontalPodAutoscaler): as kubeadm
		// sets it, and straight to the adapter's pod addresses.
		"--requestheader-client-ca-file", p("front-proxy-ca.crt"), "--requestheader-allowed-names", "front-proxy-client",
		"--requestheader-username-headers", "X-Remote-User", "--requestheader-group-headers", "X-Remote-Group",
		"--requestheader-extra-headers-prefix", "X-Remote-Extra-",
		"--proxy-client-cert-file", p("front-proxy-client.crt"), "--proxy-client-key-file", p("front-proxy-client.key"),
		"--enable-aggregator-routing=true",
		"--profiling=false", "--v=1",
	}); err != nil {
		return err
	}
	client, err := k.httpClient()
	if err != nil {
		return err
	}
	if err := k.waitFor(ctx, "kube-apiserver /readyz", "kube-apiserver", 120*time.Second, func() error { return httpOK(client, k.apiURL()+"/readyz") }); err != nil {
		return err
	}
	if err := k.daemon("kube-controller-manager", k.bins["kube-controller-manager"], []string{
		"--kubeconfig", k.kubeconfig(), "--authentication-kubeconfig", k.kubeconfig(), "--authorization-kubeconfig", k.kubeconfig(),
		"--service-account-private-key-file", p("sa.key"), "--root-ca-file", p("ca.crt"),
		"--cluster-signing-cert-file", p("ca.crt"), "--cluster-signing-key-file", p("ca.key"),
		"--service-cluster-ip-range", c.ServiceCIDR.String(),
		// The HorizontalPodAutoscaler looks every 5 s, not 15 s: the
		// HPA subtest's scale-up and -down then take less CI time; the
		// algorithm is the same.
		"--horizontal-pod-autoscaler-sync-period", "5s",
		"--leader-elect=false", "--bind-address", "127.0.0.1", "--secure-port", "0", "--v=1",
	}); err != nil {
		return err
	}
	return k.daemon("kube-scheduler", k.bins["kube-scheduler"], []string{
		"--kubeconfig", k.kubeconfig(), "--authentication-kubeconfig", k.kubeconfig(), "--authorization-kubeconfig", k.kubeconfig(),
		"--leader-elect=false", "--bind-address", "127.0.0.1", "--secure-port", "0", "--v=1",
	})
}

func (k *cluster) apiURL() string         { return fmt.Sprintf("https://%s:6443", k.cfg.NodeIP()) }
func (k *cluster) kubeconfig() string     { return k.cfg.path("kubeconfig") }
func (k *cluster) nodeName() string       { return "hopscope-node" }
func (k *cluster) podLogsDir() string     { return k.cfg.path("pod-logs") }
func (k *cluster) kubeletRootDir() string { return k.cfg.path("kubelet") }

// httpClient talks to the API server with the admin certificate.
func (k *cluster) httpClient() (*http.Client, error) {
	cert, err := tls.LoadX509KeyPair(k.pki.path("admin.crt"), k.pki.path("admin.key"))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(k.pki.ca)
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}}}, nil
}

func httpOK(c *http.Client, url string) error {
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return nil
}

// kubeletConfig is the KubeletConfiguration: cgroupfs on cgroup v1,
// containerd's CRI, CoreDNS's ClusterIP, pod logs and volume plugins under
// the state directory, the API server's client CA for its requests.
func (k *cluster) kubeletConfig() string {
	c := k.cfg
	return fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
address: %s
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
containerRuntimeEndpoint: unix://%s
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: %s}
authorization: {mode: AlwaysAllow}
clusterDNS: [%s]
clusterDomain: cluster.local
resolvConf: %s
podLogsDir: %s
volumePluginDir: %s
serializeImagePulls: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "100Mi", nodefs.available: "1%%", imagefs.available: "1%%", nodefs.inodesFree: "1%%"}
enforceNodeAllocatable: [pods]
protectKernelDefaults: false
maxPods: 60
shutdownGracePeriod: 0s
`, c.NodeIP(), k.containerdSocket(), k.pki.path("ca.crt"), c.DNSServiceIP(), c.path("resolv.conf"), k.podLogsDir(), c.path("volume-plugins"))
}

// startKubelet starts the kubelet against containerd and waits for the
// node to be registered.
func (k *cluster) startKubelet(ctx context.Context) error {
	c := k.cfg
	for _, d := range []string{"kubelet", "pod-logs", "volume-plugins"} {
		if err := os.MkdirAll(c.path(d), 0o755); err != nil {
			return err
		}
	}
	// Pods resolve cluster names through CoreDNS only: nothing is reachable
	// outside the machine, so there is no upstream to forward to.
	if err := os.WriteFile(c.path("resolv.conf"), []byte("nameserver "+c.DNSServiceIP().String()+"\n"), 0o644); err != nil {
		return err
	}
	conf := c.path("kubelet.yaml")
	if err := os.WriteFile(conf, []byte(k.kubeletConfig()), 0o644); err != nil {
		return err
	}
	return k.daemon("kubelet", k.bins["kubelet"], []string{
		"--config", conf, "--kubeconfig", k.kubeconfig(), "--root-dir", k.kubeletRootDir(),
		"--node-ip", c.NodeIP().String(), "--hostname-override", k.nodeName(), "--v=1",
	})
}

// startKubeProxy runs kube-proxy in iptables mode; NodePorts only on the
// node IP (so it never sets route_localnet for 127.0.0.1).
func (k *cluster) startKubeProxy() error {
	c := k.cfg
	conf := c.path("kube-proxy.yaml")
	body := fmt.Sprintf(`apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clusterCIDR: %s
hostnameOverride: %s
bindAddress: 127.0.0.1
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
nodePortAddresses: ["%s/32"]
clientConnection:
  kubeconfig: %s
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
`, c.PodCIDR, k.nodeName(), c.NodeIP(), k.kubeconfig())
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		return err
	}
	return k.daemon("kube-proxy", k.bins["kube-proxy"], []string{"--config", conf, "--v=1"})
}

// toolBin is a binary tools/build made.
func toolBin(root, name string) string { return filepath.Join(root, "tools", "bin", name) }

// trimLines keeps the last n lines of s.
func trimLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func execOutput(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return string(out), err
}
