{{- /* An image pinned to the chart's appVersion unless a tag is given. */ -}}
{{- define "perouter.image" -}}
{{ .image.repository }}:{{ .image.tag | default .root.Chart.AppVersion }}
{{- end -}}
