package sidecar

import (
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/hopscope/hopscope/correlate/xray"
)

// FuzzXRayRoot: the hopscope.xray_root the sidecar records from an
// X-Amzn-Trace-Id is what a reference reading of the header finds (the
// first Root field valid by correlate/xray, as the log parsers read it,
// spaces and tabs trimmed as correlate/xray trims them), in lower case; anything recorded is 1-<8 hex>-
// <24 hex> lower case with a trace id that is not all zeros, and reads back
// to itself from Root=<it> and from the header xray.Format renders for its
// trace id. Whenever correlate/xray accepts the whole header (as the
// propagator does), the sidecar records that header's Root. Seeds: f.Add
// below and testdata/fuzz/FuzzXRayRoot.
func FuzzXRayRoot(f *testing.F) {
	for _, s := range []string{
		"Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
		"Root=1-67891233-abcdef012345678912345678",
		"Self=1-67891233-12456789abcdef012345678;Root=1-67891233-abcdef012345678912345678",
		"Root=1-67891233-ABCDEF012345678912345678",
		" Root = 1-5759e988-bd862e3fe1be46a994272793 ;Sampled=?",
		"Root=1-00000000-000000000000000000000000",
		"Root=1-6789123-abcdef012345678912345678",
		"Root=not-a-root;Parent=zz",
		"Root=\u00a01-5759e988-bd862e3fe1be46a994272793",
		"Root=2-5759e988-bd862e3fe1be46a994272793",
		"Root=;Root=1-5759e988-bd862e3fe1be46a994272793",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		got := xrayRoot(h)
		if want := refXRayRoot(h); got != want {
			t.Fatalf("xrayRoot(%q) = %q, reference %q", h, got, want)
		}
		if xh, err := xray.Parse(h); err == nil && got != strings.ToLower(xh.Root) {
			t.Fatalf("xrayRoot(%q) = %q, but correlate/xray reads Root %q", h, got, xh.Root)
		}
		if got == "" {
			return
		}
		if len(got) != 35 || got != strings.ToLower(got) {
			t.Fatalf("xrayRoot(%q) = %q: not 35 lower-case characters", h, got)
		}
		xh, err := xray.Parse("Root=" + got)
		if err != nil {
			t.Fatalf("xrayRoot(%q) = %q, which correlate/xray refuses: %v", h, got, err)
		}
		tid := xh.TraceID()
		if tid == ([16]byte{}) {
			t.Fatalf("xrayRoot(%q) = %q: all-zero trace id", h, got)
		}
		if again := xrayRoot("Root=" + got); again != got {
			t.Fatalf("xrayRoot(Root=%s) = %q, not itself", got, again)
		}
		rendered := xray.Format(tid, [8]byte{0x53, 0x99, 0x5c, 0x3f, 0x42, 0xcd, 0x8a, 0xd8}, true)
		if again := xrayRoot(rendered); again != got {
			t.Fatalf("xrayRoot(%q) = %q after rendering, want %q", rendered, again, got)
		}
	})
}

// refXRayRoot is the reference reading of xrayRoot: the value of the first
// field whose key is Root, trimmed of spaces and tabs, if correlate/xray
// takes it as a Root.
func refXRayRoot(h string) string {
	for _, field := range strings.Split(h, ";") {
		k, v, ok := strings.Cut(field, "=")
		if !ok || strings.Trim(k, " \t") != "Root" {
			continue
		}
		v = strings.Trim(v, " \t")
		if _, err := xray.Parse("Root=" + v); err != nil {
			continue // a malformed Root does not hide a later good one
		}
		return strings.ToLower(v)
	}
	return ""
}

// FuzzSplitHost: the port splitHost finds is 0 or 1..65535; with a port,
// host and port joined again (brackets kept when the Host had them) give
// the Host back, but for leading zeros of the port; without one the host
// is the Host itself, the part before a ':' that is followed by no port
// number, or the inside of its brackets. Where net.SplitHostPort splits the
// Host, splitHost agrees with it. Seeds: f.Add below and
// testdata/fuzz/FuzzSplitHost.
func FuzzSplitHost(f *testing.F) {
	for _, s := range []string{
		"shop.example", "shop.example:8080", "127.0.0.1:15080", "[::1]:443", "[::1]", "::1",
		"[2001:db8::1]:15080", "[fe80::1%25eth0]:80", "shop.example:", "shop.example:99999",
		"shop.example:0", "shop.example:08080", "[::1]8080", "[::1]x:80", "[::1", "", ":80",
		"xn--bcher-kva.example:443", "a:b:80",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		host, port := splitHost(in)
		if port < 0 || port > 65535 {
			t.Fatalf("splitHost(%q): port %d", in, port)
		}
		bracketed := strings.HasPrefix(in, "[") && strings.IndexByte(in, ']') >= 0
		joined := host
		if bracketed {
			joined = "[" + host + "]"
		}
		if port > 0 {
			digits, ok := strings.CutPrefix(in, joined+":")
			n, err := strconv.Atoi(digits)
			if !ok || err != nil || n != port || len(digits) > 5 || strings.Trim(digits, "0123456789") != "" {
				t.Fatalf("splitHost(%q) = %q, %d: joined again it is not the Host", in, host, port)
			}
		} else if host != in && !strings.HasPrefix(in, joined+":") && in != joined {
			t.Fatalf("splitHost(%q) = %q, 0: the host is no part of the Host before a port", in, host)
		}
		if h, p, err := net.SplitHostPort(in); err == nil {
			want := 0
			if n, err := strconv.Atoi(p); err == nil && len(p) <= 5 && strings.Trim(p, "0123456789") == "" && n >= 1 && n <= 65535 {
				want = n
			}
			if host != h || port != want {
				t.Fatalf("splitHost(%q) = %q, %d; net.SplitHostPort: %q, %q", in, host, port, h, p)
			}
		}
	})
}
