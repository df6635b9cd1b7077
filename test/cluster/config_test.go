package main

import (
	"net"
	"net/netip"
	"strings"
	"testing"
)

func TestConfigValidateNamesTheFlag(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		want   string // "" = valid
	}{
		{"default", func(*Config) {}, ""},
		{"relative state dir", func(c *Config) { c.StateDir = "state" }, "--state-dir"},
		{"long bridge name", func(c *Config) { c.Bridge = "a-very-long-bridge0" }, "--bridge"},
		{"public pod range", func(c *Config) { c.PodCIDR = netip.MustParsePrefix("8.8.0.0/24") }, "--pod-cidr"},
		{"pod range too small", func(c *Config) { c.PodCIDR = netip.MustParsePrefix("10.244.0.0/28") }, "--pod-cidr"},
		{"overlapping ranges", func(c *Config) { c.ServiceCIDR = netip.MustParsePrefix("10.244.0.0/24") }, "overlap"},
		{"privileged port", func(c *Config) { c.EdgePort = 80 }, "--edge-port"},
		{"same port twice", func(c *Config) { c.JaegerPort = c.CollectorPort }, "--jaeger-port"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.mutate(&c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("valid config refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want an error naming %s", err, tc.want)
			}
		})
	}
}

func TestConfigAddresses(t *testing.T) {
	c := DefaultConfig()
	if c.NodeIP().String() != "10.244.0.1" || c.APIServiceIP().String() != "10.96.0.1" || c.DNSServiceIP().String() != "10.96.0.10" {
		t.Fatalf("node %s, kubernetes %s, dns %s", c.NodeIP(), c.APIServiceIP(), c.DNSServiceIP())
	}
}

// TestTakenPortFailsNamingIt: a port the cluster needs that something
// else listens on stops up at once, naming the port and its flag.
func TestTakenPortFailsNamingIt(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c := DefaultConfig()
	c.PrometheusPort = ln.Addr().(*net.TCPAddr).Port
	err = checkPorts(c)
	if err == nil || !strings.Contains(err.Error(), "--prometheus-port") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("got %v, want one line naming --prometheus-port", err)
	}
}

func TestSplitRuleKeepsQuotedComments(t *testing.T) {
	got := splitRule(`-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD`)
	want := []string{"-A", "FORWARD", "-m", "comment", "--comment", "kubernetes forwarding rules", "-j", "KUBE-FORWARD"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got %q", got)
	}
}

func TestParseCRILine(t *testing.T) {
	for _, tc := range []struct {
		line, text, stream string
		full               bool
	}{
		{`2026-12-06T11:23:06.173456789Z stdout F {"msec":"1"}`, `{"msec":"1"}`, "stdout", true},
		{`2026-12-06T11:23:06.173456789Z stdout P {"ms`, `{"ms`, "stdout", false},
		{`2026-12-06T11:23:06.173456789Z stderr F nginx: [warn] x`, `nginx: [warn] x`, "stderr", true},
	} {
		text, stream, full := parseCRILine(tc.line)
		if text != tc.text || stream != tc.stream || full != tc.full {
			t.Errorf("%q: got %q %q %v", tc.line, text, stream, full)
		}
	}
}

// FuzzParseCRILine: whatever the kubelet's log file holds, the text is the
// line's end and the stream one of its words.
func FuzzParseCRILine(f *testing.F) {
	f.Add(`2026-12-06T11:23:06.173456789Z stdout F {"msec":"1"}`)
	f.Add("x")
	f.Fuzz(func(t *testing.T, line string) {
		text, stream, _ := parseCRILine(line)
		if !strings.HasSuffix(line, text) {
			t.Fatalf("text %q is not the end of %q", text, line)
		}
		if text != line && !strings.Contains(line, " "+stream+" ") {
			t.Fatalf("stream %q is not a word of %q", stream, line)
		}
	})
}
