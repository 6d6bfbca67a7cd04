{{/* Shared pieces of the weft chart. */}}

{{- define "weft.labels" -}}
app.kubernetes.io/part-of: weft
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{- define "weft.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{/* The controller's Service: the one address of push and CA (the name is in its certificate). */}}
{{- define "weft.controllerUrl" -}}
https://weft-controller.{{ .Release.Namespace }}.svc:15010
{{- end }}

{{/* The SPIFFE id in the controller's serving certificate, which proxies check. */}}
{{- define "weft.controllerIdentity" -}}
spiffe://{{ .Values.trustDomain }}/ns/{{ .Release.Namespace }}/sa/weft-controller
{{- end }}
