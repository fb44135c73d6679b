#!/usr/bin/env bash
# Bulk import of N experiences through `pulsedb import`, sampling the storage
# process's memory: RssAnon is its heap (bounded), RssFile the LMDB pages it
# has mapped (shared with the page cache, grows with the data).
#   bench/run_import.sh [BUILD_DIR] [N] [DIM]
set -euo pipefail
build="${1:-build-rel}"
n="${2:-1000000}"
dim="${3:-32}"
dir="$(mktemp -d "${TMPDIR:-/tmp}/pdb-bench-import.XXXXXX")"
port=$((20000 + RANDOM % 20000))
trap 'kill $storage $gateway $sampler 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"' EXIT

python3 - "$n" "$dim" > "$dir/in.jsonl" <<'PY'
import json, random, sys
n, dim = int(sys.argv[1]), int(sys.argv[2])
rnd = random.Random(1)
for i in range(n):
    print(json.dumps({"content": f"experience {i}", "importance": round(rnd.random(), 3),
                      "embedding": [round(rnd.uniform(-1, 1), 4) for _ in range(dim)]}))
PY
"$build/services/storage/pulsedb-storage" --data "$dir/node" --log-level warn & storage=$!
sleep 0.5
"$build/services/gateway/pulsedb-gateway" --data "$dir/node" --port "$port" --log-level warn & gateway=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
url="http://127.0.0.1:$port"
"$build/tools/pulsedb" collective create bulk --dim "$dim" --url "$url" > /dev/null
( while sleep 10; do
    awk -v t="$(date +%s)" '/RssAnon|RssFile/ {printf "%s %s=%s kB ", t, $1, $2} END {print ""}' \
        "/proc/$storage/status"
  done ) & sampler=$!
start=$(date +%s.%N)
"$build/tools/pulsedb" import bulk "$dir/in.jsonl" --concurrency 16 --url "$url"
end=$(date +%s.%N)
kill $sampler
echo "import n=$n dim=$dim seconds=$(echo "$end - $start" | bc) rate=$(echo "$n / ($end - $start)" | bc)/s"
grep -E 'VmHWM|RssAnon|RssFile' "/proc/$storage/status" | tr -s ' ' | paste -sd' '
du -sh "$dir/node/data.mdb"
