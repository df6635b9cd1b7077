package collector

import (
	"maps"
	"testing"

	"github.com/hopscope/hopscope/correlate"
	"github.com/hopscope/hopscope/internal/contract"
)

func TestHopColors(t *testing.T) {
	// The palette as the UI and hopscope breakdown have always shown it.
	want := map[string]string{
		"dns":             "#8e44ad",
		"connect":         "#9b59b6",
		"tls":             "#a29bfe",
		"edge_network":    "#2980b9",
		"loadbalancer":    "#e67e22",
		"ingress":         "#f1c40f",
		"ingress_retries": "#c0392b",
		"service":         "#16a085",
		"sidecar":         "#7f8c8d",
		"app":             "#27ae60",
		"postgres":        "#336791",
		"redis":           "#d82c20",
		"http_egress":     "#e84393",
		"download":        "#00b894",
		"other":           "#b2bec3",
	}
	if got := HopPalette(); !maps.Equal(got, want) {
		t.Errorf("HopPalette() = %v, want %v", got, want)
	}
	for h, c := range want {
		if got := HopColor(h); got != c {
			t.Errorf("HopColor(%q) = %q, want %q", h, got, c)
		}
	}
	for _, h := range []string{"mysql", "grpc", "", "APP"} {
		if got := HopColor(h); got != BackendColor {
			t.Errorf("HopColor(%q) = %q, want BackendColor %q", h, got, BackendColor)
		}
	}
	// Every hop a breakdown names and every backend hop hopscope names
	// itself has a colour of its own.
	for _, h := range append(correlate.HopNames(), contract.HopPostgres, contract.HopRedis, contract.HopHTTPEgress) {
		if _, ok := want[h]; !ok {
			t.Errorf("hop %q has no colour of its own", h)
		}
	}
	p := HopPalette()
	p["app"] = "#000000"
	if HopColor("app") != want["app"] || HopPalette()["app"] != want["app"] {
		t.Error("changing a returned palette changed the colours")
	}
}
