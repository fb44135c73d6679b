#!/usr/bin/env bash
# Sync engine benchmarks between two nodes on 127.0.0.1 (storage + syncer each,
# one data folder each), loaded by bench_sync straight on storage's ZeroMQ
# socket. Every process, the load generator included, shares the machine's cores.
#
#   bench/run_sync.sh [BUILD_DIR] throughput [N]       N 1 KiB changes A -> B,
#                                                      pull and push, next to
#                                                      Redis replication of N
#                                                      1 KiB values
#   bench/run_sync.sh [BUILD_DIR] backlog [N]          the PulseDB half of throughput
#                                                      alone (for a large N)
#   bench/run_sync.sh [BUILD_DIR] lag [RATE] [SECONDS] replication lag per change
#                                                      at RATE writes/s (pull, push)
#   bench/run_sync.sh [BUILD_DIR] initial [N] [DIM]    initial sync (snapshot) of N
#                                                      experiences next to a raw
#                                                      LMDB bulk load of the same data
#   bench/run_sync.sh [BUILD_DIR] transports [N] [RATE] [SECONDS]
#                                                      pull and push of N changes, then
#                                                      lag at RATE writes/s, over each
#                                                      of TRANSPORTS (default
#                                                      "zmq curve http") in turn
#
# TRANSPORT=zmq|curve|http (default zmq) picks how the syncers of the other cases
# reach each other: plain ZeroMQ; ZeroMQ with CURVE (`pulsedb keygen` on each node,
# the key in each peer spec); or HTTP through the serving node's gateway (a
# `pulsedb-gateway` relaying POST /v1/sync/* to its syncer), with a shared peer
# token in an owner-only file given to that node's gateway and both syncers. With
# CURVE and HTTP the serving node lists the other as a peer too (it only serves
# authenticated peers it knows, in the direction it allows), at an address where
# nothing listens, so it serves and does not dial: pull stays pull, push stays push.
# The nodes of each case are stopped when it ends; `transports` ends with a summary
# (changes/s and their ratio to plain ZeroMQ in the same run, lag p50/p99).
#
# Each case prints one result line; CPU seconds per process during the sync and
# syncer memory follow it (VmHWM; largest VmRSS, RssAnon, RssFile sampled every
# 0.2 s; the resident part of the data.mdb map at the end). KEEP=1 keeps the
# data folders and logs (and each syncer's last sync-status.mpk as
# NAME.sync-status.mpk); SYNC_LOG_LEVEL=debug makes the syncers say more. The Redis comparison needs Debian's redis-server
# (apt-get install -y redis-server); without it that part is skipped.
set -euo pipefail
build="${1:-build-rel}"
case="${2:-throughput}"
bench="$build/bench/bench_sync"
storage_bin="$build/services/storage/pulsedb-storage"
syncer_bin="$build/services/syncer/pulsedb-syncer"
gateway_bin="$build/services/gateway/pulsedb-gateway"
cli_bin="$build/tools/pulsedb"
TRANSPORT="${TRANSPORT:-zmq}"
case "$TRANSPORT" in zmq|curve|http) ;; *) echo "TRANSPORT is zmq, curve or http" >&2; exit 2 ;; esac
dir="$(mktemp -d "${TMPDIR:-/tmp}/pdb-bench-sync.XXXXXX")"
# A free base port with the next 15 free too (other programs may share the machine).
port=$(python3 - <<'PY'
import random, socket
def free(p):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); return True
    except OSError:
        return False
    finally:
        s.close()
while True:
    base = random.randrange(20000, 40000)
    if all(free(base + i) for i in range(16)):
        print(base); break
PY
)
pids=()
cleanup() {
  local i
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do          # newest first: syncers before storage
    kill -CONT "${pids[$i]}" 2>/dev/null || true; kill "${pids[$i]}" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  if [ -n "${KEEP:-}" ]; then echo "kept $dir" >&2; else rm -rf "$dir"; fi
}
trap cleanup EXIT
trap "exit 1" INT TERM

CONTENT=700      # with its other fields, an experience change is ~1,025 bytes in the WAL
SMALL_DIM=8

