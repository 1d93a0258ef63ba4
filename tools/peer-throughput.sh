#!/usr/bin/env bash
# Quick peer-transport throughput check (not a benchmark): Azurite, one 64 MiB blob, a 3-node mesh per transport.
# Pass 1 reads the blob through node 0 (each owner fills its chunks from Blob); then the blob is read through node 1
# and node 2, about two thirds of whose chunks come from the owners over the peer transport.
# Usage: tools/peer-throughput.sh [grpc udp]   (after `dotnet build BlobCache.sln -c Release`)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dll=$root/node/BlobCache.Node/bin/Release/net10.0/blobcache.dll
azurite=$root/tools/azurite/node_modules/.bin/azurite-blob
if [ $# -gt 0 ]; then transports=("$@"); else transports=(grpc udp); fi
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
apt=$(port)
"$azurite" --blobHost 127.0.0.1 --blobPort "$apt" --location "$work/azurite" --skipApiVersionCheck --loose --silent --disableTelemetry &
pids+=($!)
key="Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
origin="DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=$key;BlobEndpoint=http://127.0.0.1:$apt/devstoreaccount1;"
for _ in $(seq 60); do curl -s -o /dev/null "http://127.0.0.1:$apt/" && break; sleep 0.5; done
ORIGIN="$origin" /usr/bin/python3 - <<'EOF'
import os
from azure.storage.blob import BlobServiceClient
svc = BlobServiceClient.from_connection_string(os.environ["ORIGIN"])
c = svc.get_container_client("bench")
c.create_container()
c.upload_blob("big.bin", os.urandom(64 * 1024 * 1024), overwrite=True)
EOF

read_mibs() { # url -> MiB/s of one full GET
  local t
  t=$(curl -s -o /dev/null -w '%{time_total}' "$1")
  python3 -c "print(f'{64/$t:.1f}')"
}

for transport in "${transports[@]}"; do
  http=() ; nodes=()
  seed=""
  for i in 0 1 2; do
    h=$(port); g=$(port); gs=$(port); u=$(port)
    http+=("$h")
    args=(run --node-id "$transport-$i" --http-port "$h" --grpc-port "$g" --gossip-port "$gs" --udp-port "$u" --origin "$origin"
          --insecure --memory-mb 512 --log-level Warning --peer-transport "$transport")
    [ -n "$seed" ] && args+=(--seeds "$seed")
    [ -z "$seed" ] && seed="127.0.0.1:$gs"
    dotnet exec "$dll" "${args[@]}" > "$work/$transport-$i.log" 2>&1 &
    nodes+=($!); pids+=($!)
  done
  for h in "${http[@]}"; do
    for _ in $(seq 120); do
      curl -sf "http://127.0.0.1:$h/readyz" > /dev/null && curl -s "http://127.0.0.1:$h/status" | grep -q '"live_members": 3' && break
      sleep 0.5
    done
  done
  url() { echo "http://127.0.0.1:${http[$1]}/devstoreaccount1/bench/big.bin"; }
  fill=$(read_mibs "$(url 0)")
  r1=$(read_mibs "$(url 1)")
  r2=$(read_mibs "$(url 2)")
  peer1=$(curl -s "http://127.0.0.1:${http[1]}/status" | python3 -c 'import json,sys; s=json.load(sys.stdin); print(s["reads_by_source"]["peer"], s["peer_failures"])')
  echo "$transport: fill through node 0 (Blob) $fill MiB/s; node 1 $r1 MiB/s; node 2 $r2 MiB/s (node 1 peer reads, failures: $peer1)"
  for p in "${nodes[@]}"; do kill "$p"; done
  wait "${nodes[@]}" 2>/dev/null || true
done
