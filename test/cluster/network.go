package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// guardChain is the filter chain, jumped to first from FORWARD, that keeps
// the cluster's traffic on its bridge: pod to pod (bridged, or routed back
// after kube-proxy's DNAT) passes, anything from the bridge towards another
// interface or from another interface towards the bridge is dropped. With
// no masquerade (the CNI's ipMasq is false) and this guard, nothing of the
// cluster's leaves the machine even though ip_forward is on.
const guardChain = "HOPSCOPE-CLUSTER-GUARD"

func run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// setupNetwork makes the bridge with the node IP, routes the Service range
// onto it (so the node's own traffic to a ClusterIP never takes the default
// route), turns on forwarding and bridge netfilter (kube-proxy's rules must
// see bridged traffic) and installs the guard.
func (k *cluster) setupNetwork() error {
	c := k.cfg
	if err := run("ip", "link", "add", c.Bridge, "type", "bridge"); err != nil {
		return err
	}
	k.st.Bridge = c.Bridge
	if err := k.st.save(); err != nil {
		return err
	}
	if err := run("ip", "addr", "add", fmt.Sprintf("%s/%d", c.NodeIP(), c.PodCIDR.Bits()), "dev", c.Bridge); err != nil {
		return err
	}
	if err := run("ip", "link", "set", c.Bridge, "up"); err != nil {
		return err
	}
	if err := run("ip", "route", "add", c.ServiceCIDR.String(), "dev", c.Bridge, "src", c.NodeIP().String()); err != nil {
		return err
	}
	for _, s := range [][2]string{{"net.ipv4.ip_forward", "1"}, {"net.bridge.bridge-nf-call-iptables", "1"}} {
		if err := k.st.setSysctl(s[0], s[1]); err != nil {
			return err
		}
	}
	if err := run("iptables", "-w", "-N", guardChain); err != nil {
		return err
	}
	k.st.Guard = true
	if err := k.st.save(); err != nil {
		return err
	}
	for _, rule := range [][]string{
		{"-i", c.Bridge, "-o", c.Bridge, "-j", "ACCEPT"},
		{"-i", c.Bridge, "-j", "DROP"},
		{"-o", c.Bridge, "-j", "DROP"},
	} {
		if err := run("iptables", append([]string{"-w", "-A", guardChain}, rule...)...); err != nil {
			return err
		}
	}
	return run("iptables", "-w", "-I", "FORWARD", "1", "-j", guardChain)
}

// cniConfig is the bridge plugin on the cluster's bridge with host-local
// IPAM keeping its leases in the state directory; no masquerade.
func (k *cluster) cniConfig() string {
	c := k.cfg
	return fmt.Sprintf(`{
  "cniVersion": "0.4.0",
  "name": "hopscope",
  "plugins": [{
    "type": "bridge",
    "bridge": %q,
    "isGateway": true,
    "ipMasq": false,
    "hairpinMode": true,
    "ipam": {
      "type": "host-local",
      "ranges": [[{"subnet": %q, "gateway": %q}]],
      "routes": [{"dst": "0.0.0.0/0"}],
      "dataDir": %q
    }
  }]
}
`, c.Bridge, c.PodCIDR.String(), c.NodeIP().String(), k.cfg.path("cni", "ipam"))
}

// teardownNetwork removes the guard, the chains kube-proxy and the kubelet
// made (KUBE-*, in IPv4 and IPv6), the bridge and the CNI's cached results,
// and puts the sysctls back. Each step runs whatever the others did.
func teardownNetwork(st *state, bridge string, kubeProxy string) []error {
	var errs []error
	if kubeProxy != "" {
		// kube-proxy removes its own rules (iptables and ipvs modes).
		_ = exec.Command(kubeProxy, "--cleanup").Run()
	}
	for _, ipt := range []string{"iptables", "ip6tables"} {
		for _, table := range []string{"filter", "nat", "mangle"} {
			if err := removeChains(ipt, table, func(chain string) bool {
				return strings.HasPrefix(chain, "KUBE-") || chain == guardChain
			}); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if _, err := os.Stat("/sys/class/net/" + bridge); err == nil {
		if err := run("ip", "link", "del", bridge); err != nil {
			errs = append(errs, err)
		}
	}
	if entries, err := os.ReadDir("/var/lib/cni/results"); err == nil {
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), "hopscope-") {
				os.Remove("/var/lib/cni/results/" + e.Name())
			}
		}
	}
	for key, old := range st.Sysctls {
		if err := os.WriteFile("/proc/sys/"+strings.ReplaceAll(key, ".", "/"), []byte(old), 0o644); err != nil {
			errs = append(errs, fmt.Errorf("restoring %s=%s: %w", key, old, err))
		}
	}
	return errs
}

// removeChains deletes the chains of table that match: first every rule of
// any chain that jumps to them, then their rules, then the chains.
func removeChains(ipt, table string, match func(string) bool) error {
	out, err := exec.Command(ipt, "-w", "-t", table, "-S").Output()
	if err != nil {
		return nil // no such table here
	}
	var chains []string
	var jumps [][]string
	for _, line := range strings.Split(string(out), "\n") {
		f := splitRule(line)
		switch {
		case len(f) >= 2 && f[0] == "-N" && match(f[1]):
			chains = append(chains, f[1])
		case len(f) >= 2 && f[0] == "-A" && !match(f[1]):
			for i := 2; i+1 < len(f); i++ {
				if (f[i] == "-j" || f[i] == "-g") && match(f[i+1]) {
					jumps = append(jumps, append([]string{"-w", "-t", table, "-D"}, f[1:]...))
					break
				}
			}
		}
	}
	var errs []string
	for _, j := range jumps {
		if err := run(ipt, j...); err != nil {
			errs = append(errs, err.Error())
		}
	}
	for _, c := range chains {
		_ = run(ipt, "-w", "-t", table, "-F", c)
	}
	for _, c := range chains {
		if err := run(ipt, "-w", "-t", table, "-X", c); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s -t %s: %s", ipt, table, strings.Join(errs, "; "))
	}
	return nil
}

// splitRule splits a line of `iptables -S` into its words, keeping a
// double-quoted comment as one word without its quotes.
func splitRule(line string) []string {
	var words []string
	var cur strings.Builder
	quoted, in := false, false
	for i := 0; i < len(line); i++ {
		ch := line[i]
		switch {
		case ch == '\\' && quoted && i+1 < len(line):
			i++
			cur.WriteByte(line[i])
		case ch == '"':
			quoted, in = !quoted, true
		case ch == ' ' && !quoted:
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteByte(ch)
			in = true
		}
	}
	if in {
		words = append(words, cur.String())
	}
	return words
}