# ---------------------------------------------------------------- helpers
declare -A STORAGE SYNCER GATEWAY GWPORT SYNCADDR KEY EXTRA
start_storage() {   # NAME
  mkdir -p "$dir/$1"
  "$storage_bin" --data "$dir/$1" --log-level warn 2>>"$dir/$1.storage.log" & STORAGE[$1]=$!
  pids+=("$!")
  for _ in $(seq 100); do "$bench" head "$dir/$1" >/dev/null 2>&1 && return; sleep 0.05; done
  echo "storage $1 did not start" >&2; exit 1
}
start_syncer() {    # NAME BIND PEERS
  local lines=0
  [ -f "$dir/$1.syncer.log" ] && lines=$(wc -l <"$dir/$1.syncer.log")
  # shellcheck disable=SC2086  # EXTRA: the transport's flags, split on purpose
  "$syncer_bin" --data "$dir/$1" --sync-bind "$2" --sync-peers "$3" ${EXTRA[$1]:-} \
      --log-level "${SYNC_LOG_LEVEL:-info}" >>"$dir/$1.syncer.log" 2>&1 & SYNCER[$1]=$!
  pids+=("$!")
  for _ in $(seq 200); do
    tail -n +$((lines + 1)) "$dir/$1.syncer.log" | grep -q ' syncer: started ' && return
    kill -0 "${SYNCER[$1]}" 2>/dev/null || break
    sleep 0.01
  done
  echo "syncer $1 did not start:" >&2; tail -n 5 "$dir/$1.syncer.log" >&2; exit 1
}
stop_syncer() {     # NAME
  kill "${SYNCER[$1]}"; wait "${SYNCER[$1]}" 2>/dev/null || true
}
head_of() { "$bench" head "$dir/$1"; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
cpu_begin() {       # PID... : remembers CPU ticks
  CPU_PIDS=("$@"); CPU_T0=(); CPU_FRESH=()
  for p in "$@"; do CPU_T0+=("$(ticks "$p")"); done
}
cpu_end() {         # LABEL... (one per pid given to cpu_begin)
  local hz out="" i=0; hz=$(getconf CLK_TCK)
  for label in "$@"; do
    out+=" $label=$(echo "scale=2; ($(ticks "${CPU_PIDS[$i]}") - ${CPU_T0[$i]}) / $hz" | bc)s"
    i=$((i + 1))
  done
  for fresh in "${CPU_FRESH[@]}"; do     # LABEL=PID started for the sync
    out+=" ${fresh%%=*}=$(echo "scale=2; $(ticks "${fresh#*=}") / $hz" | bc)s"
  done
  echo "  cpu during sync:$out"
}
declare -A SAMPLER
sample_start() {    # NAME PID : samples memory every 0.2 s
  ( while [ -r "/proc/$2/status" ]; do
      awk '/^(VmRSS|RssAnon|RssFile|VmHWM):/ {printf "%s %s ", $1, $2} END {print ""}' \
          "/proc/$2/status" 2>/dev/null || true
      sleep 0.2
    done ) >"$dir/$1.mem" & SAMPLER[$1]=$!
}
sample_end() {      # NAME PID LABEL
  local hwm mdb; hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$2/status")
  # The resident part of the LMDB map (clean, shared page cache pages).
  mdb=$(awk '/data\.mdb$/ {m = 1; next} /^[0-9a-f]+-[0-9a-f]+ / {m = 0}
             m && /^Rss:/ {s += $2} END {printf "%.1f", s / 1024}' "/proc/$2/smaps")
  kill "${SAMPLER[$1]}" 2>/dev/null || true; wait "${SAMPLER[$1]}" 2>/dev/null || true
  awk -v label="$3" -v hwm="$hwm" -v mdb="$mdb" '
    { for (i = 1; i < NF; i += 2) { v = $(i + 1) + 0; if (v > max[$i]) max[$i] = v } n++ }
    END { printf "  %s memory: VmHWM=%.1f MiB max VmRSS=%.1f MiB max RssAnon=%.1f MiB max RssFile=%.1f MiB, data.mdb resident at the end %s MiB (%d samples)\n",
          label, hwm / 1024, max["VmRSS:"] / 1024, max["RssAnon:"] / 1024, max["RssFile:"] / 1024, mdb, n }' "$dir/$1.mem"
}
load_line() { echo "  machine: load average $(cut -d' ' -f1-3 /proc/loadavg)"; }

# ---------------------------------------------------------------- transports
P=""                # prefix of the nodes' folders (transports: one set per transport)
TOKEN=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')   # the peers' shared HTTP token
free_port() {       # a free port on 127.0.0.1, outside the base block
  python3 - "$port" <<'PY'
import random, socket, sys
base = int(sys.argv[1])
while True:
    p = random.randrange(20000, 32000)
    if base <= p < base + 16:
        continue
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); print(p); break
    except OSError:
        pass
    finally:
        s.close()
PY
}
short() { echo "${1#"$P"}"; }     # a node's peer name: its folder without the prefix
start_gateway() {   # NAME : the gateway that relays HTTP peers' sync requests
  local gp; gp=$(free_port)
  # shellcheck disable=SC2086
  "$gateway_bin" --data "$dir/$1" --host 127.0.0.1 --port "$gp" ${EXTRA[$1]:-} \
      --log-level warn >>"$dir/$1.gateway.log" 2>&1 & GATEWAY[$1]=$!
  pids+=("$!"); GWPORT[$1]=$gp
  for _ in $(seq 200); do
    if curl -sf -o /dev/null "http://127.0.0.1:$gp/health"; then
      # With tokens, a sync request without one is refused: the peers authenticate.
      local code; code=$(curl -s -o /dev/null -w '%{http_code}' -X POST \
          -H 'Content-Type: application/msgpack' --data-binary x "http://127.0.0.1:$gp/v1/sync/hello")
      [ -z "${EXTRA[$1]:-}" ] || [ "$code" = 401 ] && return
      echo "gateway $1 answered a sync request without a token with $code, not 401" >&2; exit 1
    fi
    kill -0 "${GATEWAY[$1]}" 2>/dev/null || break
    sleep 0.02
  done
  echo "gateway $1 did not start:" >&2; tail -n 5 "$dir/$1.gateway.log" >&2; exit 1
}
node_new() {        # NAME PEER SERVES : storage, and for the transport a key pair
                    # (curve), or a token shared with PEER and, when SERVES=1 (the
                    # peer dials this node), a gateway (http)
  start_storage "$1"
  SYNCADDR[$1]="tcp://127.0.0.1:$(free_port)"; EXTRA[$1]=""
  case "$TRANSPORT" in
    curve) KEY[$1]=$("$cli_bin" keygen --data "$dir/$1") ;;
    http)  ( umask 077; echo "peer:$2 $TOKEN" >"$dir/$1.tokens" )
           EXTRA[$1]="--api-tokens $dir/$1.tokens"
           if [ "$3" = 1 ]; then start_gateway "$1"; fi ;;
  esac
}
dial_spec() {       # FROM TO DIRECTION : FROM's --sync-peers entry for TO
  local address="${SYNCADDR[$2]}"
  [ "$TRANSPORT" = http ] && address="http://127.0.0.1:${GWPORT[$2]}"
  echo "$(short "$2")=$address,$3${KEY[$2]:+,key=${KEY[$2]}}"
}
serve_spec() {      # SERVER CLIENT pull|push (what CLIENT does) : SERVER's entry for
                    # CLIENT, at an address where nothing listens (CURVE, HTTP only)
  [ "$TRANSPORT" = zmq ] && return
  local direction=push scheme=tcp
  [ "$3" = push ] && direction=pull
  [ "$TRANSPORT" = http ] && scheme=http
  echo "$(short "$2")=$scheme://127.0.0.1:$(free_port),$direction${KEY[$2]:+,key=${KEY[$2]}}"
}
stop_node() {       # NAME : its syncer, gateway and storage (with KEEP, the
                    # syncer's last status is kept as NAME.sync-status.mpk)
  local p
  if [ -n "${KEEP:-}" ] && [ -f "$dir/$1/sync-status.mpk" ]; then
    cp "$dir/$1/sync-status.mpk" "$dir/$1.sync-status.mpk" 2>/dev/null || true
  fi
  for p in "${SYNCER[$1]:-}" "${GATEWAY[$1]:-}" "${STORAGE[$1]:-}"; do
    [ -n "$p" ] || continue
    kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true
  done
  unset "SYNCER[$1]" "GATEWAY[$1]" "STORAGE[$1]"
}
gateway_pid() { [ -n "${GATEWAY[$1]:-}" ] && echo "${GATEWAY[$1]}"; return 0; }
declare -A RESULT   # "TRANSPORT pull|push" -> changes/s; "TRANSPORT lag pull|push" -> p50/p99

