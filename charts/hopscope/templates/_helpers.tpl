{{/*
The chart's name, or nameOverride.
*/}}
{{- define "hopscope.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The full name every resource name starts with: fullnameOverride, else the
release name when it contains the chart's name, else <release>-<name>.
Cut to 43 characters so that the longest name made from it,
"<fullname>-dashboard-breakdown" (20 more), stays within 63.
*/}}
{{- define "hopscope.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 43 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 43 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 43 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Chart name and version for the helm.sh/chart label.
*/}}
{{- define "hopscope.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The chart's own labels of every resource.
*/}}
{{- define "hopscope.labels" -}}
helm.sh/chart: {{ include "hopscope.chart" . }}
app.kubernetes.io/name: {{ include "hopscope.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: hopscope
{{- end }}

{{/*
Selector labels of a component; call with (dict "ctx" $ "component" "collector").
*/}}
{{- define "hopscope.selectorLabels" -}}
app.kubernetes.io/name: {{ include "hopscope.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/*
metadata.labels of a component's resources; call with (dict "ctx" $
"component" "collector"), and "labels" for the object's own labels from
the values (serviceMonitor.labels, …). The chart's labels win over the
object's, which win over commonLabels: no key is written twice.
commonLabels never reach selectors nor pod templates.
*/}}
{{- define "hopscope.componentLabels" -}}
{{- $own := fromYaml (include "hopscope.labels" .ctx) }}
{{- $_ := set $own "app.kubernetes.io/component" .component }}
{{- toYaml (merge $own (deepCopy (default dict .labels)) (deepCopy (default dict .ctx.Values.commonLabels))) }}
{{- end }}

{{/*
Names of the components' resources.
*/}}
{{- define "hopscope.collector.fullname" -}}
{{- include "hopscope.fullname" . }}-collector
{{- end }}

{{- define "hopscope.gateway.fullname" -}}
{{- printf "%s-gateway" (include "hopscope.fullname" .) }}
{{- end }}

{{- define "hopscope.collector.headless" -}}
{{- printf "%s-collector-headless" (include "hopscope.fullname" .) }}
{{- end }}

{{/*
Whether the collector runs scaled out: more than one replica, behind the
OpenTelemetry Collector gateway that routes by trace id (docs/scaling.md).
*/}}
{{- define "hopscope.scaleOut" -}}
{{- if and .Values.collector.enabled (gt (int .Values.collector.replicas) 1) }}true{{ end }}
{{- end }}

{{/*
The gateway's image: collector.gateway.image, its tag the chart's appVersion
by default, its digest winning over the tag, under global.imageRegistry.
*/}}
{{- define "hopscope.gateway.image" -}}
{{- $g := .Values.collector.gateway.image }}
{{- include "hopscope.imageRef" (dict "ctx" . "repository" $g.repository "tag" (default .Chart.AppVersion $g.tag) "digest" $g.digest) }}
{{- end }}

{{- define "hopscope.rum.fullname" -}}
{{- include "hopscope.fullname" . }}-rum
{{- end }}

{{- define "hopscope.injector.fullname" -}}
{{- include "hopscope.fullname" . }}-injector
{{- end }}

{{- define "hopscope.injector.certSecret" -}}
{{- include "hopscope.fullname" . }}-injector-tls
{{- end }}

{{- define "hopscope.injector.certManagerSecret" -}}
{{- include "hopscope.fullname" . }}-injector-cert
{{- end }}

{{- define "hopscope.sidecarTemplate.fullname" -}}
{{- include "hopscope.fullname" . }}-sidecar-template
{{- end }}

{{- define "hopscope.collector.serviceAccountName" -}}
{{- if .Values.collector.serviceAccount.create }}
{{- default (include "hopscope.collector.fullname" .) .Values.collector.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.collector.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "hopscope.injector.serviceAccountName" -}}
{{- if .Values.injector.serviceAccount.create }}
{{- default (include "hopscope.injector.fullname" .) .Values.injector.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.injector.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
An image reference; call with (dict "ctx" $ "repository" r "tag" t "digest" d).
global.imageRegistry, when set, takes the place of the repository's
registry (its first path element when that names a host: it has a dot or
a colon, or is localhost), or is put in front of a repository that names
none: ghcr.io/hopscope/hopscope becomes mirror.example.com/hopscope/hopscope.
A digest wins over the tag: <repository>@<digest>.
*/}}
{{- define "hopscope.imageRef" -}}
{{- $repo := .repository }}
{{- with dig "imageRegistry" "" (default dict .ctx.Values.global) }}
{{- $parts := splitList "/" $repo }}
{{- $first := first $parts }}
{{- if and (gt (len $parts) 1) (or (contains "." $first) (contains ":" $first) (eq $first "localhost")) }}
{{- $repo = rest $parts | join "/" }}
{{- end }}
{{- $repo = printf "%s/%s" (trimSuffix "/" .) $repo }}
{{- end }}
{{- if .digest }}
{{- printf "%s@%s" $repo .digest }}
{{- else }}
{{- printf "%s:%s" $repo .tag }}
{{- end }}
{{- end }}

{{/*
The image of the chart's pods: image, its tag the chart's appVersion by
default, its digest winning over the tag, under global.imageRegistry.
*/}}
{{- define "hopscope.image" -}}
{{- $i := .Values.image }}
{{- include "hopscope.imageRef" (dict "ctx" . "repository" $i.repository "tag" (default .Chart.AppVersion $i.tag) "digest" $i.digest) }}
{{- end }}

{{/*
The sidecar's image: sidecar.image, field by field over image, under
global.imageRegistry. The digest is sidecar.image.digest, else image.digest
unless sidecar.image.tag is set (a tag of the sidecar's own beats the
digest of the chart's image).
*/}}
{{- define "hopscope.sidecar.image" -}}
{{- $i := .Values.image }}
{{- $s := .Values.sidecar.image }}
{{- $repo := default $i.repository $s.repository }}
{{- $tag := default (default .Chart.AppVersion $i.tag) $s.tag }}
{{- $digest := $s.digest }}
{{- if and (not $digest) (not $s.tag) }}
{{- $digest = $i.digest }}
{{- end }}
{{- include "hopscope.imageRef" (dict "ctx" . "repository" $repo "tag" $tag "digest" $digest) }}
{{- end }}

{{/*
Whether the Prometheus Operator's objects (ServiceMonitor, PodMonitor,
PrometheusRule) are rendered when enabled: monitoringCRDs "always", or
"auto" and the cluster serves monitoring.coreos.com/v1 (helm template
without a cluster: only with --api-versions monitoring.coreos.com/v1).
*/}}
{{- define "hopscope.monitoringAPI" -}}
{{- if or (eq .Values.monitoringCRDs "always") (.Capabilities.APIVersions.Has "monitoring.coreos.com/v1") }}true{{ end }}
{{- end }}

{{/*
The scrape settings of a ServiceMonitor endpoint or PodMonitor
podMetricsEndpoint; call with serviceMonitor or podMonitor values.
*/}}
{{- define "hopscope.scrapeEndpoint" -}}
interval: {{ .interval }}
{{- with .scrapeTimeout }}
scrapeTimeout: {{ . }}
{{- end }}
honorLabels: {{ .honorLabels }}
{{- with .relabelings }}
relabelings:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .metricRelabelings }}
metricRelabelings:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/*
A Kubernetes quantity (a number, or a string as "1Gi", "512Mi", "1G",
"1.5Gi", "1e9"; the forms values.schema.json takes) in bytes, as a float.
*/}}
{{- define "hopscope.quantityBytes" -}}
{{- $q := toString . }}
{{- $re := "^[+]?([0-9]*[.]?[0-9]*([eE][+-]?[0-9]+)?)([numkMGTPE]|[KMGTPE]i)?$" }}
{{- if not (regexMatch $re $q) }}
{{- fail (printf "%q is not a Kubernetes quantity" $q) }}
{{- end }}
{{- $units := dict "" 1 "n" 0.000000001 "u" 0.000001 "m" 0.001 "k" 1000 "M" 1000000 "G" 1000000000 "T" 1000000000000 "P" 1000000000000000 "E" 1000000000000000000
  "Ki" 1024 "Mi" 1048576 "Gi" 1073741824 "Ti" 1099511627776 "Pi" 1125899906842624 "Ei" 1152921504606846976 }}
{{- mulf (regexReplaceAll $re $q "${1}" | float64) (get $units (regexReplaceAll $re $q "${3}")) }}
{{- end }}

