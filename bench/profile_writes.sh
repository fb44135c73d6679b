#!/usr/bin/env bash
# Where a durable single-item write's CPU goes, per process: storage and one
# gateway run under valgrind's callgrind (instruction counts, which machine
# noise does not change), counters are zeroed after a warm-up, CLIENTS
# clients write for SECONDS (bench_writes http, DIM-dimension embeddings),
# then each process's counts are dumped and divided by the writes made.
# Prints instructions per write by shared object and the functions that
# cost most (self), for each process. Needs valgrind (not a build or test
# dependency).
#   bench/profile_writes.sh [BUILD_DIR] [SECONDS] [CLIENTS] [DIM] [PATH]
# PATH is the request to profile: "single" (POST .../experiences) or
# "batch" (POST .../experiences:batch of BATCH experiences, default 100;
# the counts are then per experience).
set -euo pipefail
build="${1:-build-rel}"
seconds="${2:-20}"
clients="${3:-4}"
dim="${4:-384}"
path="${5:-single}"
dir="$(mktemp -d "${TMPDIR:-/tmp}/pdb-profile-writes.XXXXXX")"
port=$((20000 + RANDOM % 20000))
trap 'kill $storage $gateway 2>/dev/null || true; wait 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$dir"' EXIT

# A small map: valgrind cannot reserve the default 64 GiB of address space.
export PULSEDB_MAP_SIZE_MB=2048
vg=(valgrind --tool=callgrind --quiet)
"${vg[@]}" --callgrind-out-file="$dir/storage.out" \
    "$build/services/storage/pulsedb-storage" --data "$dir/node" --log-level warn & storage=$!
for _ in $(seq 100); do [ -S "$dir/node/storage.sock" ] && break; sleep 0.2; done
"${vg[@]}" --callgrind-out-file="$dir/gateway.out" \
    "$build/services/gateway/pulsedb-gateway" --data "$dir/node" --port "$port" \
    --log-level warn --storage-timeout-ms 60000 & gateway=$!
for _ in $(seq 300); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.2; done
url="http://127.0.0.1:$port"
[ -z "${KEEP:-}" ] || echo "profile files in $dir"
mode=http
batch=()
if [ "$path" = batch ]; then mode=httpbatch; batch=("${BATCH:-100}"); fi
# Warm-up: first-touch costs (page faults, lazy binding, pools) left out.
"$build/bench/bench_writes" $mode "$url" 2 "$clients" "$dim" "${batch[@]}" > /dev/null
callgrind_control -z $storage > /dev/null
callgrind_control -z $gateway > /dev/null
line=$("$build/bench/bench_writes" $mode "$url" "$seconds" "$clients" "$dim" "${batch[@]}")
callgrind_control -d $storage > /dev/null
callgrind_control -d $gateway > /dev/null
echo "$line"
n=$(sed -n 's/.* items=\([0-9]*\).*/\1/p' <<< "$line" | head -1)
[ -n "$n" ] || n=$(sed -n 's/.* n=\([0-9]*\).*/\1/p' <<< "$line" | head -1)
for proc in gateway storage; do
  dump=$(ls "$dir/$proc.out".* 2>/dev/null | sort | tail -1)
  callgrind_annotate --inclusive=no --threshold=100 "$dump" > "$dir/$proc.self" 2>/dev/null
  callgrind_annotate --inclusive=yes --threshold=100 "$dump" > "$dir/$proc.incl" 2>/dev/null
  total=$(awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1; exit}' "$dir/$proc.self")
  echo "== $proc: $(awk -v t="$total" -v n="$n" 'BEGIN {printf "%.0f", t / n}') instructions per write ($n writes)"
  # Self cost by shared object. Thread and process entry points show the
  # whole program as their own: left out (no real function costs >= 90%).
  echo "  by shared object (self):"
  awk -v n="$n" -v t="$total" 'BEGIN { t += 0 } 
      /^ *[0-9,]+ \(/ && /\[/ {
          c = $1; gsub(",", "", c); c += 0
          if (c >= 0.9 * t) next
          obj = $0; sub(/.*\[/, "", obj); sub(/\].*/, "", obj); sub(/.*\//, "", obj)
          by[obj] += c
      }
      END { for (o in by) if (by[o] * 100 / t >= 0.5)
              printf "    %9.0f  %5.1f%%  %s\n", by[o] / n, by[o] * 100 / t, o }' \
      "$dir/$proc.self" | sort -nr
  echo "  project functions (inclusive, per write):"
  awk -v n="$n" -v t="$total" 'BEGIN { t += 0 } /^ *[0-9,]+ \(/ && /\/(services\/[a-z]+|common)\/[a-z_]+\.c:/ && shown < 22 {
          c = $1; gsub(",", "", c)
          f = $0; sub(/^ *[0-9,]+ \([ 0-9.]+%\) */, "", f); sub(/ \[.*/, "", f); sub(/.*\//, "", f)
          if (f in seen) next
          seen[f] = 1
          printf "    %9.0f  %5.1f%%  %s\n", c / n, c * 100 / t, f; shown++ }' "$dir/$proc.incl"
  echo "  top functions (self, per write):"
  awk -v n="$n" -v t="$total" 'BEGIN { t += 0 } /^ *[0-9,]+ \(/ && /\[/ && shown < 12 {
          c = $1; gsub(",", "", c); c += 0
          if (c >= 0.9 * t) next
          f = $0; sub(/^ *[0-9,]+ \([ 0-9.]+%\) */, "", f); sub(/ \[.*/, "", f); sub(/.*:/, "", f)
          o = $0; sub(/.*\[/, "", o); sub(/\].*/, "", o); sub(/.*\//, "", o)
          printf "    %9.0f  %5.1f%%  %s (%s)\n", c / n, c * 100 / t, f, o; shown++ }' "$dir/$proc.self"
done
