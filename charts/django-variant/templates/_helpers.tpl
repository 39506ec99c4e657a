{{/*
Chart name, truncated to 63 characters (a DNS label).
*/}}
{{- define "django-variant.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name of every object. One release per variant: the release name (the variant) is the full
name, so `helm install uvicorn charts/django-variant` gives the Service `uvicorn`.
*/}}
{{- define "django-variant.fullname" -}}
{{- default .Release.Name .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Chart name and version, for the helm.sh/chart label.
*/}}
{{- define "django-variant.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Selector labels: name and instance only (immutable in a Deployment's selector).
*/}}
{{- define "django-variant.selectorLabels" -}}
app.kubernetes.io/name: {{ include "django-variant.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Common labels, plus what the variant is (read by dashboards and the kubernetes backend).
*/}}
{{- define "django-variant.labels" -}}
helm.sh/chart: {{ include "django-variant.chart" . }}
{{ include "django-variant.selectorLabels" . }}
app.kubernetes.io/version: {{ include "django-variant.imageTag" . | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: server
app.kubernetes.io/part-of: djbench
{{- $v := include "django-variant.definition" . | fromYaml }}
djbench.io/variant: {{ $v.name | quote }}
djbench.io/server: {{ $v.server | quote }}
djbench.io/interface: {{ $v.interface | quote }}
djbench.io/views: {{ $v.views | quote }}
{{- end }}

{{/*
Name of the ServiceAccount to use.
*/}}
{{- define "django-variant.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "django-variant.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "django-variant.imageTag" -}}
{{- .Values.image.tag | default .Chart.AppVersion | toString }}
{{- end }}

{{- define "django-variant.image" -}}
{{- printf "%s:%s" .Values.image.repository (include "django-variant.imageTag" .) }}
{{- end }}

{{/*
The variant's definition from variants.yaml (a symlink to djbench/variants.yaml), checked,
as YAML: name, server, interface, views, threads, argv. Refuses an unknown variant, a server
the image does not provide, and a worker count other than one without the explicit override.
*/}}
{{- define "django-variant.definition" -}}
{{- $all := .Files.Get "variants.yaml" | fromYaml }}
{{- if or (not $all) (hasKey $all "Error") }}
{{- fail "variants.yaml is missing or invalid in the chart (it links to djbench/variants.yaml)" }}
{{- end }}
{{- $name := .Values.variant | default .Release.Name }}
{{- if not (hasKey ($all | default dict) $name) }}
{{- fail (printf "variant %q is not defined in djbench/variants.yaml; known variants: %s" $name (keys ($all | default dict) | sortAlpha | join ", ")) }}
{{- end }}
{{- /* Lint mode does not stop at fail: carry on with an empty definition. */}}
{{- $def := get ($all | default dict) $name }}
{{- if not (kindIs "map" $def) }}
{{- $def = dict "server" "" "interface" "" "views" "" "threads" 1 "argv" (list "{workers}") }}
{{- end }}
{{- $servers := list "gunicorn" "uwsgi" "uvicorn" "granian" }}
{{- if not (has (toString $def.server) $servers) }}
{{- fail (printf "variant %q: server %q is unknown (the django image provides %s)" $name (toString $def.server) (join ", " $servers)) }}
{{- end }}
{{- if not (has "{workers}" $def.argv) }}
{{- fail (printf "variant %q: argv must pass the worker count as {workers}" $name) }}
{{- end }}
{{- if and (ne (int .Values.workers) 1) (not .Values.allowMultipleWorkers) }}
{{- fail (printf "workers=%v: djbench runs exactly one worker per pod; set allowMultipleWorkers=true to override" .Values.workers) }}
{{- end }}
name: {{ $name | quote }}
server: {{ $def.server | quote }}
interface: {{ $def.interface | quote }}
views: {{ $def.views | quote }}
threads: {{ .Values.threads | default $def.threads | int }}
argv: {{ $def.argv | toJson }}
{{- end }}

{{/*
The server's command line: argv from variants.yaml with its placeholders replaced, as JSON.
*/}}
{{- define "django-variant.argv" -}}
{{- $v := include "django-variant.definition" . | fromYaml }}
{{- $argv := list }}
{{- range $v.argv }}
{{- $arg := toString . }}
{{- $arg = replace "{host}" "0.0.0.0" $arg }}
{{- $arg = replace "{port}" (toString $.Values.containerPort) $arg }}
{{- $arg = replace "{workers}" (toString (int $.Values.workers)) $arg }}
{{- $arg = replace "{threads}" (toString $v.threads) $arg }}
{{- $arg = replace "{app}" (toString (get $.Values.app $v.interface)) $arg }}
{{- $argv = append $argv $arg }}
{{- end }}
{{- toJson $argv }}
{{- end }}

{{/*
A Kubernetes CPU quantity in millicores ("1" -> 1000, "500m" -> 500, "1.5" -> 1500).
*/}}
{{- define "django-variant.millicores" -}}
{{- $q := toString . }}
{{- if hasSuffix "m" $q }}
{{- trimSuffix "m" $q | int64 }}
{{- else }}
{{- mulf (float64 $q) 1000 | int64 }}
{{- end }}
{{- end }}

{{/*
A Kubernetes memory quantity in bytes ("512Mi", "1Gi", "500M", "1000000").
*/}}
{{- define "django-variant.bytes" -}}
{{- $q := toString . }}
{{- $units := dict "Ki" 1024 "Mi" 1048576 "Gi" 1073741824 "Ti" 1099511627776 "k" 1000 "M" 1000000 "G" 1000000000 "T" 1000000000000 }}
{{- $n := regexFind "^[0-9.]+" $q }}
{{- $unit := trimPrefix $n $q }}
{{- if not (regexMatch "^[0-9]+(\\.[0-9]+)?(Ki|Mi|Gi|Ti|k|M|G|T)?$" $q) }}
{{- fail (printf "memory quantity %q is not understood (use e.g. 512Mi or 1Gi)" $q) }}
{{- end }}
{{- if $unit }}
{{- mulf (float64 $n) (get $units $unit) | int64 }}
{{- else }}
{{- float64 $n | int64 }}
{{- end }}
{{- end }}

{{/*
Requests must equal limits for CPU and memory: Guaranteed QoS, the same budget for every
variant. Fails naming the values.
*/}}
{{- define "django-variant.checkResources" -}}
{{- $req := .Values.resources.requests }}
{{- $lim := .Values.resources.limits }}
{{- $reqCpu := include "django-variant.millicores" $req.cpu | int64 }}
{{- $limCpu := include "django-variant.millicores" $lim.cpu | int64 }}
{{- if lt $limCpu $reqCpu }}
{{- fail (printf "resources.limits.cpu (%v) is below resources.requests.cpu (%v): requests must equal limits (Guaranteed QoS)" $lim.cpu $req.cpu) }}
{{- end }}
{{- if ne $limCpu $reqCpu }}
{{- fail (printf "resources.limits.cpu (%v) must equal resources.requests.cpu (%v) for Guaranteed QoS: every variant gets the same CPU budget" $lim.cpu $req.cpu) }}
{{- end }}
{{- $reqMem := include "django-variant.bytes" $req.memory | int64 }}
{{- $limMem := include "django-variant.bytes" $lim.memory | int64 }}
{{- if lt $limMem $reqMem }}
{{- fail (printf "resources.limits.memory (%v) is below resources.requests.memory (%v): requests must equal limits (Guaranteed QoS)" $lim.memory $req.memory) }}
{{- end }}
{{- if ne $limMem $reqMem }}
{{- fail (printf "resources.limits.memory (%v) must equal resources.requests.memory (%v) for Guaranteed QoS" $lim.memory $req.memory) }}
{{- end }}
{{- end }}

{{/*
DJBENCH_DATABASE_URL; $(PGPASSWORD) is expanded by the kubelet from the env var defined
before it (valueFrom the postgres Secret), so the password is never in a value or a ConfigMap.
*/}}
{{- define "django-variant.databaseUrl" -}}
{{- $db := .Values.database }}
{{- $query := list }}
{{- range $k, $v := $db.options }}
{{- $query = append $query (printf "%s=%s" $k (toString $v | urlquery)) }}
{{- end }}
{{- printf "postgres://%s:$(PGPASSWORD)@%s:%v/%s" $db.user $db.host $db.port $db.name }}
{{- if $query }}?{{ join "&" $query }}{{ end }}
{{- end }}

{{/*
The container's environment (envFrom and env), the server's and the prepare Job's alike: the
ConfigMap, the secrets, then extraEnv, which may refer to any of them as $(NAME).
*/}}
{{- define "django-variant.environment" -}}
envFrom:
  - configMapRef:
      name: {{ include "django-variant.fullname" . }}
env:
  - name: PGPASSWORD
    valueFrom:
      secretKeyRef:
        name: {{ .Values.database.passwordSecret.name }}
        key: {{ .Values.database.passwordSecret.key }}
  - name: DJBENCH_DATABASE_URL
    value: {{ include "django-variant.databaseUrl" . | quote }}
  - name: DJBENCH_SECRET_KEY
    valueFrom:
      secretKeyRef:
        name: {{ .Values.secretKey.existingSecret | default (include "django-variant.fullname" .) }}
        key: secret-key
  {{- with .Values.extraEnv }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end }}

{{/*
The prepare Job's labels: not the server's selector labels, so neither the Service, the
PodMonitor nor djbench's pod lookups ever take its pod for the server.
*/}}
{{- define "django-variant.prepareLabels" -}}
helm.sh/chart: {{ include "django-variant.chart" . }}
app.kubernetes.io/name: {{ printf "%s-prepare" (include "django-variant.name" .) | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: prepare
app.kubernetes.io/part-of: djbench
{{- end }}