{{/*
GOMEMLIMIT of a Go container: 80 % of its memory limit, in bytes; call with
the container's resources. The other 20 % are for what the Go runtime does
not count (the binary's code mapped from its file, ~40 MiB) and for the
runtime overshooting its soft limit under load, so that the container is
not OOM-killed first. Computed from the values: a limit changed outside
them (a VerticalPodAutoscaler, a LimitRange) does not change it.
*/}}
{{- define "hopscope.goMemLimit" -}}
{{- printf "%.0f" (floor (mulf (include "hopscope.quantityBytes" .limits.memory) 0.8)) }}
{{- end }}

{{/*
Whether the in-cluster injector runs: enabled and not replaced by an
external one (injector.webhook.url).
*/}}
{{- define "hopscope.injector.inCluster" -}}
{{- if and .Values.injector.enabled (not .Values.injector.webhook.url) }}true{{ end }}
{{- end }}

{{/*
Whether the injector makes its own self-signed certificate (and so needs
RBAC for its Secret and the webhook configuration's caBundle).
*/}}
{{- define "hopscope.injector.selfSigned" -}}
{{- if and (include "hopscope.injector.inCluster" .) (not .Values.injector.certManager.enabled) }}true{{ end }}
{{- end }}

{{/*
The sidecar's OTLP endpoint: sidecar.otlpEndpoint, else the gateway's
OTLP/HTTP port when the collector is scaled out, else the collector's when it
is deployed, else "" (no spans).
*/}}
{{- define "hopscope.sidecar.otlpEndpoint" -}}
{{- if .Values.sidecar.otlpEndpoint }}
{{- .Values.sidecar.otlpEndpoint }}
{{- else if include "hopscope.scaleOut" . }}
{{- printf "http://%s.%s.svc:4318" (include "hopscope.gateway.fullname" .) .Release.Namespace }}
{{- else if .Values.collector.enabled }}
{{- printf "http://%s.%s.svc:4318" (include "hopscope.collector.fullname" .) .Release.Namespace }}
{{- end }}
{{- end }}

