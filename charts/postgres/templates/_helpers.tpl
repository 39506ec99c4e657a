{{/*
Chart name, truncated to 63 characters (a DNS label).
*/}}
{{- define "postgres.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: the release name when it contains the chart name (release `postgres` -> `postgres`),
else <release>-<chart>; truncated to 63 characters.
*/}}
{{- define "postgres.fullname" -}}
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

{{- define "postgres.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Selector labels: name and instance only.
*/}}
{{- define "postgres.selectorLabels" -}}
app.kubernetes.io/name: {{ include "postgres.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Selector of the database pod: the seed Job's pods share name and instance, not the component.
*/}}
{{- define "postgres.dbSelectorLabels" -}}
{{ include "postgres.selectorLabels" . }}
app.kubernetes.io/component: database
{{- end }}

{{- define "postgres.labels" -}}
helm.sh/chart: {{ include "postgres.chart" . }}
{{ include "postgres.selectorLabels" . }}
app.kubernetes.io/version: {{ include "postgres.imageTag" . | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: djbench
{{- end }}

{{- define "postgres.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "postgres.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "postgres.imageTag" -}}
{{- .Values.image.tag | default .Chart.AppVersion | toString }}
{{- end }}

{{/*
A container's resources without the quantities dropped with null (resources: null,
resources.limits: null, resources.limits.memory: null). helm removes a null key that the
defaults have, but a null whose key the defaults lack reaches the templates (e.g. after
`helm upgrade --reuse-values` of a release installed with it), and toYaml would render it as
null: a zero quantity. Always a mapping ({} when nothing is left).
*/}}
{{- define "postgres.resources" -}}
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
The Secret holding the password: the existing one, or the generated one (the full name).
*/}}
{{- define "postgres.secretName" -}}
{{- .Values.auth.existingSecret | default (include "postgres.fullname" .) }}
{{- end }}

{{/*
Postgres server arguments: max_connections and the config map, each as `-c key=value`.
*/}}
{{- define "postgres.args" -}}
{{- $args := list "postgres" "-c" (printf "max_connections=%v" (int .Values.maxConnections)) }}
{{- range $k, $v := .Values.config }}
{{- $args = append $args "-c" }}
{{- $args = append $args (printf "%s=%v" $k $v) }}
{{- end }}
{{- toJson $args }}
{{- end }}
