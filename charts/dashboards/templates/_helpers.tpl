{{/*
Chart name, truncated to 63 characters (a DNS label).
*/}}
{{- define "dashboards.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: the release name when it contains the chart name (djbench-dashboards), else
<release>-<chart>; truncated to 63 characters.
*/}}
{{- define "dashboards.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "dashboards.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Selector labels: name and instance only.
*/}}
{{- define "dashboards.selectorLabels" -}}
app.kubernetes.io/name: {{ include "dashboards.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "dashboards.labels" -}}
helm.sh/chart: {{ include "dashboards.chart" . }}
{{ include "dashboards.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: dashboards
app.kubernetes.io/part-of: djbench
{{- end }}

{{/*
There is no pod in this chart, hence no ServiceAccount; defined for the standard helper set.
*/}}
{{- define "dashboards.serviceAccountName" -}}
default
{{- end }}
