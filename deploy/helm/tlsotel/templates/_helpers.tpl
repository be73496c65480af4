{{/* The name of every object: the release name, with "tlsotel" unless it already says so. */}}
{{- define "tlsotel.fullname" -}}
{{- if contains "tlsotel" .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-tlsotel" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "tlsotel.labels" -}}
app.kubernetes.io/name: tlsotel
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "tlsotel.selector" -}}
app.kubernetes.io/name: tlsotel
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The agent's container, the same in both modes. */}}
{{- define "tlsotel.container" -}}
{{- $c := .Values.capture -}}
name: tlsotel
image: "{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}"
imagePullPolicy: {{ .Values.image.pullPolicy }}
args:
  - run
  {{- if not .Values.otlp.endpoint }}
  - --print
  {{- end }}
  {{- with $c.requestHeaders }}
  - --capture-request-headers={{ join "," . }}
  {{- end }}
  {{- with $c.responseHeaders }}
  - --capture-response-headers={{ join "," . }}
  {{- end }}
  - --capture-bytes={{ int $c.bytes }}
  - --capture-segments={{ int $c.segments }}
  - --ring-buffer-size={{ $c.ringBufferSize }}
  - --response-timeout={{ $c.responseTimeout }}
  {{- if not $c.redaction }}
  - --no-redaction
  {{- end }}
  {{- if not $c.stitch }}
  - --no-stitch
  {{- end }}
  {{- with $c.comm }}
  - --comm={{ . }}
  {{- end }}
env:
  - name: K8S_NODE_NAME
    valueFrom:
      fieldRef:
        fieldPath: spec.nodeName
  {{- with .Values.otlp.endpoint }}
  - name: OTEL_EXPORTER_OTLP_ENDPOINT
    value: {{ . | quote }}
  {{- end }}
  {{- with .Values.otlp.headers }}
  - name: OTEL_EXPORTER_OTLP_HEADERS
    value: {{ . | quote }}
  {{- end }}
  - name: OTEL_RESOURCE_ATTRIBUTES
    value: {{ include "tlsotel.resourceAttributes" . | quote }}
  {{- with .Values.extraEnv }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
securityContext:
  runAsNonRoot: true
  runAsUser: 65534
  runAsGroup: 65534
  privileged: false
  # The image's node carries the capabilities as file capabilities: no_new_privs would void them.
  allowPrivilegeEscalation: true
  readOnlyRootFilesystem: true
  capabilities:
    drop: ["ALL"]
    # Exactly the capabilities the README lists (src/util/caps.ts): not a value, on purpose.
    add: ["SYS_ADMIN", "SYS_PTRACE", "DAC_READ_SEARCH"]
resources:
  {{- toYaml .Values.resources | nindent 2 }}
{{- end -}}

{{- define "tlsotel.resourceAttributes" -}}
{{- $pairs := list "k8s.node.name=$(K8S_NODE_NAME)" -}}
{{- range $k, $v := .Values.resourceAttributes -}}
{{- $pairs = append $pairs (printf "%s=%s" $k (toString $v)) -}}
{{- end -}}
{{- join "," $pairs -}}
{{- end -}}
