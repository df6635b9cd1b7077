package collector

import "github.com/hopscope/hopscope/internal/contract"

// BackendColor colours the hops without a colour of their own: backend
// kinds other than postgres, redis and http_egress.
const BackendColor = "#6c5ce7"

// HopColor returns a hop's colour, from the one palette of hops shared by
// the terminal waterfall (hopscope breakdown) and the UI, so a hop looks
// the same everywhere.
func HopColor(hop string) string {
	switch hop {
	case contract.HopDNS:
		return "#8e44ad"
	case contract.HopConnect:
		return "#9b59b6"
	case contract.HopTLS:
		return "#a29bfe"
	case contract.HopEdgeNetwork:
		return "#2980b9"
	case contract.HopLoadBalancer:
		return "#e67e22"
	case contract.HopIngress:
		return "#f1c40f"
	case contract.HopIngressRetries:
		return "#c0392b"
	case contract.HopService:
		return "#16a085"
	case contract.HopSidecar:
		return "#7f8c8d"
	case contract.HopApp:
		return "#27ae60"
	case contract.HopPostgres:
		return "#336791"
	case contract.HopRedis:
		return "#d82c20"
	case contract.HopHTTPEgress:
		return "#e84393"
	case contract.HopDownload:
		return "#00b894"
	case contract.HopOther:
		return "#b2bec3"
	}
	return BackendColor
}

// colouredHops are the hops HopColor has a colour of its own for.
var colouredHops = [...]string{
	contract.HopDNS, contract.HopConnect, contract.HopTLS, contract.HopEdgeNetwork, contract.HopLoadBalancer,
	contract.HopIngress, contract.HopIngressRetries, contract.HopService, contract.HopSidecar,
	contract.HopApp, contract.HopPostgres, contract.HopRedis, contract.HopHTTPEgress,
	contract.HopDownload, contract.HopOther,
}

// HopPalette returns HopColor of every hop with a colour of its own, a new
// map each call: what the UI is given (ui.Options.HopColors), which colours
// any other hop with BackendColor.
func HopPalette() map[string]string {
	m := make(map[string]string, len(colouredHops))
	for _, h := range colouredHops {
		m[h] = HopColor(h)
	}
	return m
}