# ---------------------------------------------------------------- throughput
pulsedb_pull() {    # N
  local n=$1 a=${P}a b=${P}b gw
  node_new "$a" b 1; node_new "$b" a 0
  start_syncer "$a" "${SYNCADDR[$a]}" "$(serve_spec "$a" "$b" pull)"
  # B takes A's first entities by snapshot (an empty node starts with one),
  # so that what follows travels as changes through pull.
  "$bench" load "$dir/$a" 1 "$CONTENT" "$SMALL_DIM" 1 >/dev/null
  local spec; spec=$(dial_spec "$b" "$a" pull)
  start_syncer "$b" "${SYNCADDR[$b]}" "$spec"
  "$bench" wait "$dir/$b" "$(head_of "$a")" 30 >/dev/null
  stop_syncer "$b"
  local line from to target secs bytes t0 rate
  line=$("$bench" load "$dir/$a" "$n" "$CONTENT" "$SMALL_DIM" 256)
  echo "$line"
  from=$(sed 's/.*first_seq=\([0-9]*\).*/\1/' <<<"$line"); to=$(head_of "$a")
  target=$(( $(head_of "$b") + to - from + 1 ))
  bytes=$("$bench" walbytes "$dir/$a" "$from" "$to" | sed 's/.*bytes=\([0-9]*\).*/\1/')
  load_line
  gw=$(gateway_pid "$a")
  cpu_begin "${STORAGE[$a]}" "${SYNCER[$a]}" "${STORAGE[$b]}" $gw
  t0=$(date +%s.%N)
  start_syncer "$b" "${SYNCADDR[$b]}" "$spec"
  CPU_FRESH=("B.syncer=${SYNCER[$b]}")
  sample_start "$b" "${SYNCER[$b]}"; sample_start "$a" "${SYNCER[$a]}"
  "$bench" wait "$dir/$b" "$target" 300 >/dev/null
  secs=$(echo "$(date +%s.%N) - $t0" | bc)
  rate=$(echo "($to - $from + 1) / $secs" | bc -l)
  RESULT["$TRANSPORT pull"]=$(printf "%.0f" "$rate")
  printf "%-28s changes=%d seconds=%.2f changes/s=%.0f MB/s=%.1f\n" \
      "pulsedb pull A->B ($TRANSPORT)" $((to - from + 1)) "$secs" "$rate" \
      "$(echo "$bytes / $secs / 1000000" | bc -l)"
  cpu_end "A.storage" "A.syncer" "B.storage" ${gw:+A.gateway}
  sample_end "$b" "${SYNCER[$b]}" "B syncer (puller, $((to - from + 1)) changes behind at start)"
  sample_end "$a" "${SYNCER[$a]}" "A syncer (serving the pulls; lifetime VmHWM)"
  stop_node "$b"; stop_node "$a"
}

