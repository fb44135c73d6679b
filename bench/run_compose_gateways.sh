#!/usr/bin/env bash
# Reads and durable writes per second through 1, 2 and 3 gateway containers
# of one docker-compose node (alpha: its node, storage and gateway services;
# no syncer, no peer), with the same client (wrk, 64 keep-alive connections,
# 2 threads) on the same machine. The client talks to the node container's
# address on its own network, not to the published port, whose userland
# proxy would measure itself.
#   bench/run_compose_gateways.sh [SECONDS]
# Needs a Docker engine, docker compose or docker-compose, and wrk
# (apt-get install wrk). PULSEDB_IMAGE names the image [pulsedb:latest],
# built from the compose file when missing.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
seconds="${1:-10}"
connections=64
if docker compose version >/dev/null 2>&1; then compose=(docker compose); else compose=(docker-compose); fi
command -v wrk >/dev/null || { echo "run_compose_gateways: needs wrk (apt-get install wrk)" >&2; exit 2; }
project="pdbbench$$"
export PULSEDB_IMAGE="${PULSEDB_IMAGE:-pulsedb:latest}" ALPHA_PORT=0 PULSEDB_LOG_LEVEL=warn
dc() { "${compose[@]}" -f "$root/docker-compose.yml" -p "$project" "$@"; }
tmp="$(mktemp -d "${TMPDIR:-/tmp}/pdb-bench-compose.XXXXXX")"
trap 'dc down -v --remove-orphans -t 20 >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT

docker image inspect "$PULSEDB_IMAGE" >/dev/null 2>&1 || dc build alpha
dc up -d --no-build alpha alpha-storage alpha-gateway >/dev/null 2>&1
node="$(dc ps -q alpha)"
ip="$(docker inspect -f "{{(index .NetworkSettings.Networks \"${project}_alpha-edge\").IPAddress}}" "$node")"
url="http://$ip:7070"
for _ in $(seq 100); do curl -sf "$url/health" >/dev/null && break; sleep 0.2; done
token="$(dc exec -T alpha pulsedb-show-token)"
auth="Authorization: Bearer $token"

coll="$(curl -sf -H "$auth" -H 'Content-Type: application/json' "$url/v1/collectives" \
          -d '{"name": "bench", "embedding_dim": 4}' | sed 's/.*"id":"\([^"]*\)".*/\1/')"
exp="$(curl -sf -H "$auth" -H 'Content-Type: application/json' "$url/v1/collectives/$coll/experiences" \
          -d '{"content": "read me", "embedding": [1, 0, 0, 0]}' | sed 's/.*"id":"\([^"]*\)".*/\1/')"
cat > "$tmp/write.lua" <<'EOF'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"content": "a benchmark write of a few words", "embedding": [0.5, 0.5, 0, 0], "importance": 0.5}'
EOF

# requests/s, p50 and p99 latency in ms from wrk --latency output.
summary() {
  awk '/Requests\/sec/ {rps=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2}
       / Non-2xx/ {bad=$NF} END {printf "%8.0f/s  p50 %-8s p99 %-8s non-2xx %s\n", rps, p50, p99, bad+0}'
}

printf "%-9s %-7s %s\n" gateways load "result (wrk: $connections connections, ${seconds}s)"
for n in 1 2 3; do
  dc up -d --no-build --no-deps --no-recreate --scale alpha-gateway="$n" alpha-gateway >/dev/null 2>&1
  # Until n distinct gateway processes have answered on fresh connections.
  for _ in $(seq 300); do
    seen=$(for _ in $(seq 30); do curl -sf -H "$auth" "$url/metrics" | grep -o 'gateway_info{[^}]*pid="[0-9]*"'; done | sort -u | wc -l)
    [ "$seen" -ge "$n" ] && break
  done
  printf "%-9s %-7s " "$n" reads
  wrk -t2 -c"$connections" -d"${seconds}s" --latency -H "$auth" "$url/v1/experiences/$exp" | summary
  printf "%-9s %-7s " "$n" writes
  wrk -t2 -c"$connections" -d"${seconds}s" --latency -H "$auth" -s "$tmp/write.lua" \
      "$url/v1/collectives/$coll/experiences" | summary
done
