package main

import (
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
)

// Config is what `up` builds and where. Every address of the cluster lives
// on a bridge this command creates (the node IP is the bridge's own
// address) or on 127.0.0.1; nothing is routed or masqueraded off the
// machine.
type Config struct {
	// StateDir holds everything the cluster writes: certificates,
	// kubeconfig, etcd's data, containerd's root and state, the kubelet's
	// root, logs, images and the record of what `down` must remove
	// (--state-dir).
	StateDir string
	// Bridge is the Linux bridge pods are attached to (--bridge).
	Bridge string
	// PodCIDR is the pods' subnet; its first address is the bridge's and
	// the node's IP (--pod-cidr).
	PodCIDR netip.Prefix
	// ServiceCIDR is the Services' ClusterIP range; its first address is
	// the kubernetes Service, its tenth CoreDNS (--service-cidr).
	ServiceCIDR netip.Prefix
	// EdgePort is the 127.0.0.1 port of the load balancer (HAProxy in the
	// ALB's place) in front of the ingress (--edge-port).
	EdgePort int
	// CollectorPort is the 127.0.0.1 port of the collector's API and UI
	// (--collector-port).
	CollectorPort int
	// JaegerPort is the 127.0.0.1 port of Jaeger's query API in the
	// cluster (--jaeger-port).
	JaegerPort int
	// PrometheusPort is the 127.0.0.1 port of Prometheus, which discovers
	// the cluster's pods through the API server (--prometheus-port).
	PrometheusPort int
	// EtcdPort is etcd's 127.0.0.1 client port (--etcd-port); its peer
	// port is the next one.
	EtcdPort int
	// Workloads installs hopscope with Helm, the shop example, the ingress,
	// Jaeger and the backends after the node is Ready (--workloads).
	Workloads bool
}

// DefaultConfig is the quickstart's cluster.
func DefaultConfig() Config {
	return Config{
		StateDir:       filepath.Join("/var/tmp", "hopscope-cluster"),
		Bridge:         "hopscope0",
		PodCIDR:        netip.MustParsePrefix("10.244.0.0/24"),
		ServiceCIDR:    netip.MustParsePrefix("10.96.0.0/24"),
		EdgePort:       18080,
		CollectorPort:  18088,
		JaegerPort:     18686,
		PrometheusPort: 18090,
		EtcdPort:       12379,
		Workloads:      true,
	}
}

// Validate names the flag of the first bad value.
func (c Config) Validate() error {
	var errs []error
	if c.StateDir == "" || !filepath.IsAbs(c.StateDir) {
		errs = append(errs, fmt.Errorf("--state-dir: must be an absolute path, got %q", c.StateDir))
	}
	if c.Bridge == "" || len(c.Bridge) > 15 {
		errs = append(errs, fmt.Errorf("--bridge: must be 1 to 15 characters, got %q", c.Bridge))
	}
	for _, p := range []struct {
		flag string
		v    netip.Prefix
	}{{"--pod-cidr", c.PodCIDR}, {"--service-cidr", c.ServiceCIDR}} {
		if !p.v.IsValid() || !p.v.Addr().Is4() || p.v.Bits() > 24 || p.v.Bits() < 16 {
			errs = append(errs, fmt.Errorf("%s: must be an IPv4 prefix from /16 to /24, got %q", p.flag, p.v))
		} else if !p.v.Addr().IsPrivate() {
			errs = append(errs, fmt.Errorf("%s: must be a private range (RFC 1918), got %s", p.flag, p.v))
		}
	}
	if c.PodCIDR.IsValid() && c.ServiceCIDR.IsValid() && c.PodCIDR.Overlaps(c.ServiceCIDR) {
		errs = append(errs, fmt.Errorf("--pod-cidr %s and --service-cidr %s overlap", c.PodCIDR, c.ServiceCIDR))
	}
	ports := map[int]string{}
	for _, p := range []struct {
		flag string
		v    int
	}{{"--edge-port", c.EdgePort}, {"--collector-port", c.CollectorPort}, {"--jaeger-port", c.JaegerPort},
		{"--prometheus-port", c.PrometheusPort}, {"--etcd-port", c.EtcdPort}} {
		if p.v < 1024 || p.v > 65534 {
			errs = append(errs, fmt.Errorf("%s: must be from 1024 to 65534, got %d", p.flag, p.v))
		} else if other, dup := ports[p.v]; dup {
			errs = append(errs, fmt.Errorf("%s: %d is %s's port too", p.flag, p.v, other))
		}
		ports[p.v] = p.flag
	}
	return errors.Join(errs...)
}

// NodeIP is the bridge's address: the kubelet's node IP, where the API
// server, the kubelet, NodePorts and the node's PostgreSQL and Redis listen.
func (c Config) NodeIP() netip.Addr { return c.PodCIDR.Addr().Next() }

// APIServiceIP is the kubernetes Service's ClusterIP.
func (c Config) APIServiceIP() netip.Addr { return c.ServiceCIDR.Addr().Next() }

// DNSServiceIP is CoreDNS's ClusterIP.
func (c Config) DNSServiceIP() netip.Addr {
	a := c.ServiceCIDR.Addr()
	for range 10 {
		a = a.Next()
	}
	return a
}

// path is a file or directory under the state directory.
func (c Config) path(elem ...string) string {
	return filepath.Join(append([]string{c.StateDir}, elem...)...)
}
