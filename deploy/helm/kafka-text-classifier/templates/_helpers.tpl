{{/* Names and labels shared by every template. */}}
{{- define "ktc.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* The three services, in pipeline order. */}}
{{- define "ktc.services" -}}
gateway preprocessor inference
{{- end -}}

{{/* Labels besides the selector labels (which every object also carries). */}}
{{- define "ktc.labels" -}}
app.kubernetes.io/part-of: {{ .Chart.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Selector labels of one service: call with (dict "root" $ "service" "gateway"). */}}
{{- define "ktc.selectorLabels" -}}
app.kubernetes.io/name: {{ .service }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end -}}

{{/* The port variable each service reads. */}}
{{- define "ktc.portEnv" -}}
{{- if eq . "gateway" }}GATEWAY_PORT{{ else if eq . "preprocessor" }}PREPROCESSOR_PORT{{ else }}INFERENCE_PORT{{ end -}}
{{- end -}}

{{/* The stage's consumer group: KAFKA_GROUP_ID_PREFIX + stage name (libs/stage). */}}
{{- define "ktc.groupId" -}}
{{- printf "%s%s" (.root.Values.kafka.groupIdPrefix | default "") .service -}}
{{- end -}}

{{/* The input topic of a stage. */}}
{{- define "ktc.inputTopic" -}}
{{- if eq .service "preprocessor" }}{{ .root.Values.kafka.topics.raw }}{{ else }}{{ .root.Values.kafka.topics.tokenized }}{{ end -}}
{{- end -}}

{{/* Seconds between SIGTERM and SIGKILL: preStop + the stage drain + a margin. */}}
{{- define "ktc.terminationGracePeriodSeconds" -}}
{{- $drain := div (add .Values.drain.timeoutMs 999) 1000 -}}
{{- add .Values.drain.preStopSeconds $drain .Values.drain.marginSeconds -}}
{{- end -}}