{{/*
Whether the sidecar is added as a native sidecar: sidecar.nativeSidecar, with
auto meaning Kubernetes >= 1.29.
*/}}
{{- define "hopscope.sidecar.native" -}}
{{- $v := .Values.sidecar.nativeSidecar | toString }}
{{- if eq $v "auto" }}
{{- semverCompare ">=1.29-0" .Capabilities.KubeVersion.Version }}
{{- else }}
{{- eq $v "true" }}
{{- end }}
{{- end }}

{{/*
A PodDisruptionBudget's bound: minAvailable when set, else maxUnavailable.
Call with the pdb values.
*/}}
{{- define "hopscope.pdbBound" -}}
{{- if ne (toString .minAvailable) "" }}
minAvailable: {{ .minAvailable }}
{{- else }}
maxUnavailable: {{ .maxUnavailable }}
{{- end }}
{{- end }}

{{/*
The latency threshold's bucket matcher, as rules/sidecar.go leMatcher
writes it: le="0.5" for a fraction, le=~"1|1\\.0" for a whole number
(client_golang's text format writes "1", Prometheus 3 stores "1.0").
*/}}
{{- define "hopscope.slo.leMatcher" -}}
{{- $t := .Values.slo.latencyThresholdSeconds | float64 | toString }}
{{- if or (contains "." $t) (contains "e" $t) }}
{{- printf "le=%q" $t }}
{{- else }}
{{- printf "le=~\"%s|%s\\\\.0\"" $t $t }}
{{- end }}
{{- end }}

{{/*
An objective as a percentage, as rules/sidecar.go percent writes it:
0.999 → 99.9. Call with the objective. mulf multiplies decimals, so the
product is the float64 nearest the exact percentage, as percent rounds to.
*/}}
{{- define "hopscope.slo.percent" -}}
{{- mulf (float64 .) 100 }}
{{- end }}

{{/*
Checks of values the schema cannot express.
*/}}
{{- define "hopscope.validate" -}}
{{- if and .Values.collector.enabled .Values.collector.rum.enabled (not .Values.collector.rum.allowedOrigins) }}
{{- fail "collector.rum.allowedOrigins: name the page origins allowed to send beacons (or [\"*\"]) when collector.rum.enabled is true" }}
{{- end }}
{{- if and .Values.collector.rum.ingress.enabled (not .Values.collector.rum.enabled) }}
{{- fail "collector.rum.ingress.enabled needs collector.rum.enabled" }}
{{- end }}
{{- if and .Values.injector.certManager.enabled .Values.injector.webhook.url }}
{{- fail "injector.certManager.enabled and injector.webhook.url exclude each other: an injector outside the cluster brings its own certificate (injector.webhook.caBundle)" }}
{{- end }}
{{- if and .Values.injector.webhook.url (not (hasPrefix "https://" .Values.injector.webhook.url)) }}
{{- fail "injector.webhook.url must start with https://" }}
{{- end }}
{{- end }}
