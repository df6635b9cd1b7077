package rules

import (
	"fmt"
	"math"
	"strings"

	"github.com/hopscope/hopscope/internal/contract"
)

// windows are the rate windows of the sidecar's recording rules: the short
// and long windows of every burn-rate pair in burnPolicy.
var windows = []string{"5m", "30m", "1h", "2h", "6h", "1d", "3d"}

// Names of the sidecar's recorded series; the window is appended
// (hopscope:sidecar_error_ratio:rate5m).
const (
	recRequests   = "hopscope:sidecar_requests:rate"
	recErrorRatio = "hopscope:sidecar_error_ratio:rate"
	recSlowRatio  = "hopscope:sidecar_slow_ratio:rate"
)

// inbound selects the sidecar's inbound requests: the only direction the
// sidecar measures today, named so that an outbound direction added later
// does not count twice.
const inbound = contract.LabelDirection + `="` + contract.DirectionInbound + `"`

// grpcServerErrors selects the gRPC calls that failed by the server's
// fault (contract.GRPCServerErrors): they answer HTTP 200, so code=~"5.."
// misses them.
var grpcServerErrors = contract.LabelGRPCCode + `=~"` + strings.Join(contract.GRPCServerErrors, "|") + `"`

// byService is the aggregation of every SLO series: the service label the
// sidecar sets and the namespace the scrape adds.
const byService = "sum by (namespace, " + contract.LabelService + ") "

// sidecarRecordingRules records, per (namespace, service) and for every
// window: the inbound request rate, the error ratio (5xx responses and
// gRPC calls failed by the server, whatever their HTTP code) and the slow
// ratio (the fraction of requests slower than the SLO's latency
// threshold).
func sidecarRecordingRules(slo SLO) []Rule {
	var out []Rule
	for _, w := range windows {
		total := fmt.Sprintf("%s(rate(%s{%s}[%s]))", byService, contract.MetricRequests, inbound, w)
		// "or" joins on every label: a series both 5xx and a gRPC server
		// error (a trailers-only answer with HTTP 503) counts once.
		errors := fmt.Sprintf(`%s(rate(%s{%s,%s=~"5.."}[%s]) or rate(%s{%s,%s}[%s]))`, byService,
			contract.MetricRequests, inbound, contract.LabelCode, w, contract.MetricRequests, inbound, grpcServerErrors, w)
		fast := fmt.Sprintf("%s(rate(%s_bucket{%s,%s}[%s]))", byService, contract.MetricRequestDuration, inbound, leMatcher(slo.LatencyThresholdSeconds), w)
		count := fmt.Sprintf("%s(rate(%s_count{%s}[%s]))", byService, contract.MetricRequestDuration, inbound, w)
		out = append(out,
			Rule{Record: recRequests + w, Expr: total},
			// A service that never failed has no error series: "or 0 *
			// total" records 0 for it instead of nothing.
			Rule{Record: recErrorRatio + w, Expr: fmt.Sprintf("(%s or 0 * %s) / %s", errors, total, total)},
			Rule{Record: recSlowRatio + w, Expr: fmt.Sprintf("1 - %s / %s", fast, count)},
		)
	}
	return out
}

// leMatcher selects the bucket whose upper bound is v. client_golang's
// text format writes an integral bound as "1"; Prometheus 3 (and 2.x
// scraping protobuf) stores it as "1.0". Integral bounds match both.
func leMatcher(v float64) string {
	s := formatFloat(v)
	if strings.ContainsAny(s, ".e") {
		return fmt.Sprintf("le=%q", s)
	}
	return fmt.Sprintf(`le=~"%s|%s\\.0"`, s, s)
}

// percent writes an objective as a percentage: 0.999 → "99.9".
func percent(v float64) string {
	return formatFloat(math.Round(v*100*1e9) / 1e9)
}
