#!/usr/bin/env bash
# Durable write throughput: raw LMDB batch commits, and what one flush of
# scattered or contiguous pages costs (bench_writes disk), next to writes
# through the gateway at 1, 16 and 64 concurrent clients, on the same disk,
# in one run.
# After each gateway case, the CPU the gateway and storage processes used
# (user + system, from /proc) per write, and the benchmark client's own
# (libcurl, on the same cores; from /usr/bin/time when installed), and the
# gateway's context switches and CPU per write by kind of thread, and
# storage's writes per commit and time per group (its /metrics counters).
#   bench/run_writes.sh [BUILD_DIR] [SECONDS]
# CLIENTS="64" runs only those cases; RAW=0 skips the raw LMDB and disk ones;
# CLIENT=lean drives the gateway from one thread of keep-alive connections
# (lean_client.h) instead of a libcurl thread per client; CLIENT=leanb64 does
# the same with each embedding sent as embedding_b64.
set -euo pipefail
build="${1:-build-rel}"
seconds="${2:-10}"
dir="$(mktemp -d "${TMPDIR:-/tmp}/pdb-bench-writes.XXXXXX")"
port=$(python3 -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
trap 'kill $storage $gateway 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"' EXIT

# utime and stime of a process, in clock ticks.
ticks() { awk '{print $14, $15}' "/proc/$1/stat"; }
# Per kind of thread of a process (its name: http-loop, ZMQbg/IO/0, the
# workers under the process's own name): context switches and nanoseconds
# on a CPU (schedstat: exact, where a thread's ticks in stat are sampled).
threads() {
  for t in /proc/"$1"/task/*; do
    echo "$(tr ' ' _ < "$t/comm") $(awk '/ctxt_switches/ {s += $2} END {print s}' "$t/status") \
$(cut -d' ' -f1 "$t/schedstat")"
  done | awk '{c[$1] += $2; u[$1] += $3} END {for (k in c) print k, c[k], u[k]}' | sort
}

if [ "${RAW:-1}" != 0 ]; then
  mkdir -p "$dir/raw64" "$dir/raw1"
  "$build/bench/bench_writes" raw "$dir/raw1" "$seconds" 1
  "$build/bench/bench_writes" raw "$dir/raw64" "$seconds" 64
  "$build/bench/bench_writes" disk "$dir"
fi

"$build/services/storage/pulsedb-storage" --data "$dir/node" --log-level warn & storage=$!
sleep 0.5
"$build/services/gateway/pulsedb-gateway" --data "$dir/node" --port "$port" \
    --log-level warn --max-connections 256 & gateway=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
hz=$(getconf CLK_TCK)
# Storage's commit counters, a "name value" line each, in a fixed order.
storage_counters() {
  curl -sf "http://127.0.0.1:$port/metrics" | awk '/^pulsedb_storage_(commits_total|committed_writes_total|run_seconds_total|commit_duration_seconds_sum) / {
    print $1, $2 }' | sort
}
for clients in ${CLIENTS:-1 16 64}; do
  storage_counters > "$dir/storage0"
  read -r gu0 gs0 <<< "$(ticks $gateway)"; read -r su0 ss0 <<< "$(ticks $storage)"
  threads $gateway > "$dir/threads0"
  timer=()
  [ -x /usr/bin/time ] && timer=(/usr/bin/time -f "%U %S" -o "$dir/client.time")
  echo "0 0" > "$dir/client.time"
  line=$("${timer[@]}" "$build/bench/bench_writes" "${CLIENT:-http}" "http://127.0.0.1:$port" \
         "$seconds" "$clients" 384)
  read -r cu cs < "$dir/client.time"
  read -r gu1 gs1 <<< "$(ticks $gateway)"; read -r su1 ss1 <<< "$(ticks $storage)"
  threads $gateway > "$dir/threads1"
  n=$(sed -n 's/.* n=\([0-9]*\).*/\1/p' <<< "$line" | head -1)
  echo "$line"
  awk -v gu=$((gu1 - gu0)) -v gs=$((gs1 - gs0)) -v su=$((su1 - su0)) -v ss=$((ss1 - ss0)) \
      -v cu="$cu" -v cs="$cs" -v n="$n" -v hz="$hz" -v c="$clients" 'BEGIN { if (n > 0) {
        k = 1e6 / hz / n
        printf "%-28s gateway_cpu_us=%7.1f (user %.1f sys %.1f) storage_cpu_us=%7.1f (user %.1f sys %.1f) client_cpu_us=%7.1f\n",
               "cpu_per_write_clients_" c, (gu + gs) * k, gu * k, gs * k, (su + ss) * k, su * k, ss * k,
               (cu + cs) * 1e6 / n } }'
  # Storage's writer per group (/metrics): writes per commit, and the time
  # spent running the group's requests and committing it.
  storage_counters > "$dir/storage1"
  paste "$dir/storage0" "$dir/storage1" | awk -v c="$clients" '{ d[$1] = $4 - $2 }
    END { g = d["pulsedb_storage_commits_total"]; if (g > 0)
      printf "%-28s commits=%d writes_per_commit=%.1f run_us=%.0f commit_us=%.0f per commit\n",
             "storage_groups_clients_" c, g, d["pulsedb_storage_committed_writes_total"] / g,
             d["pulsedb_storage_run_seconds_total"] * 1e6 / g,
             d["pulsedb_storage_commit_duration_seconds_sum"] * 1e6 / g }'
  # Where the gateway's share goes: each kind of thread's wake-ups and CPU per write.
  join "$dir/threads0" "$dir/threads1" | awk -v n="$n" -v c="$clients" 'n > 0 {
    printf "%-28s thread=%s switches_per_write=%.2f cpu_us=%.1f\n", "gateway_threads_clients_" c,
           $1, ($4 - $2) / n, ($5 - $3) / 1e3 / n }'
done
