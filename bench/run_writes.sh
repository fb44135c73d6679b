#!/usr/bin/env bash
# Durable write throughput: raw LMDB batch commits next to writes through the
# gateway at 1, 16 and 64 concurrent clients, on the same disk, in one run.
#   bench/run_writes.sh [BUILD_DIR] [SECONDS]
set -euo pipefail
build="${1:-build-rel}"
seconds="${2:-10}"
dir="$(mktemp -d "${TMPDIR:-/tmp}/pdb-bench-writes.XXXXXX")"
port=$((20000 + RANDOM % 20000))
trap 'kill $storage $gateway 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"' EXIT

mkdir -p "$dir/raw64" "$dir/raw1"
"$build/bench/bench_writes" raw "$dir/raw1" "$seconds" 1
"$build/bench/bench_writes" raw "$dir/raw64" "$seconds" 64

"$build/services/storage/pulsedb-storage" --data "$dir/node" --log-level warn & storage=$!
sleep 0.5
"$build/services/gateway/pulsedb-gateway" --data "$dir/node" --port "$port" \
    --log-level warn --max-connections 256 & gateway=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
for clients in 1 16 64; do
  "$build/bench/bench_writes" http "http://127.0.0.1:$port" "$seconds" "$clients" 384
done
