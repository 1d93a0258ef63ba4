#!/bin/sh
# Starts `blobcache run` in a pod. Region and zone come from the topology init container (if it ran), seeds
# from the mesh's headless Service: a few other members' addresses, never this pod's own, so a node never
# joins itself and two nodes starting at once still find each other.
#   BLOBCACHE_SEED_SERVICE       DNS name of the headless Service (publishes not-ready pods too)
#   BLOBCACHE_SEED_COUNT         how many other members to join through (default 3)
#   BLOBCACHE_SEED_WAIT_SECONDS  how long to look for another member before starting a new mesh (default 20)
#   POD_IP                       this pod's address (downward API), left out of the seeds
#   BLOBCACHE_RESOLVE            command that prints "ADDRESS ..." lines for a name (default: getent ahostsv4)
set -eu

if [ -f /run/blobcache/topology.env ]; then
  . /run/blobcache/topology.env
  export BLOBCACHE_REGION BLOBCACHE_ZONE
fi

resolve=${BLOBCACHE_RESOLVE:-getent ahostsv4}
count=${BLOBCACHE_SEED_COUNT:-3}
wait=${BLOBCACHE_SEED_WAIT_SECONDS:-20}
port=${BLOBCACHE_GOSSIP_PORT:-7946}

others() {
  $resolve "$BLOBCACHE_SEED_SERVICE" 2>/dev/null | awk '{print $1}' | sort -u | grep -v -x -F "${POD_IP:-}" || true
}

if [ -z "${BLOBCACHE_SEEDS:-}" ] && [ -n "${BLOBCACHE_SEED_SERVICE:-}" ]; then
  waited=0
  peers=$(others)
  while [ -z "$peers" ] && [ "$waited" -lt "$wait" ]; do
    sleep 1
    waited=$((waited + 1))
    peers=$(others)
  done
  if [ -n "$peers" ]; then
    # The lowest address (every starting node picks the same one, which keeps the mesh in one piece)
    # plus random others (which spreads the join load).
    first=$(printf '%s\n' "$peers" | head -n 1)
    rest=$(printf '%s\n' "$peers" | sed 1d | shuf | head -n $((count - 1)))
    seeds=""
    for p in $first $rest; do seeds="${seeds:+$seeds,}$p:$port"; done
    export BLOBCACHE_SEEDS="$seeds"
    echo "blobcache-start: seeds $BLOBCACHE_SEEDS (from $BLOBCACHE_SEED_SERVICE)" >&2
  else
    echo "blobcache-start: no other member in $BLOBCACHE_SEED_SERVICE after ${wait}s: starting a new mesh" >&2
  fi
fi

exec ${BLOBCACHE_BIN:-blobcache} run "$@"
