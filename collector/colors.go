package collector

// HopColors is the one palette of hops, shared by the terminal waterfall
// (hopscope breakdown) and the UI, so a hop looks the same everywhere.
// Backend kinds not listed use BackendColor.
var HopColors = map[string]string{
	"dns":             "#8e44ad",
	"connect":         "#9b59b6",
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

// BackendColor colours backend kinds without an entry in HopColors.
const BackendColor = "#6c5ce7"

// HopColor returns a hop's colour.
func HopColor(hop string) string {
	if c, ok := HopColors[hop]; ok {
		return c
	}
	return BackendColor
}
