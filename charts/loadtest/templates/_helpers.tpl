{{/*
Chart name, truncated to 63 characters (a DNS label).
*/}}
{{- define "loadtest.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name of the Job and its ConfigMaps. One release per load step: the release name is the
full name (`helm install k6-0001 ...` -> Job `k6-0001`).
*/}}
{{- define "loadtest.fullname" -}}
{{- default .Release.Name .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "loadtest.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Selector labels: name and instance only.
*/}}
{{- define "loadtest.selectorLabels" -}}
app.kubernetes.io/name: {{ include "loadtest.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
A string made a valid label value: [A-Za-z0-9_.-], at most 63, alphanumeric at both ends.
*/}}
{{- define "loadtest.labelValue" -}}
{{- regexReplaceAll "[^A-Za-z0-9_.-]" (toString .) "-" | trunc 63 | trimAll "-_." }}
{{- end }}

{{/*
The level as the k6 script writes it (a JavaScript number: 12.5, 1234567, 1e-7): toJson
formats numbers as ECMAScript does, toString would not (1.234567e+06). The k6 contract is
djbench/load/contract.py (format_level); tests check this chart against it.
*/}}
{{- define "loadtest.level" -}}
{{- toJson .Values.level }}
{{- end }}

{{/*
The step as k6 tags it: <model>-<level> (djbench.contracts.k6_step.step_tag).
*/}}
{{- define "loadtest.step" -}}
{{- printf "%s-%s" .Values.model (include "loadtest.level" .) }}
{{- end }}

{{- define "loadtest.labels" -}}
helm.sh/chart: {{ include "loadtest.chart" . }}
{{ include "loadtest.selectorLabels" . }}
app.kubernetes.io/version: {{ include "loadtest.imageTag" . | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: load
app.kubernetes.io/part-of: djbench
djbench.io/run: {{ include "loadtest.labelValue" .Values.run | quote }}
djbench.io/variant: {{ include "loadtest.labelValue" .Values.variant | quote }}
djbench.io/workload: {{ include "loadtest.labelValue" .Values.workload | quote }}
djbench.io/step: {{ include "loadtest.labelValue" (include "loadtest.step" .) | quote }}
{{- end }}

{{/*
The k6 pods' ServiceAccount: one per step only when asked for (k6 never calls the API server).
*/}}
{{- define "loadtest.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "loadtest.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "loadtest.imageTag" -}}
{{- .Values.image.tag | default .Chart.AppVersion | toString }}
{{- end }}

{{/*
A container's resources without the quantities dropped with null (resources: null,
resources.limits: null, resources.limits.memory: null). helm removes a null key that the
defaults have, but a null whose key the defaults lack reaches the templates (e.g. after
`helm upgrade --reuse-values` of a release installed with it), and toYaml would render it as
null: a zero quantity. Always a mapping ({} when nothing is left).
*/}}
{{- define "loadtest.resources" -}}
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
Checks what the schema cannot: the scenario is JSON and has a request for the workload.
*/}}
{{- define "loadtest.check" -}}
{{- $_ := required "scenario is required: --set-file scenario=PATH (the resolved scenario JSON)" .Values.scenario }}
{{- $_ = required "target is required: --set target=http://<variant Service>:8000" .Values.target }}
{{- $_ = required "variant is required: --set variant=<name>" .Values.variant }}
{{- $_ = required "views is required: --set views=<sync|async|async-s2a|async-raw>" .Values.views }}
{{- $_ = required "workload is required: --set workload=<name in the scenario>" .Values.workload }}
{{- $doc := fromJson (.Values.scenario | default "{}") }}
{{- if hasKey $doc "Error" }}
{{- fail (printf "scenario is not valid JSON (pass the resolved scenario with --set-file scenario=PATH): %s" (get $doc "Error")) }}
{{- end }}
{{- $requests := get $doc "requests" | default dict }}
{{- if not (kindIs "map" $requests) }}
{{- fail "scenario has no `requests` mapping: pass the resolved scenario (Scenario.resolved())" }}
{{- end }}
{{- $mixes := get $doc "mix" | default dict }}
{{- if not (or (hasKey $requests .Values.workload) (hasKey $mixes .Values.workload)) }}
{{- fail (printf "workload %q is not in the scenario's requests or mixes (%s)" .Values.workload (concat (keys $requests) (keys $mixes) | sortAlpha | join ", ")) }}
{{- end }}
{{- if not (gt (float64 .Values.level) 0.0) }}
{{- fail (printf "level=%v must be a positive number (VUs or requests per second)" .Values.level) }}
{{- end }}
{{- end }}

{{/*
The script's files under k6/ (a link to the repository's k6/ directory), as
ConfigMap key -> path in the mounted directory: bench.js, lib/config.js, lib/mix.js, ….
*/}}
{{- define "loadtest.scriptFiles" -}}
{{- $files := dict }}
{{- range $path, $_ := .Files.Glob "k6/**.js" }}
{{- $rel := trimPrefix "k6/" $path }}
{{- $_ := set $files (replace "/" "_" $rel) $rel }}
{{- end }}
{{- if not (hasKey $files "bench.js") }}
{{- fail "k6/bench.js is missing from the chart (charts/loadtest/k6 links to the repository's k6/)" }}
{{- end }}
{{- toJson $files }}
{{- end }}