pulsedb_push() {    # N
  local n=$1 c=${P}c d=${P}d gw
  node_new "$c" d 0; node_new "$d" c 1
  start_syncer "$d" "${SYNCADDR[$d]}" "$(serve_spec "$d" "$c" push)"
  local line from to secs bytes t0 rate
  line=$("$bench" load "$dir/$c" "$n" "$CONTENT" "$SMALL_DIM" 256)
  echo "$line"
  from=1; to=$(head_of "$c")
  bytes=$("$bench" walbytes "$dir/$c" "$from" "$to" | sed 's/.*bytes=\([0-9]*\).*/\1/')
  load_line
  gw=$(gateway_pid "$d")
  cpu_begin "${STORAGE[$c]}" "${STORAGE[$d]}" "${SYNCER[$d]}" $gw
  t0=$(date +%s.%N)
  start_syncer "$c" "" "$(dial_spec "$c" "$d" push)"
  CPU_FRESH=("A.syncer=${SYNCER[$c]}")
  sample_start "$c" "${SYNCER[$c]}"; sample_start "$d" "${SYNCER[$d]}"
  "$bench" wait "$dir/$d" "$to" 300 >/dev/null
  secs=$(echo "$(date +%s.%N) - $t0" | bc)
  rate=$(echo "$to / $secs" | bc -l)
  RESULT["$TRANSPORT push"]=$(printf "%.0f" "$rate")
  printf "%-28s changes=%d seconds=%.2f changes/s=%.0f MB/s=%.1f\n" \
      "pulsedb push A->B ($TRANSPORT)" "$to" "$secs" "$rate" \
      "$(echo "$bytes / $secs / 1000000" | bc -l)"
  cpu_end "A.storage" "B.storage" "B.syncer" ${gw:+B.gateway}
  sample_end "$c" "${SYNCER[$c]}" "A syncer (pusher, $to changes behind at start)"
  sample_end "$d" "${SYNCER[$d]}" "B syncer (serving the pushes)"
  stop_node "$c"; stop_node "$d"
}

