{{/*
Chart name, truncated to the 63 characters a label value allows.
*/}}
{{- define "rfo.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name: the release name when it already contains the chart name, else
"<release>-<chart>". Also the name of the leader election Lease.
*/}}
{{- define "rfo.fullname" -}}
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

{{- define "rfo.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Selector labels: stable for the life of a release (a Deployment's selector is immutable).
*/}}
{{- define "rfo.selectorLabels" -}}
app.kubernetes.io/name: {{ include "rfo.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "rfo.labels" -}}
helm.sh/chart: {{ include "rfo.chart" . }}
{{ include "rfo.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: route53-failover-operator
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "rfo.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "rfo.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The operator image: repository@digest when image.digest is set (the tag is then ignored), else
repository:tag with the tag defaulting to the chart's appVersion.
*/}}
{{- define "rfo.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/*
The helm test image, same digest-over-tag rule.
*/}}
{{- define "rfo.testImage" -}}
{{- with .Values.tests.image }}
{{- if .digest }}
{{- printf "%s@%s" .repository .digest }}
{{- else }}
{{- printf "%s:%s" .repository .tag }}
{{- end }}
{{- end }}
{{- end }}
