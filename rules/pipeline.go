package rules

import "github.com/hopscope/hopscope/internal/contract"

// pipelineAlerts returns the alerts on hopscope's own telemetry pipeline:
// sidecars dropping spans or log records, the collector evicting traces
// before their window ends and failing to export to the OTLP backend.
//
// None of them touches users' requests, so none pages: all three are
// warnings (a ticket). Dropping and evicting make the data partial; a
// failing export means no traces reach the trace store, which is worse for
// whoever debugs with them but still hurts no user request.
func pipelineAlerts() []Rule {
	return []Rule{
		{
			Alert:  "HopscopeTelemetryDropped",
			Expr:   "sum by (namespace, pod, " + contract.LabelSink + ") (rate(" + contract.MetricTelemetryDropped + "[5m])) > 0",
			For:    "15m",
			Labels: map[string]string{"severity": severityWarning},
			Annotations: map[string]string{
				"summary":     "The sidecar in {{ $labels.namespace }}/{{ $labels.pod }} drops {{ $labels.sink }} telemetry",
				"description": `The sidecar in {{ $labels.namespace }}/{{ $labels.pod }} has dropped {{ printf "%.2f" $value }} records/s for 15 minutes because its {{ $labels.sink }} sink is slow, full or down: spans or access logs are missing.`,
			},
		},
		{
			Alert:  "HopscopeCollectorEvicting",
			Expr:   "sum by (namespace, pod) (rate(" + contract.MetricEvicted + "[5m])) > 0",
			For:    "15m",
			Labels: map[string]string{"severity": severityWarning},
			Annotations: map[string]string{
				"summary":     "The collector {{ $labels.namespace }}/{{ $labels.pod }} evicts traces",
				"description": `The collector {{ $labels.namespace }}/{{ $labels.pod }} has evicted {{ printf "%.2f" $value }} traces/s for 15 minutes before their window ended because --max-traces was reached: their breakdowns are incomplete. Raise --max-traces (and the collector's memory) or shorten --window.`,
			},
		},
		{
			Alert:  "HopscopeCollectorExportFailing",
			Expr:   "sum by (namespace, pod) (rate(" + contract.MetricExportErrors + "[5m])) > 0",
			For:    "10m",
			Labels: map[string]string{"severity": severityWarning},
			Annotations: map[string]string{
				"summary":     "The collector {{ $labels.namespace }}/{{ $labels.pod }} fails to export spans",
				"description": `The collector {{ $labels.namespace }}/{{ $labels.pod }} has failed {{ printf "%.2f" $value }} exports/s to the OTLP backend for 10 minutes: traces are not reaching the trace store. Check --export-otlp-endpoint and the backend.`,
			},
		},
	}
}