redis_case() {      # N FSYNC
  local n=$1 fsync=$2 p1=$((port + 10)) p2=$((port + 11)) p3=$((port + 12))
  local common=(--bind 127.0.0.1 --protected-mode no --save "" --appendonly yes
                --appendfsync "$fsync" --repl-backlog-size 1gb
                --client-output-buffer-limit "replica 0 0 0" --repl-diskless-sync-delay 0
                --daemonize no --loglevel warning)
  rm -rf "$dir/r1" "$dir/r2" "$dir/r3"; mkdir -p "$dir/r1" "$dir/r2" "$dir/r3"
  redis-server --port "$p1" --dir "$dir/r1" "${common[@]}" >"$dir/r1.log" 2>&1 & local r1=$!
  redis-server --port "$p2" --dir "$dir/r2" "${common[@]}" --replicaof 127.0.0.1 "$p1" \
      >"$dir/r2.log" 2>&1 & local r2=$!
  pids+=("$r1" "$r2")
  for _ in $(seq 100); do
    redis-cli -p "$p2" info replication 2>/dev/null | grep -q 'master_link_status:up' && break
    sleep 0.05
  done
  # Replication paused: the replica is stopped while the primary loads, so the
  # N writes wait in the primary's buffer for it, as PulseDB's wait in A's WAL.
  kill -STOP "$r2"
  local t0 t1
  t0=$(date +%s.%N)
  redis-cli -p "$p1" --pipe <"$dir/redis.resp" >/dev/null
  t1=$(date +%s.%N)
  printf "%-28s n=%d seconds=%.2f writes/s=%.0f\n" "redis load (pipe)" "$n" \
      "$(echo "$t1 - $t0" | bc)" "$(echo "$n / ($t1 - $t0)" | bc -l)"
  load_line
  python3 - "$p1" "$p2" "$r2" "$n" "redis stream appendfsync=$fsync" <<'PY'
import os, signal, socket, sys, time
p1, p2, pid, n, label = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
def conn(port):
    s = socket.create_connection(("127.0.0.1", port)); return s, s.makefile("rb")
def cmd(c, *args):
    s, f = c
    s.sendall(("*%d\r\n" % len(args) + "".join("$%d\r\n%s\r\n" % (len(a), a) for a in args)).encode())
    line = f.readline()
    if line[:1] == b"$":
        return f.read(int(line[1:]) + 2)[:-2].decode()
    return line[1:].strip().decode()
def offset(c, key):
    for l in cmd(c, "INFO", "replication").splitlines():
        if l.startswith(key + ":"):
            return int(l.split(":")[1])
    return -1
primary = conn(p1)
target = offset(primary, "master_repl_offset")
t0 = time.monotonic()
os.kill(pid, signal.SIGCONT)
replica = conn(p2)
while offset(replica, "master_repl_offset") < target:
    time.sleep(0.002)
secs = time.monotonic() - t0
keys = int(cmd(replica, "DBSIZE"))
print("%-28s changes=%d seconds=%.2f changes/s=%.0f MB/s=%.1f (keys on replica %d)" %
      (label, n, secs, n / secs, n * 1024 / secs / 1e6, keys))
PY
  # Initial sync for comparison: a new replica of the loaded primary (RDB
  # transfer, not the command stream), done when it holds every key and has
  # written its first AOF (until then it is not durable).
  redis-server --port "$p3" --dir "$dir/r3" "${common[@]}" --replicaof 127.0.0.1 "$p1" \
      >"$dir/r3.log" 2>&1 & local r3=$!
  pids+=("$r3")
  python3 - "$p3" "$n" <<'PY'
import socket, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
t0 = time.monotonic()
def info(s, f, section):
    s.sendall(b"*2\r\n$4\r\nINFO\r\n$%d\r\n%s\r\n" % (len(section), section.encode()))
    size = int(f.readline()[1:])
    text = f.read(size + 2).decode()
    return dict(l.split(":", 1) for l in text.splitlines() if ":" in l)
while True:
    try:
        s = socket.create_connection(("127.0.0.1", port)); f = s.makefile("rb"); break
    except OSError:
        time.sleep(0.005)
while True:
    r = info(s, f, "replication"); p = info(s, f, "persistence")
    k = info(s, f, "keyspace").get("db0", "keys=0").split(",")[0].split("=")[1]
    if (r.get("master_link_status") == "up" and int(k) == n and p.get("loading") == "0"
            and p.get("aof_rewrite_in_progress") == "0" and p.get("aof_rewrite_scheduled") == "0"):
        break
    time.sleep(0.005)
secs = time.monotonic() - t0
print("%-28s changes=%d seconds=%.2f changes/s=%.0f MB/s=%.1f (RDB full resync + first AOF)" %
      ("redis new replica", n, secs, n / secs, n * 1024 / secs / 1e6))
PY
  kill -9 "$r1" "$r2" "$r3"; wait "$r1" "$r2" "$r3" 2>/dev/null || true
}

