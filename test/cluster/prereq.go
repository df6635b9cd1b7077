package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// debianBins are what `up` runs from Debian's packages, with the package
// that has each.
var debianBins = []struct{ bin, pkg string }{
	{"containerd", "containerd"}, {"ctr", "containerd"}, {"containerd-shim-runc-v2", "containerd"},
	{"runc", "runc"}, {"/usr/lib/cni/bridge", "containernetworking-plugins"}, {"/usr/lib/cni/host-local", "containernetworking-plugins"},
	{"/usr/lib/cni/loopback", "containernetworking-plugins"}, {"iptables", "iptables"}, {"ip6tables", "iptables"},
	{"conntrack", "conntrack"}, {"ip", "iproute2"}, {"etcd", "etcd-server"}, {"ldd", "libc-bin"},
	{"/usr/sbin/nginx", "nginx"}, {"/usr/sbin/haproxy", "haproxy"},
	{"redis-server", "redis-server"}, {"/usr/lib/postgresql/15/bin/initdb", "postgresql"},
}

// toolBins are built from tools/ (tools/build NAME).
var toolBins = []struct{ bin, tool string }{
	{"kube-apiserver", "kube-apiserver"}, {"kubelet", "kube-node"}, {"kube-controller-manager", "kube-node"},
	{"kube-scheduler", "kube-node"}, {"kube-proxy", "kube-node"}, {"kubectl", "kube-node"},
	{"coredns", "coredns"}, {"jaeger", "jaeger"}, {"helm", "helm"}, {"prometheus", "prometheus"},
	{"gateway", "gateway"}, {"promoperator", "promoperator"}, {"prometheus-adapter", "prometheus-adapter"},
}

// aptInstall is the line that installs every Debian package `up` needs.
const aptInstall = "apt-get install -y --no-install-recommends containerd runc containernetworking-plugins iptables conntrack iproute2 etcd-server nginx haproxy redis-server postgresql ca-certificates"

// checkPrereqs fails with one line naming the first thing missing: root,
// a cgroup controller, a Debian binary, a free port, a free bridge name,
// an address range nobody routes. It resolves the binaries into k.bins.
func (k *cluster) checkPrereqs() error {
	if os.Geteuid() != 0 {
		return errors.New("not root: a node needs root (containerd, the kubelet, bridges and iptables)")
	}
	for _, ctl := range []string{"cpu", "cpuacct", "cpuset", "memory", "pids", "devices", "freezer"} {
		if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", ctl)); err != nil {
			if _, err2 := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err2 == nil {
				b, _ := os.ReadFile("/sys/fs/cgroup/cgroup.controllers")
				if strings.Contains(string(b), ctl) || ctl == "cpuacct" || ctl == "devices" || ctl == "freezer" {
					continue
				}
			}
			return fmt.Errorf("cgroup controller %s is not mounted under /sys/fs/cgroup", ctl)
		}
	}
	if _, err := os.Stat("/proc/sys/net/bridge/bridge-nf-call-iptables"); err != nil {
		return errors.New("bridge netfilter (br_netfilter) is missing: kube-proxy could not see bridged traffic")
	}
	if err := k.installMissing(); err != nil {
		return err
	}
	k.bins = map[string]string{}
	for _, b := range debianBins {
		p, err := exec.LookPath(b.bin)
		if err != nil {
			if p, err = exec.LookPath(filepath.Join("/usr/sbin", b.bin)); err != nil {
				return fmt.Errorf("%s is missing: apt-get install -y %s (all of them: %s)", b.bin, b.pkg, aptInstall)
			}
		}
		k.bins[filepath.Base(b.bin)] = p
	}
	for _, b := range toolBins {
		if !k.needTool(b.bin) {
			continue
		}
		p := toolBin(k.root, b.bin)
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("%s is missing: tools/build %s", p, b.tool)
		}
		k.bins[b.bin] = p
	}
	if _, err := os.Stat("/sys/class/net/" + k.cfg.Bridge); err == nil {
		return fmt.Errorf("interface %s exists already: another cluster is up (go run ./test/cluster down), or choose --bridge", k.cfg.Bridge)
	}
	if err := checkRoutes(k.cfg); err != nil {
		return err
	}
	return checkPorts(k.cfg)
}

