#!/usr/bin/env bash
# What storage's commits write: for single creates at 1 and 64 clients,
# the pages each commit writes to the data file and in how many runs
# (one system call per run of adjacent pages), traced with strace.
# Set beside `bench_writes disk`, which prices a flush by its runs, this
# says where a commit's time goes. First the same count for raw LMDB
# committing one 256-byte record at a time (bench_writes raw), the floor.
# Tracing slows storage several times, so only the counts mean anything
# here, never the rates.
#   bench/run_commit_pages.sh [BUILD_DIR] [SECONDS]
# PRELOAD=N first writes N experiences (64 clients, untraced), so the trees
# are as deep as a used node's; CLIENTS="1 64" chooses the cases.
set -euo pipefail
build="${1:-build-rel}"
seconds="${2:-3}"
command -v strace >/dev/null || { echo "run_commit_pages: needs strace (apt-get install strace)" >&2; exit 2; }
dir="$(mktemp -d "${TMPDIR:-/tmp}/pdb-bench-pages.XXXXXX")"
port=$(python3 -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
trap 'kill $storage $gateway 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"' EXIT

"$build/services/storage/pulsedb-storage" --data "$dir/node" --log-level warn & storage=$!
sleep 0.5
"$build/services/gateway/pulsedb-gateway" --data "$dir/node" --port "$port" \
    --log-level warn --max-connections 256 & gateway=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
url="http://127.0.0.1:$port"

preload="${PRELOAD:-0}"
while [ "$preload" -gt 0 ]; do
  line=$("$build/bench/bench_writes" lean "$url" 2 64 384)
  n=$(sed -n 's/.* n=\([0-9]*\).*/\1/p' <<< "$line")
  preload=$((preload - n))
done

# Pages and runs per fdatasync'ed commit in an strace log: the data file is
# the descriptor the syncs name; its writes are pwrite64 (one run) and
# writev (several dirty pages at adjacent offsets).
count_pages() { # NAME WRITES TRACE
  awk -v name="$1" -v n="$2" '
    /fdatasync\(/ { match($0, /fdatasync\([0-9]+/); fd = substr($0, RSTART + 10, RLENGTH - 10); syncs[fd]++ }
    /(pwrite64|writev|pwritev)\(/ {
      match($0, /\(([0-9]+)/); fd = substr($0, RSTART + 1, RLENGTH - 1)
      match($0, /= [0-9]+$/); bytes = substr($0, RSTART + 2)
      runs[fd]++; pages[fd] += bytes / 4096 }
    END { best = ""; for (fd in syncs) if (best == "" || syncs[fd] > syncs[best]) best = fd
      if (best == "" || syncs[best] == 0) { print "no commits traced"; exit 1 }
      s = syncs[best]
      printf "%-28s commits=%d writes_per_commit=%.1f runs_per_commit=%.1f pages_per_commit=%.1f pages_per_write=%.1f\n",
             name, s, n / s, runs[best] / s, pages[best] / s, pages[best] / n }' "$3"
}

mkdir -p "$dir/raw"
line=$(strace -f -qq -e trace=pwrite64,writev,pwritev,fdatasync -o "$dir/trace.raw" \
       "$build/bench/bench_writes" raw "$dir/raw" "$seconds" 1)
count_pages commit_pages_raw_lmdb "$(sed -n 's/.* n=\([0-9]*\).*/\1/p' <<< "$line")" "$dir/trace.raw"

for clients in ${CLIENTS:-1 64}; do
  trace="$dir/trace.$clients"
  strace -f -qq -e trace=pwrite64,writev,pwritev,fdatasync -p "$storage" -o "$trace" &
  tracer=$!
  sleep 0.5
  line=$("$build/bench/bench_writes" lean "$url" "$seconds" "$clients" 384)
  kill "$tracer"; wait "$tracer" 2>/dev/null || true
  count_pages "commit_pages_clients_$clients" "$(sed -n 's/.* n=\([0-9]*\).*/\1/p' <<< "$line")" "$trace"
done
