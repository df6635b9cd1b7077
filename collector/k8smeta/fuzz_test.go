package k8smeta

import (
	"testing"
	"time"
)

// FuzzLookup: any upstream address a log line carries (IPv4, IPv6 with or
// without brackets and port, garbage) is looked up without panicking, and
// an address with a port finds what the same address without it finds.
func FuzzLookup(f *testing.F) {
	f.Add("10.1.0.1:8080")
	f.Add("[fd00::1]:80")
	f.Add("unix:/tmp/x.sock")
	f.Add("")
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	x := newIndex(DefaultConfig())
	x.setSource(t0, "slice/ns/a", map[string]Endpoint{"10.1.0.1": {Pod: "a"}, "fd00::1": {Pod: "b"}})
	f.Fuzz(func(t *testing.T, addr string) {
		ep, ok := x.lookup(addr, t0)
		h := hostOf(addr)
		ep2, ok2 := x.lookup(h, t0)
		if ok != ok2 || ep != ep2 {
			t.Errorf("lookup(%q) = %+v %v, lookup(%q) = %+v %v", addr, ep, ok, h, ep2, ok2)
		}
	})
}
