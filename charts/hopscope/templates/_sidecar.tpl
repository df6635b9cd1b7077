{{/*
The sidecar template the injector reads (injector.Template): the container
it adds to a pod, whether as a native sidecar, the app port name it takes
over by default, and its proxy and admin ports.
*/}}
{{- define "hopscope.sidecarTemplate" -}}
container:
  name: hopscope-sidecar
  image: {{ include "hopscope.sidecar.image" . }}
  imagePullPolicy: {{ default .Values.image.pullPolicy .Values.sidecar.image.pullPolicy }}
  {{- /* The slim sidecar binary of the image (cmd/hopscope-sidecar): the
  same flags as `hopscope sidecar`, without the collector, the injector and
  the Kubernetes client linked in. */}}
  command:
    - /hopscope-sidecar
  env:
    - name: HOPSCOPE_LISTEN
      value: ":15080"
    - name: HOPSCOPE_ADMIN_LISTEN
      value: ":15090"
    {{- with include "hopscope.sidecar.otlpEndpoint" . }}
    - name: HOPSCOPE_OTLP_ENDPOINT
      value: {{ . | quote }}
    {{- end }}
    {{- /* dig: absent in a release upgraded with --reuse-values from an older chart */}}
    {{- $fromReqID := toString (dig "traceIDFromRequestID" "auto" .Values.sidecar) }}
    {{- if or (eq $fromReqID "true") (and (eq $fromReqID "auto") (include "hopscope.scaleOut" .)) }}
    # A request's trace id is its 32-hex X-Request-ID when it has no trace
    # context: ingress lines then reach the replica owning the trace.
    - name: HOPSCOPE_TRACE_ID_FROM_REQUEST_ID
      value: "true"
    {{- end }}
    {{- with .Values.sidecar.fluentAddress }}
    - name: HOPSCOPE_FLUENT_ADDRESS
      value: {{ . | quote }}
    {{- end }}
    {{- with .Values.sidecar.propagators }}
    - name: HOPSCOPE_PROPAGATORS
      value: {{ join "," . | quote }}
    {{- end }}
    {{- /* dig: absent in a release upgraded with --reuse-values from an older chart */}}
    {{- with toString (dig "tracesSampler" "" .Values.sidecar) }}
    - name: OTEL_TRACES_SAMPLER
      value: {{ . | quote }}
    {{- end }}
    {{- with toString (dig "tracesSamplerArg" "" .Values.sidecar) }}
    - name: OTEL_TRACES_SAMPLER_ARG
      value: {{ . | quote }}
    {{- end }}
    {{- with .Values.sidecar.timingAllowOrigin }}
    - name: HOPSCOPE_TIMING_ALLOW_ORIGIN
      value: {{ . | quote }}
    {{- end }}
    - name: HOPSCOPE_ACCESS_LOG
      value: {{ .Values.sidecar.accessLog | quote }}
    {{- if .Values.auth.enabled }}
    # The collector's bearer token, from a Secret of the pod's namespace
    # (optional: without it the spans are refused and counted as dropped,
    # the app's traffic is not touched).
    - name: HOPSCOPE_OTLP_TOKEN
      valueFrom:
        secretKeyRef:
          name: {{ .Values.auth.secretName }}
          key: {{ .Values.auth.senderKey }}
          optional: true
    - name: OTEL_EXPORTER_OTLP_HEADERS
      value: "authorization=Bearer%20$(HOPSCOPE_OTLP_TOKEN)"
    {{- end }}
    {{- with .Values.sidecar.requestBodyTimeout }}
    - name: HOPSCOPE_REQUEST_BODY_TIMEOUT
      value: {{ . | quote }}
    {{- end }}
    - name: HOPSCOPE_POD_APP_LABEL
      valueFrom:
        fieldRef:
          fieldPath: metadata.labels['app.kubernetes.io/name']
    - name: HOPSCOPE_POD_NAME
      valueFrom:
        fieldRef:
          fieldPath: metadata.name
    - name: HOPSCOPE_POD_NAMESPACE
      valueFrom:
        fieldRef:
          fieldPath: metadata.namespace
    - name: HOPSCOPE_NODE_NAME
      valueFrom:
        fieldRef:
          fieldPath: spec.nodeName
    {{- /* The injector appends k8s.deployment.name=<deployment> for a Deployment's pod (injector.DeploymentName): no downward API field holds it. */}}
    - name: OTEL_RESOURCE_ATTRIBUTES
      value: "k8s.pod.name=$(HOPSCOPE_POD_NAME),k8s.namespace.name=$(HOPSCOPE_POD_NAMESPACE),k8s.node.name=$(HOPSCOPE_NODE_NAME)"
    {{- /* The sidecar holds the Go runtime to it less 40 MiB (--memory-limit). */}}
    - name: HOPSCOPE_MEMORY_LIMIT
      valueFrom:
        resourceFieldRef:
          resource: limits.memory
    {{- with .Values.sidecar.extraEnv }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  resources:
    {{- toYaml .Values.sidecar.resources | nindent 4 }}
  securityContext:
    runAsNonRoot: true
    runAsUser: 65532
    allowPrivilegeEscalation: false
    readOnlyRootFilesystem: true
    capabilities:
      drop:
        - ALL
    seccompProfile:
      type: RuntimeDefault
  ports:
    - name: hopscope-admin
      containerPort: 15090
  readinessProbe:
    httpGet:
      path: /readyz
      port: 15090
    periodSeconds: 5
    failureThreshold: 2
  startupProbe:
    httpGet:
      path: /healthz
      port: 15090
    periodSeconds: 1
    failureThreshold: 30
native: {{ include "hopscope.sidecar.native" . }}
portName: {{ .Values.sidecar.portName }}
proxyPort: 15080
adminPort: 15090
drainOnPreStop: true
{{- if .Values.sidecar.egress.enabled }}
egress:
  listen: "127.0.0.1:{{ .Values.sidecar.egress.port }}"
  noProxy: {{ .Values.sidecar.egress.noProxy | quote }}
{{- end }}
{{- end }}
