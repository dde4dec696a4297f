{{/* The chart's name, or nameOverride. */}}
{{- define "serin.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The name of the release's objects: fullnameOverride, else the release
name, suffixed with the chart's name unless it already holds it. */}}
{{- define "serin.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "serin.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels of every object. */}}
{{- define "serin.labels" -}}
helm.sh/chart: {{ include "serin.chart" . }}
{{ include "serin.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Labels that select the controller's pods. */}}
{{- define "serin.selectorLabels" -}}
app.kubernetes.io/name: {{ include "serin.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "serin.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "serin.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Values of Flagger's chart that serin cannot honour stop the install,
naming the value, rather than being ignored. */}}
{{- define "serin.refuseUnsupported" -}}
{{- if .Values.prometheus.install -}}
{{- fail "prometheus.install=true: serin's chart installs no Prometheus; set metricsServer to yours (linkerd-viz's: http://prometheus.linkerd-viz:9090)" -}}
{{- end -}}
{{- if .Values.ingressAnnotationsPrefix -}}
{{- fail (printf "ingressAnnotationsPrefix=%s: serin drives Linkerd (SMI), Gateway API and plain Kubernetes, not an ingress controller" .Values.ingressAnnotationsPrefix) -}}
{{- end -}}
{{- if .Values.ingressClass -}}
{{- fail (printf "ingressClass=%s: serin drives Linkerd (SMI), Gateway API and plain Kubernetes, not an ingress controller" .Values.ingressClass) -}}
{{- end -}}
{{- if .Values.controlplane.kubeconfig.secretName -}}
{{- fail "controlplane.kubeconfig.secretName: serin writes a Canary's routes in the Canary's own cluster; a separate service mesh cluster is not supported" -}}
{{- end -}}
{{- end -}}
