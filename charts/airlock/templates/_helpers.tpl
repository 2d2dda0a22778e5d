{{/*
Names. Every namespaced object is "<fullname>-<part>"; with `helm install airlock …` that is
"airlock-operator", "airlock-webhook-tls", …. The MutatingWebhookConfiguration is cluster-scoped and
always "airlock-sidecar-injector": one Airlock per cluster, and the name is part of the product contract.
*/}}
{{- define "airlock.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "airlock.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* The operator's Deployment, Service, Lease and default ServiceAccount name. */}}
{{- define "airlock.operatorName" -}}
{{- printf "%s-operator" (include "airlock.fullname" .) }}
{{- end }}

{{- define "airlock.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "airlock.operatorName" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Secret holding the webhook's serving certificate (tls.crt, tls.key, ca.crt), from the operator or cert-manager. */}}
{{- define "airlock.webhookSecretName" -}}
{{- printf "%s-webhook-tls" (include "airlock.fullname" .) }}
{{- end }}

{{- define "airlock.webhookConfigName" -}}
airlock-sidecar-injector
{{- end }}

{{- define "airlock.namespace" -}}
{{- default .Release.Namespace .Values.operator.namespace }}
{{- end }}

{{- define "airlock.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The recommended labels (kubernetes.io/docs/concepts/overview/working-with-objects/common-labels). */}}
{{- define "airlock.labels" -}}
helm.sh/chart: {{ include "airlock.chart" . }}
{{ include "airlock.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: airlock
{{- end }}

{{/* Immutable once a Deployment exists: never add to these. */}}
{{- define "airlock.selectorLabels" -}}
app.kubernetes.io/name: {{ include "airlock.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{/* image reference: repository, then @digest if set, else :tag (default the chart's appVersion). */}}
{{- define "airlock.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Unset, the sidecar follows the operator image exactly (same binary, its `proxy` subcommand), digest included. */}}
{{- define "airlock.sidecarImage" -}}
{{- $s := .Values.sidecar.image }}
{{- $repo := default .Values.image.repository $s.repository }}
{{- if $s.digest }}
{{- printf "%s@%s" $repo $s.digest }}
{{- else if $s.tag }}
{{- printf "%s:%s" $repo $s.tag }}
{{- else if not $s.repository }}
{{- include "airlock.image" . }}
{{- else }}
{{- printf "%s:%s" $repo .Chart.AppVersion }}
{{- end }}
{{- end }}