throughput() {      # N
  local n=$1
  pulsedb_pull "$n"
  pulsedb_push "$n"
  command -v redis-server >/dev/null || { echo "redis-server not installed: skipping Redis"; return; }
  python3 - "$n" >"$dir/redis.resp" <<'PY'
import os, sys, base64
n = int(sys.argv[1])
out = sys.stdout.buffer
rnd = os.urandom(n * 768 + 1024)
for i in range(n):
    key = b"exp:%09d" % i
    # 1,024 printable, incompressible bytes (RDB would LZF-compress filler)
    val = base64.b64encode(rnd[i * 768:i * 768 + 768])
    out.write(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(key), key, len(val), val))
PY
  redis_case "$n" everysec
  redis_case "$n" always
}

# ---------------------------------------------------------------- lag
lag_pair() {        # SERVER CLIENT MODE(pull|push) RATE SECONDS : lag from the writer's
                    # node (A: the server for pull, the client for push) to the other
  local server=$1 client=$2 mode=$3 gw out src dst
  node_new "$server" "$(short "$client")" 1; node_new "$client" "$(short "$server")" 0
  start_syncer "$server" "${SYNCADDR[$server]}" "$(serve_spec "$server" "$client" "$mode")"
  start_syncer "$client" "${SYNCADDR[$client]}" "$(dial_spec "$client" "$server" "$mode")"
  src=$server dst=$client
  [ "$mode" = push ] && src=$client dst=$server
  load_line
  gw=$(gateway_pid "$server")
  cpu_begin "${STORAGE[$src]}" "${SYNCER[$src]}" "${STORAGE[$dst]}" "${SYNCER[$dst]}" $gw
  out=$("$bench" lag "$dir/$src" "$dir/$dst" "$4" "$5" "$CONTENT" "$SMALL_DIM" 2>&1 || true)
  echo "$out"
  if ! grep -q '^lag A durable' <<<"$out"; then     # what each node holds, for the report
    echo "  A's vector: $("$bench" vector "$dir/$src" | tr '\n' ' ')"
    echo "  B's vector: $("$bench" vector "$dir/$dst" | tr '\n' ' ')"
  fi
  RESULT["$TRANSPORT lag $mode"]=$(sed -n 's/^lag A durable -> B durable.*p50_ms= *\(-\{0,1\}[0-9.]*\).*p99_ms= *\(-\{0,1\}[0-9.]*\).*/\1\/\2/p' <<<"$out")
  [ -n "${RESULT["$TRANSPORT lag $mode"]}" ] || RESULT["$TRANSPORT lag $mode"]="failed"
  local gw_label=A.gateway; [ "$mode" = push ] && gw_label=B.gateway
  cpu_end "A.storage" "A.syncer" "B.storage" "B.syncer" ${gw:+$gw_label}
  stop_node "$client"; stop_node "$server"
}

