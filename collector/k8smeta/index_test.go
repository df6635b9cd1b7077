package k8smeta

import (
	"testing"
	"time"
)

// TestIndexBounds: addresses past MaxAddresses are not tracked (counted),
// an address keeps at most MaxChanges changes, and expire forgets what is
// older than History but keeps the state in effect at its cutoff.
func TestIndexBounds(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	cfg := Config{History: time.Minute, MaxAddresses: 2, MaxChanges: 3}
	x := newIndex(cfg)
	x.setSource(t0, "slice/ns/a", map[string]Endpoint{"10.0.0.1": {Pod: "a"}, "10.0.0.2": {Pod: "b"}})
	x.setSource(t0, "slice/ns/b", map[string]Endpoint{"10.0.0.3": {Pod: "c"}})
	if a, _ := x.size(); a != 2 || x.untracked != 1 {
		t.Fatalf("addresses %d untracked %d, want 2 and 1", a, x.untracked)
	}
	for i := range 5 {
		x.setSource(t0.Add(time.Duration(i+1)*time.Second), "slice/ns/a",
			map[string]Endpoint{"10.0.0.1": {Pod: "a", Terminating: i%2 == 0}, "10.0.0.2": {Pod: "b"}})
	}
	if n := len(x.addrs["10.0.0.1"].changes); n != 3 {
		t.Errorf("changes of 10.0.0.1: %d, want MaxChanges 3", n)
	}
	x.setSource(t0.Add(10*time.Second), "slice/ns/a", nil)
	for _, tc := range []struct {
		name    string
		now     time.Time
		want    int
		atState bool
	}{
		{"within history", t0.Add(30 * time.Second), 2, true},
		{"past history", t0.Add(71 * time.Second), 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x.expire(tc.now)
			if a, _ := x.size(); a != tc.want {
				t.Errorf("addresses %d, want %d", a, tc.want)
			}
			ep, ok := x.lookup("10.0.0.1:80", t0.Add(9*time.Second))
			if ok != tc.atState || tc.atState && ep.Pod != "a" {
				t.Errorf("lookup = %+v %v, want %v", ep, ok, tc.atState)
			}
		})
	}
}

// TestHostOf strips ports of IPv4 and IPv6 addresses.
func TestHostOf(t *testing.T) {
	for in, want := range map[string]string{"10.0.0.1:80": "10.0.0.1", "10.0.0.1": "10.0.0.1", "[fd00::1]:80": "fd00::1", "fd00::1": "fd00::1", "[fd00::1]": "fd00::1"} {
		if got := hostOf(in); got != want {
			t.Errorf("hostOf(%q) = %q, want %q", in, got, want)
		}
	}
}
