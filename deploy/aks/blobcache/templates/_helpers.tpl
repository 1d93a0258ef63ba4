{{/* Names and labels. */}}
{{- define "blobcache.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "blobcache.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "blobcache.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "blobcache.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "blobcache.labels" -}}
app.kubernetes.io/name: {{ include "blobcache.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* The one label every mesh member carries (node pods in daemonset mode, training pods in sidecar mode). */}}
{{- define "blobcache.meshLabel" -}}
blobcache.io/mesh: {{ include "blobcache.fullname" . }}
{{- end -}}

{{- define "blobcache.selectorLabels" -}}
app.kubernetes.io/name: {{ include "blobcache.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "blobcache.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "blobcache.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "blobcache.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "blobcache.seedService" -}}
{{- printf "%s-mesh.%s.svc" (include "blobcache.fullname" .) .Release.Namespace -}}
{{- end -}}

{{/*
Memory: the container's memory limit in MiB (from resources.limits.memory), and the memory tier derived from it.
The .NET GC heap is capped at 90% of the limit (DOTNET_GCHeapHardLimitPercent), and the memory tier must leave
memoryHeadroomMb of that for the runtime, buffers in flight and read-ahead.
*/}}
{{- define "blobcache.memoryLimitMi" -}}
{{- $q := toString (dig "limits" "memory" "" .Values.resources) -}}
{{- if not $q -}}
{{- fail "resources.limits.memory is required: the memory tier (cache.memoryMb) is derived from it" -}}
{{- end -}}
{{- $units := dict "Ki" 1024 "Mi" 1048576 "Gi" 1073741824 "Ti" 1099511627776 "k" 1000 "M" 1000000 "G" 1000000000 "T" 1000000000000 -}}
{{- $m := regexFind "^[0-9]+" $q -}}
{{- $unit := trimPrefix $m $q -}}
{{- if or (not $m) (and $unit (not (hasKey $units $unit))) -}}
{{- fail (printf "resources.limits.memory %q: use a whole number with Ki, Mi, Gi, Ti, k, M, G, T or no unit" $q) -}}
{{- end -}}
{{- $bytes := mul (atoi $m) (ternary 1 (get $units $unit) (eq $unit "")) -}}
{{- div $bytes 1048576 -}}
{{- end -}}

{{- define "blobcache.memoryMb" -}}
{{- $limit := atoi (include "blobcache.memoryLimitMi" .) -}}
{{- $max := sub (div (mul $limit 90) 100) (int .Values.cache.memoryHeadroomMb) -}}
{{- $want := int .Values.cache.memoryMb -}}
{{- if lt $max 64 -}}
{{- fail (printf "resources.limits.memory (%d MiB) leaves %d MiB for the memory tier after 10%% and cache.memoryHeadroomMb (%d): raise the limit to at least %d MiB" $limit $max (int .Values.cache.memoryHeadroomMb) (add (div (mul (add (int .Values.cache.memoryHeadroomMb) 64) 100) 90) 1)) -}}
{{- end -}}
{{- if gt $want $max -}}
{{- fail (printf "cache.memoryMb %d does not fit under the container memory limit of %d MiB: at most %d (90%% of the limit minus cache.memoryHeadroomMb %d); lower it or raise resources.limits.memory" $want $limit $max (int .Values.cache.memoryHeadroomMb)) -}}
{{- end -}}
{{- ternary $max $want (eq $want 0) -}}
{{- end -}}

{{/* Checks of values that the JSON schema cannot express. */}}
{{- define "blobcache.validate" -}}
{{- $_ := include "blobcache.memoryMb" . -}}
{{- if and (eq .Values.origin.type "workloadIdentity") (not .Values.origin.accountUrl) -}}
{{- fail "origin.accountUrl is required with origin.type workloadIdentity (https://ACCOUNT.blob.core.windows.net)" -}}
{{- end -}}
{{- if and (eq .Values.origin.type "connectionString") (not .Values.origin.connectionStringSecret.name) -}}
{{- fail "origin.connectionStringSecret.name is required with origin.type connectionString" -}}
{{- end -}}
{{- if and .Values.security.enabled (or (not .Values.security.gossipKeySecret.name) (not .Values.security.tlsSecret.name)) -}}
{{- fail "security.enabled needs security.gossipKeySecret.name and security.tlsSecret.name" -}}
{{- end -}}
{{- if and .Values.security.enabled (not .Values.security.endpointTokenSecret.name) -}}
{{- fail "security.enabled needs security.endpointTokenSecret.name: the node binds all addresses, and an exposed endpoint needs tokens" -}}
{{- end -}}
{{- if and (eq .Values.topology.source "static") (or (not .Values.topology.region) (not .Values.topology.zone)) -}}
{{- fail "topology.source static needs topology.region and topology.zone" -}}
{{- end -}}
{{- if and .Values.mount.enabled (not .Values.mount.paths) -}}
{{- fail "mount.enabled needs mount.paths: [{name: NAME, source: ACCOUNT/CONTAINER[/PREFIX]}]" -}}
{{- end -}}
{{- if and (eq .Values.cache.disk.type "emptyDir") (eq .Values.cache.disk.emptyDirMedium "Memory") -}}
{{- fail "cache.disk.emptyDirMedium Memory would count the disk tier against the memory limit; use the memory tier instead" -}}
{{- end -}}
{{- end -}}

{{/* Pod labels of a mesh member: the workload identity webhook needs its label on the pod. */}}
{{- define "blobcache.memberPodLabels" -}}
{{ include "blobcache.meshLabel" . }}
{{- if eq .Values.origin.type "workloadIdentity" }}
azure.workload.identity/use: "true"
{{- end }}
{{- end -}}

{{- define "blobcache.podAnnotations" -}}
{{- if .Values.metrics.podAnnotations }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .Values.ports.http | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- end -}}

{{/*
The node container (both modes). The caller passes (dict "ctx" $ "sidecar" bool).
*/}}
{{- define "blobcache.container" -}}
{{- $ := .ctx -}}
{{- $v := $.Values -}}
name: blobcache
image: {{ include "blobcache.image" $ }}
imagePullPolicy: {{ $v.image.pullPolicy }}
{{- if .sidecar }}
restartPolicy: Always
{{- end }}
command: ["/bin/sh", "/etc/blobcache/scripts/start.sh"]
{{- if or $v.security.enabled $v.node.extraArgs }}
args:
{{- if $v.security.enabled }}
  - --gossip-key-file=/etc/blobcache/keys/{{ $v.security.gossipKeySecret.key }}
  - --tls-cert=/etc/blobcache/tls/tls.crt
  - --tls-key=/etc/blobcache/tls/tls.key
  - --tls-ca=/etc/blobcache/tls/ca.crt
  - --endpoint-token-file=/etc/blobcache/endpoint/{{ $v.security.endpointTokenSecret.key }}
{{- end }}
{{- range $v.node.extraArgs }}
  - {{ . | quote }}
{{- end }}
{{- end }}
env:
  - name: POD_IP
    valueFrom: {fieldRef: {fieldPath: status.podIP}}
  - name: BLOBCACHE_NODE_ID
    valueFrom: {fieldRef: {fieldPath: metadata.name}}
  - name: BLOBCACHE_ADVERTISE_HOST
    valueFrom: {fieldRef: {fieldPath: status.podIP}}
  # All addresses: peers reach gRPC and gossip on the pod IP; readers use loopback (sidecar) or the host.
  - name: BLOBCACHE_HOST
    value: "0.0.0.0"
{{- if eq $v.topology.source "podLabels" }}
  - name: BLOBCACHE_REGION
    valueFrom: {fieldRef: {fieldPath: "metadata.labels['topology.kubernetes.io/region']"}}
  - name: BLOBCACHE_ZONE
    valueFrom: {fieldRef: {fieldPath: "metadata.labels['topology.kubernetes.io/zone']"}}
{{- else if $v.topology.region }}
  - name: BLOBCACHE_REGION
    value: {{ $v.topology.region | quote }}
  - name: BLOBCACHE_ZONE
    value: {{ $v.topology.zone | quote }}
{{- end }}
  - name: BLOBCACHE_HTTP_PORT
    value: {{ $v.ports.http | quote }}
  - name: BLOBCACHE_GRPC_PORT
    value: {{ $v.ports.grpc | quote }}
  - name: BLOBCACHE_GOSSIP_PORT
    value: {{ $v.ports.gossip | quote }}
  - name: BLOBCACHE_UDP_PORT
    value: {{ $v.ports.udp | quote }}
  - name: BLOBCACHE_SEED_SERVICE
    value: {{ include "blobcache.seedService" $ | quote }}
  - name: BLOBCACHE_SEED_COUNT
    value: {{ $v.discovery.seedCount | quote }}
  - name: BLOBCACHE_SEED_WAIT_SECONDS
    value: {{ $v.discovery.waitSeconds | quote }}
{{- if eq $v.origin.type "connectionString" }}
  - name: BLOBCACHE_ORIGIN
    valueFrom:
      secretKeyRef:
        name: {{ $v.origin.connectionStringSecret.name }}
        key: {{ $v.origin.connectionStringSecret.key }}
{{- else }}
  - name: BLOBCACHE_ORIGIN
    value: {{ $v.origin.accountUrl | quote }}
{{- end }}
{{- if ne $v.cache.disk.type "none" }}
  - name: BLOBCACHE_CACHE_DIR
    value: /var/cache/blobcache
  - name: BLOBCACHE_DISK_MB
    value: {{ int64 $v.cache.disk.sizeMb | toString | quote }}
{{- end }}
  - name: BLOBCACHE_MEMORY_MB
    value: {{ include "blobcache.memoryMb" $ | quote }}
  - name: BLOBCACHE_CHUNK_SIZE_MB
    value: {{ $v.node.chunkSizeMb | quote }}
  - name: BLOBCACHE_METADATA_TTL_SECONDS
    value: {{ $v.node.metadataTtlSeconds | quote }}
{{- if $v.node.pooledRegions }}
  - name: BLOBCACHE_POOLED_REGIONS
    value: {{ join "," $v.node.pooledRegions | quote }}
{{- end }}
  - name: BLOBCACHE_PEER_TRANSPORT
    value: {{ $v.node.peerTransport | quote }}
  - name: BLOBCACHE_READ_AHEAD_CHUNKS
    value: {{ $v.node.readAheadChunks | quote }}
  - name: BLOBCACHE_OWNERS_TO_TRY
    value: {{ $v.node.ownersToTry | quote }}
  - name: BLOBCACHE_WEIGHT
    value: {{ $v.node.weight | quote }}
  - name: BLOBCACHE_LOG_LEVEL
    value: {{ $v.node.logLevel | quote }}
{{- if not $v.security.enabled }}
  - name: BLOBCACHE_INSECURE
    value: "true"
{{- end }}
{{- if $v.mount.enabled }}
  - name: BLOBCACHE_MOUNT
    value: {{ include "blobcache.mountList" $ | quote }}
{{- end }}
{{- if $v.security.allowedContainers }}
  - name: BLOBCACHE_ALLOWED_CONTAINERS
    value: {{ join "," $v.security.allowedContainers | quote }}
{{- end }}
  # The GC may use 90% of the container limit (hexadecimal 5A); the memory tier is sized to fit under it.
  - name: DOTNET_GCHeapHardLimitPercent
    value: "5A"
{{- with $v.node.extraEnv }}
{{ toYaml . | indent 2 }}
{{- end }}
ports:
  - name: http
    containerPort: {{ $v.ports.http }}
    protocol: TCP
{{- if and (not .sidecar) (not $v.daemonset.hostNetwork) }}
    hostPort: {{ $v.ports.http }}
{{- end }}
  - name: grpc
    containerPort: {{ $v.ports.grpc }}
    protocol: TCP
  - name: gossip
    containerPort: {{ $v.ports.gossip }}
    protocol: UDP
  - name: gossip-state
    containerPort: {{ $v.ports.gossip }}
    protocol: TCP
  - name: udp
    containerPort: {{ $v.ports.udp }}
    protocol: UDP
startupProbe:
  httpGet: {path: /healthz, port: {{ $v.ports.http }}}
  periodSeconds: {{ $v.probes.startup.periodSeconds }}
  failureThreshold: {{ $v.probes.startup.failureThreshold }}
livenessProbe:
  httpGet: {path: /healthz, port: {{ $v.ports.http }}}
  initialDelaySeconds: {{ $v.probes.liveness.initialDelaySeconds }}
  periodSeconds: {{ $v.probes.liveness.periodSeconds }}
  failureThreshold: {{ $v.probes.liveness.failureThreshold }}
readinessProbe:
  httpGet: {path: /readyz, port: {{ $v.ports.http }}}
  periodSeconds: {{ $v.probes.readiness.periodSeconds }}
  failureThreshold: {{ $v.probes.readiness.failureThreshold }}
lifecycle:
  # Let readers and Service endpoints move off this node; then the kubelet's SIGTERM makes it leave the mesh.
  preStop:
    exec:
      command: ["sleep", {{ $v.preStopSleepSeconds | quote }}]
resources:
{{ toYaml $v.resources | indent 2 }}
securityContext:
{{- if $v.mount.enabled }}
  # FUSE: root with CAP_SYS_ADMIN and /dev/fuse; Bidirectional propagation needs privileged (which gives both).
  privileged: true
  allowPrivilegeEscalation: true
  runAsNonRoot: false
  runAsUser: 0
  readOnlyRootFilesystem: true
{{- else }}
{{ toYaml $v.securityContext | indent 2 }}
{{- end }}
volumeMounts:
  - name: blobcache-scripts
    mountPath: /etc/blobcache/scripts
    readOnly: true
  - name: blobcache-run
    mountPath: /run/blobcache
  - name: blobcache-tmp
    mountPath: /tmp
{{- if $v.mount.enabled }}
  # The node's FUSE mounts leave the container through this volume (to the host, or to the pod's other containers).
  - name: blobcache-mounts
    mountPath: {{ $v.mount.dir }}
    mountPropagation: Bidirectional
{{- end }}
{{- if ne $v.cache.disk.type "none" }}
  - name: blobcache-cache
    mountPath: /var/cache/blobcache
{{- end }}
{{- if $v.security.enabled }}
  - name: blobcache-gossip-key
    mountPath: /etc/blobcache/keys
    readOnly: true
  - name: blobcache-tls
    mountPath: /etc/blobcache/tls
    readOnly: true
  - name: blobcache-endpoint-tokens
    mountPath: /etc/blobcache/endpoint
    readOnly: true
{{- end }}
{{- end -}}

{{/* The init container that reads the node's region and zone labels (topology.source api). */}}
{{- define "blobcache.topologyInit" -}}
{{- $ := .ctx -}}
{{- $v := $.Values -}}
name: blobcache-topology
image: {{ include "blobcache.image" $ }}
imagePullPolicy: {{ $v.image.pullPolicy }}
command: ["/bin/sh", "/etc/blobcache/scripts/topology.sh"]
env:
  - name: NODE_NAME
    valueFrom: {fieldRef: {fieldPath: spec.nodeName}}
  - name: DEFAULT_REGION
    value: {{ $v.topology.region | quote }}
  - name: DEFAULT_ZONE
    value: {{ $v.topology.zone | quote }}
resources:
  requests: {cpu: 10m, memory: 16Mi}
  limits: {memory: 64Mi}
securityContext:
{{ toYaml $v.securityContext | indent 2 }}
volumeMounts:
  - name: blobcache-scripts
    mountPath: /etc/blobcache/scripts
    readOnly: true
  - name: blobcache-run
    mountPath: /run/blobcache
{{- end -}}

{{/* hostPath directories are created owned by root: hand the cache directory to the node's user. */}}
{{- define "blobcache.cacheDirInit" -}}
{{- $ := .ctx -}}
{{- $v := $.Values -}}
name: blobcache-cache-dir
image: {{ include "blobcache.image" $ }}
imagePullPolicy: {{ $v.image.pullPolicy }}
command: ["chown", "{{ $v.podSecurityContext.runAsUser }}:{{ $v.podSecurityContext.runAsGroup }}", "/var/cache/blobcache"]
resources:
  requests: {cpu: 10m, memory: 16Mi}
  limits: {memory: 64Mi}
securityContext:
  runAsNonRoot: false
  runAsUser: 0
  allowPrivilegeEscalation: false
  readOnlyRootFilesystem: true
  capabilities:
    drop: [ALL]
    add: [CHOWN]
volumeMounts:
  - name: blobcache-cache
    mountPath: /var/cache/blobcache
{{- end -}}

{{/* Volumes the node container mounts. */}}
{{- define "blobcache.volumes" -}}
{{- $ := .ctx -}}
{{- $v := $.Values -}}
- name: blobcache-scripts
  configMap:
    name: {{ include "blobcache.fullname" $ }}-scripts
    defaultMode: 0555
- name: blobcache-run
  emptyDir: {medium: Memory, sizeLimit: 1Mi}
- name: blobcache-tmp
  emptyDir: {sizeLimit: 64Mi}
{{- if eq $v.cache.disk.type "hostPath" }}
- name: blobcache-cache
  hostPath:
    path: {{ $v.cache.disk.hostPath }}
    type: DirectoryOrCreate
{{- else if eq $v.cache.disk.type "emptyDir" }}
- name: blobcache-cache
  emptyDir:
    sizeLimit: {{ printf "%dMi" (add (int64 $v.cache.disk.sizeMb) (div (int64 $v.cache.disk.sizeMb) 10)) }}
{{- end }}
{{- if $v.mount.enabled }}
{{- if eq $v.mode "daemonset" }}
- name: blobcache-mounts
  hostPath:
    path: {{ $v.mount.hostPath }}
    type: DirectoryOrCreate
{{- else }}
- name: blobcache-mounts
  emptyDir: {}
{{- end }}
{{- end }}
{{- if $v.security.enabled }}
- name: blobcache-gossip-key
  secret:
    secretName: {{ $v.security.gossipKeySecret.name }}
    defaultMode: 0400
- name: blobcache-tls
  secret:
    secretName: {{ $v.security.tlsSecret.name }}
    defaultMode: 0400
- name: blobcache-endpoint-tokens
  secret:
    secretName: {{ $v.security.endpointTokenSecret.name }}
    defaultMode: 0400
{{- end }}
{{- end -}}

{{/*
Sidecar mode: the init containers (topology step, cache directory owner, and the node itself as a native
sidecar) to put into a pod spec beside the training container. Pass (dict "ctx" $).
*/}}
{{- define "blobcache.sidecarInitContainers" -}}
{{- $ := .ctx -}}
{{- if eq $.Values.topology.source "api" }}
- {{- include "blobcache.topologyInit" (dict "ctx" $) | nindent 2 }}
{{- end }}
{{- if eq $.Values.cache.disk.type "hostPath" }}
- {{- include "blobcache.cacheDirInit" (dict "ctx" $) | nindent 2 }}
{{- end }}
- {{- include "blobcache.container" (dict "ctx" $ "sidecar" true) | nindent 2 }}
{{- end -}}


{{/* --mount's value: SOURCE:DIR/NAME for each mount.paths entry, comma-separated. */}}
{{- define "blobcache.mountList" -}}
{{- $dir := .Values.mount.dir -}}
{{- $list := list -}}
{{- range .Values.mount.paths -}}
{{- $list = append $list (printf "%s:%s/%s" .source $dir .name) -}}
{{- end -}}
{{- join "," $list -}}
{{- end -}}

{{/*
Sidecar mode with mount.enabled: the volume mount to add to your training container, which then sees
mount.dir/NAME for each mount.paths entry (read-only, no privileges).
*/}}
{{- define "blobcache.mountReaderVolumeMount" -}}
- name: blobcache-mounts
  mountPath: {{ .ctx.Values.mount.dir }}
  mountPropagation: HostToContainer
  readOnly: true
{{- end -}}
