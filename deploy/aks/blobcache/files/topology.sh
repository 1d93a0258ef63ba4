#!/bin/sh
# Init step: reads this node's topology.kubernetes.io/region and /zone labels from the API server and writes
# them to /run/blobcache/topology.env for start.sh. Needs `get` on nodes (the chart's ClusterRole).
#   NODE_NAME (downward API spec.nodeName), DEFAULT_REGION, DEFAULT_ZONE (used when a label is missing)
#   BLOBCACHE_NODE_JSON: a file to read instead of asking the API server (tests)
set -eu
out=${BLOBCACHE_TOPOLOGY_FILE:-/run/blobcache/topology.env}
sa=/var/run/secrets/kubernetes.io/serviceaccount

if [ -n "${BLOBCACHE_NODE_JSON:-}" ]; then
  json=$(cat "$BLOBCACHE_NODE_JSON")
else
  json=$(curl -sS --fail --max-time 10 --retry 5 --retry-all-errors \
    --cacert "$sa/ca.crt" -H "Authorization: Bearer $(cat "$sa/token")" \
    "https://${KUBERNETES_SERVICE_HOST}:${KUBERNETES_SERVICE_PORT}/api/v1/nodes/${NODE_NAME}")
fi

label() {
  printf '%s' "$json" | tr -d '\n' | grep -o "\"topology\.kubernetes\.io/$1\" *: *\"[^\"]*\"" | head -n 1 | sed 's/.*: *"\(.*\)"$/\1/'
}

region=$(label region || true)
zone=$(label zone || true)
region=${region:-${DEFAULT_REGION:-}}
zone=${zone:-${DEFAULT_ZONE:-}}
if [ -z "$region" ] || [ -z "$zone" ]; then
  echo "blobcache-topology: node ${NODE_NAME:-?} has no topology.kubernetes.io/region or /zone label and topology.region/zone are not set" >&2
  exit 1
fi
case "$region$zone" in
  *[!A-Za-z0-9._-]*) echo "blobcache-topology: unexpected characters in region '$region' or zone '$zone'" >&2; exit 1 ;;
esac
printf 'BLOBCACHE_REGION=%s\nBLOBCACHE_ZONE=%s\n' "$region" "$zone" > "$out"
echo "blobcache-topology: node ${NODE_NAME:-?} is in $region/$zone" >&2