// checkPorts fails naming the first 127.0.0.1 port the cluster needs that
// something else has.
func checkPorts(c Config) error {
	for _, p := range []struct {
		flag string
		port int
	}{{"--edge-port", c.EdgePort}, {"--collector-port", c.CollectorPort}, {"--jaeger-port", c.JaegerPort},
		{"--prometheus-port", c.PrometheusPort}, {"--etcd-port", c.EtcdPort}, {"--etcd-port (+1, peer)", c.EtcdPort + 1},
		{"kubelet healthz", 10248}, {"kube-proxy healthz", 10256}, {"kube-proxy metrics", 10249}} {
		if err := portFree(p.port); err != nil {
			return fmt.Errorf("127.0.0.1:%d (%s) is taken: %v", p.port, p.flag, err)
		}
	}
	return nil
}

// needTool tells whether up needs a tool of tools/.
func (k *cluster) needTool(bin string) bool {
	return k.cfg.Workloads || (bin != "jaeger" && bin != "helm" && bin != "prometheus" && bin != "gateway" && bin != "promoperator" && bin != "prometheus-adapter")
}

// installMissing installs the Debian packages that are missing and builds
// the tools that are missing (tools/build), saying so: a fresh machine
// needs only `go run ./test/cluster up`, though the first time takes
// about 40 minutes on 2 cores, almost all of it the Kubernetes build.
func (k *cluster) installMissing() error {
	var pkgs []string
	for _, b := range debianBins {
		if _, err := exec.LookPath(b.bin); err == nil {
			continue
		}
		if _, err := exec.LookPath(filepath.Join("/usr/sbin", b.bin)); err == nil {
			continue
		}
		if !slices.Contains(pkgs, b.pkg) {
			pkgs = append(pkgs, b.pkg)
		}
	}
	if _, err := os.Stat("/etc/ssl/certs/ca-certificates.crt"); err != nil {
		pkgs = append(pkgs, "ca-certificates")
	}
	if len(pkgs) > 0 {
		k.progress("installing from Debian: %s", strings.Join(pkgs, " "))
		for _, args := range [][]string{{"update", "-qq"}, append([]string{"install", "-y", "-qq", "--no-install-recommends"}, pkgs...)} {
			cmd := exec.Command("apt-get", args...)
			cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
			cmd.Stdout, cmd.Stderr = k.out, k.out
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("apt-get %s: %w (install them yourself: %s)", strings.Join(args, " "), err, aptInstall)
			}
		}
	}
	var tools []string
	for _, b := range toolBins {
		if _, err := os.Stat(toolBin(k.root, b.bin)); err == nil || !k.needTool(b.bin) {
			continue
		}
		if !slices.Contains(tools, b.tool) {
			tools = append(tools, b.tool)
		}
	}
	if len(tools) > 0 {
		k.progress("building %s with tools/build (the Kubernetes binaries take ~25 min the first time)", strings.Join(tools, " "))
		cmd := exec.Command(filepath.Join(k.root, "tools", "build"), tools...)
		cmd.Stdout, cmd.Stderr = k.out, k.out
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("tools/build %s: %w", strings.Join(tools, " "), err)
		}
	}
	return nil
}

// checkRoutes refuses pod and Service ranges that an interface of this
// machine already has.
func checkRoutes(c Config) error {
	ifaces, err := net.Interfaces()
	if err != nil {
		return err
	}
	for _, ifc := range ifaces {
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok || ipn.IP.To4() == nil {
				continue
			}
			for _, p := range []struct {
				flag string
				cidr string
			}{{"--pod-cidr", c.PodCIDR.String()}, {"--service-cidr", c.ServiceCIDR.String()}} {
				_, mine, _ := net.ParseCIDR(p.cidr)
				if mine.Contains(ipn.IP) || ipn.Contains(mine.IP) {
					return fmt.Errorf("%s %s overlaps %s on %s: choose another range", p.flag, p.cidr, ipn, ifc.Name)
				}
			}
		}
	}
	return nil
}

func portFree(port int) error {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 300*time.Millisecond)
	if err == nil {
		c.Close()
		return errors.New("something answers there")
	}
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return err
	}
	return ln.Close()
}

// checkPrereqsReuse resolves the binaries for a cluster that is up already.
func (k *cluster) checkPrereqsReuse() error {
	k.bins = map[string]string{}
	for _, b := range toolBins {
		k.bins[b.bin] = toolBin(k.root, b.bin)
	}
	if _, err := os.Stat(k.kubeconfig()); err != nil {
		return fmt.Errorf("no cluster is up in %s: %w", k.cfg.StateDir, err)
	}
	st, err := loadState(k.cfg.path("state.json"))
	k.st = st
	return err
}
