{{/*
Chart name, truncated to 63 characters (a DNS label).
*/}}
{{- define "stubapi.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: the release name when it contains the chart name (release `stubapi` -> `stubapi`),
else <release>-<chart>; truncated to 63 characters.
*/}}
{{- define "stubapi.fullname" -}}
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

{{- define "stubapi.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Selector labels: name and instance only.
*/}}
{{- define "stubapi.selectorLabels" -}}
app.kubernetes.io/name: {{ include "stubapi.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "stubapi.labels" -}}
helm.sh/chart: {{ include "stubapi.chart" . }}
{{ include "stubapi.selectorLabels" . }}
app.kubernetes.io/version: {{ include "stubapi.imageTag" . | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: upstream
app.kubernetes.io/part-of: djbench
{{- end }}

{{- define "stubapi.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "stubapi.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "stubapi.imageTag" -}}
{{- .Values.image.tag | default .Chart.AppVersion | toString }}
{{- end }}

{{/*
A container's resources without the quantities dropped with null (resources: null,
resources.limits: null, resources.limits.memory: null). helm removes a null key that the
defaults have, but a null whose key the defaults lack reaches the templates (e.g. after
`helm upgrade --reuse-values` of a release installed with it), and toYaml would render it as
null: a zero quantity. Always a mapping ({} when nothing is left).
*/}}
{{- define "stubapi.resources" -}}
{{- $resources := dict }}
{{- range $kind, $quantities := . }}
{{- $kept := dict }}
{{- range $name, $quantity := $quantities }}
{{- if not (kindIs "invalid" $quantity) }}
{{- $_ := set $kept $name $quantity }}
{{- end }}
{{- end }}
{{- if $kept }}
{{- $_ := set $resources $kind $kept }}
{{- end }}
{{- end }}
{{- toYaml $resources }}
{{- end }}

{{/*
The options of the stub's command, `python -m stubapi` (as STUB_API_ARGV in
djbench/backends/local.py, bound to all addresses).
*/}}
{{- define "stubapi.args" -}}
{{- list "--host" "0.0.0.0" "--port" (toString .Values.containerPort) "--log-level" .Values.logLevel "--backlog" (toString .Values.backlog) | toJson }}
{{- end }}