lag() {             # RATE SECONDS
  echo "--- pull ($TRANSPORT): B long-polls A (sync/pull_wait_ms 5000)"
  lag_pair "${P}a" "${P}b" pull "$1" "$2"
  echo "--- push ($TRANSPORT): A pushes to B on each of A's commits"
  lag_pair "${P}d" "${P}c" push "$1" "$2"
}

# ---------------------------------------------------------------- transports
transports() {      # N RATE SECONDS
  local t prefix="$P"
  for t in ${TRANSPORTS:-zmq curve http}; do
    TRANSPORT=$t
    echo "=== transport $t"
    P="$prefix$t-"; pulsedb_pull "$1"; pulsedb_push "$1"
    P="$prefix$t-lag-"; lag "$2" "$3"
  done
  P=$prefix
  echo "=== summary: changes/s (ratio to zmq in this run); lag A durable -> B durable p50/p99 ms at $2/s"
  for t in ${TRANSPORTS:-zmq curve http}; do
    local line="$t" mode
    for mode in pull push; do
      local v="${RESULT["$t $mode"]:-}" z="${RESULT["zmq $mode"]:-}"
      line+=" $mode=${v:-?}"
      [ -n "$v" ] && [ -n "$z" ] && line+="($(echo "scale=2; $v / $z" | bc)x)"
    done
    line+=" lag_pull=${RESULT["$t lag pull"]:-?} lag_push=${RESULT["$t lag push"]:-?}"
    echo "  $line"
  done
}

# ---------------------------------------------------------------- initial sync
initial() {         # N DIM
  local n=$1 dim=$2 a=${P}a b=${P}b gw
  node_new "$a" b 1; node_new "$b" a 0
  start_syncer "$a" "${SYNCADDR[$a]}" "$(serve_spec "$a" "$b" pull)"
  "$bench" load "$dir/$a" "$n" 100 "$dim" 256
  local to secs bytes t0
  to=$(head_of "$a")
  load_line
  gw=$(gateway_pid "$a")
  cpu_begin "${STORAGE[$a]}" "${SYNCER[$a]}" "${STORAGE[$b]}" $gw
  t0=$(date +%s.%N)
  start_syncer "$b" "${SYNCADDR[$b]}" "$(dial_spec "$b" "$a" pull)"
  CPU_FRESH=("B.syncer=${SYNCER[$b]}")
  sample_start "$b" "${SYNCER[$b]}"; sample_start "$a" "${SYNCER[$a]}"
  # Installed entities are appended to B's WAL, one each.
  "$bench" wait "$dir/$b" "$to" 600 >/dev/null
  secs=$(echo "$(date +%s.%N) - $t0" | bc)
  bytes=$(grep -o 'initial sync done.*bytes=[0-9]*' "$dir/$b.syncer.log" | tail -1 \
          | sed 's/.*bytes=//')
  printf "%-28s entities=%d seconds=%.2f entities/s=%.0f snapshot_MB=%.1f MB/s=%.1f\n" \
      "pulsedb initial sync A->B ($TRANSPORT)" "$to" "$secs" "$(echo "$to / $secs" | bc -l)" \
      "$(echo "$bytes / 1000000" | bc -l)" "$(echo "$bytes / $secs / 1000000" | bc -l)"
  cpu_end "A.storage" "A.syncer" "B.storage" ${gw:+A.gateway}
  sample_end "$b" "${SYNCER[$b]}" "B syncer (snapshot puller, $to entities behind at start)"
  sample_end "$a" "${SYNCER[$a]}" "A syncer (serving the snapshot)"
  echo "  data.mdb: A $(du -m "$dir/$a/data.mdb" | cut -f1) MB, B $(du -m "$dir/$b/data.mdb" | cut -f1) MB"
  stop_syncer "$b"
  mkdir -p "$dir/lmdb"
  "$bench" lmdb "$dir/$a" "$dir/lmdb" 10000
}

case "$case" in
  throughput) throughput "${3:-200000}" ;;
  backlog)    pulsedb_pull "${3:-1000000}"; pulsedb_push "${3:-1000000}" ;;
  lag)        lag "${3:-5000}" "${4:-20}" ;;
  transports) transports "${3:-100000}" "${4:-1000}" "${5:-20}" ;;
  initial)    initial "${3:-200000}" "${4:-384}" ;;
  *) echo "usage: $0 [BUILD_DIR] throughput|backlog|lag|initial|transports [ARGS]" >&2; exit 2 ;;
esac
