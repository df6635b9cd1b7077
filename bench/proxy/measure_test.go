package main

import "testing"

// TestOtherPct: other work is the busier CPU's time not used by the
// benchmark; the proxy CPU counts only when there is a proxy; never below 0.
func TestOtherPct(t *testing.T) {
	o := options{loadCPU: 0, proxyCPU: 1}
	d := usage{proxyCPU: 0.9, busy: map[int]float64{0: 1.2, 1: 1.5}}
	for _, tc := range []struct {
		name    string
		loadCPU float64
		proxy   bool
		want    float64
	}{
		{"proxy CPU busier", 1.0, true, 60}, // (1.5-0.9)/1
		{"load CPU busier", 0.2, true, 100}, // (1.2-0.2)/1
		{"direct: no proxy CPU", 1.0, false, 20},
		{"load side used more than seen busy", 2, false, 0},
	} {
		if got := d.otherPct(o, tc.loadCPU, 1, tc.proxy); got < tc.want-1e-9 || got > tc.want+1e-9 {
			t.Errorf("%s: %.2f%%, want %.2f%%", tc.name, got, tc.want)
		}
	}
}
