{{/*
Chart name, truncated to 63 characters (a DNS label).
*/}}
{{- define "latencyproxy.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: the release name when it contains the chart name (release `latencyproxy-db` ->
`latencyproxy-db`), else <release>-<chart>; truncated to 63 characters.
*/}}
{{- define "latencyproxy.fullname" -}}
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

{{- define "latencyproxy.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Selector labels: name and instance only.
*/}}
{{- define "latencyproxy.selectorLabels" -}}
app.kubernetes.io/name: {{ include "latencyproxy.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "latencyproxy.labels" -}}
helm.sh/chart: {{ include "latencyproxy.chart" . }}
{{ include "latencyproxy.selectorLabels" . }}
app.kubernetes.io/version: {{ include "latencyproxy.imageTag" . | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: latency-proxy
app.kubernetes.io/part-of: djbench
{{- end }}

{{- define "latencyproxy.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "latencyproxy.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "latencyproxy.imageTag" -}}
{{- .Values.image.tag | default .Chart.AppVersion | toString }}
{{- end }}

{{/*
A number of milliseconds as the proxy's command line takes it: 20 -> "20", 2.5 -> "2.5" (as
`f"{ms:g}"` in djbench/local/proxies.py).
*/}}
{{- define "latencyproxy.ms" -}}
{{- $ms := float64 . }}
{{- if eq $ms (floor $ms) }}
{{- $ms | int64 | toString }}
{{- else }}
{{- toString $ms }}
{{- end }}
{{- end }}

{{/*
The options of the proxy's command, `python -m latencyproxy` (as PROXY_ARGV in
djbench/local/proxies.py, bound to all addresses of the pod).
*/}}
{{- define "latencyproxy.args" -}}
{{- $upstream := printf "%s:%s" .Values.upstream.host (toString .Values.upstream.port) }}
{{- list
  "--listen" (printf "0.0.0.0:%s" (toString .Values.listenPort))
  "--upstream" $upstream
  "--delay-ms" (include "latencyproxy.ms" .Values.delayMs)
  "--jitter-ms" (include "latencyproxy.ms" (.Values.jitterMs | default 0))
  "--stats" (printf "0.0.0.0:%s" (toString .Values.statsPort))
  | toJson }}
{{- end }}

{{/*
A Kubernetes memory quantity in bytes ("128Mi", "1Gi", "500M", "1000000").
*/}}
{{- define "latencyproxy.bytes" -}}
{{- $q := toString . }}
{{- $units := dict "Ki" 1024 "Mi" 1048576 "Gi" 1073741824 "Ti" 1099511627776 "k" 1000 "M" 1000000 "G" 1000000000 "T" 1000000000000 }}
{{- $n := regexFind "^[0-9.]+" $q }}
{{- $unit := trimPrefix $n $q }}
{{- if $unit }}
{{- mulf (float64 $n) (get $units $unit) | int64 }}
{{- else }}
{{- float64 $n | int64 }}
{{- end }}
{{- end }}

{{/*
What the schema cannot say: requests equal limits (Guaranteed QoS), two different ports, and
the jitter within the delay (as the proxy's own check: a delay cut at 0 would raise its mean).
Fails naming the values.
*/}}
{{- define "latencyproxy.check" -}}
{{- $req := .Values.resources.requests }}
{{- $lim := .Values.resources.limits }}
{{- if ne (toString $lim.cpu) (toString $req.cpu) }}
{{- fail (printf "resources.limits.cpu (%v) must equal resources.requests.cpu (%v) for Guaranteed QoS: the proxy's CPU is its own, never shared or throttled" $lim.cpu $req.cpu) }}
{{- end }}
{{- if ne (include "latencyproxy.bytes" $lim.memory) (include "latencyproxy.bytes" $req.memory) }}
{{- fail (printf "resources.limits.memory (%v) must equal resources.requests.memory (%v) for Guaranteed QoS" $lim.memory $req.memory) }}
{{- end }}
{{- if eq (int .Values.listenPort) (int .Values.statsPort) }}
{{- fail (printf "listenPort and statsPort are both %v: the relayed port and /stats need one each" .Values.listenPort) }}
{{- end }}
{{- if gt (float64 (.Values.jitterMs | default 0)) (float64 .Values.delayMs) }}
{{- fail (printf "jitterMs (%v) must not exceed delayMs (%v): the delays would be cut at 0 and their mean would grow" .Values.jitterMs .Values.delayMs) }}
{{- end }}
{{- end }}
