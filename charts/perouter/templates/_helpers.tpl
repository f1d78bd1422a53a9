{{- define "perouter.image" -}}
{{ .repository }}:{{ .tag }}
{{- end -}}
