#!/usr/bin/env bash
# Search end to end through the gateway, exact and approximate, on one node:
# for each data kind (DATA, default "clustered uniform") a fresh node, whose
# collective grows through SIZES (default "10000 100000") of 384-dimension
# vectors (bench/gen_vectors, imported with `pulsedb import`). At each size:
#   exact        QUERIES searches with exact:true (the truth), p50/p99;
#   build        the approximate index built (first search to ready),
#                seconds and the storage process's growth in resident memory;
#   approximate  the same searches: p50/p99, recall@10 against exact;
#   clients      CLIENTS processes (default 8) for 5 s each way: queries/s;
#   c_client     one client's p50/p99 measured from C (bench_search_http),
#                without the Python client's own cost: exact, then by default;
#   kernel       bench_search over n vectors in memory (the exact kernel alone);
#   chroma       with CHROMA_PY (a Python with chromadb installed), Chroma on
#                the same vectors and queries (bench/chroma_side_by_side.py).
#   bench/run_ann_http.sh [BUILD_DIR]
# EF sets search/ann_ef, the smallest ef the index's recall measurement may
# choose (default 16). The index threshold is 5,000.
set -euo pipefail
build="${1:-build}"
sizes="${SIZES:-10000 100000}"
kinds="${DATA:-clustered uniform}"
clients="${CLIENTS:-8}"
queries="${QUERIES:-200}"
ef="${EF:-16}"
dim=384
export PULSEDB_SEARCH_ANN_THRESHOLD=5000 PULSEDB_SEARCH_ANN_EF="$ef"
root="$(mktemp -d "${TMPDIR:-/tmp}/pdb-bench-ann.XXXXXX")"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$root"' EXIT
echo "load_average=$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' ,) ef=$ef queries=$queries"
for kind in $kinds; do
  dir="$root/$kind"
  port=$((20000 + RANDOM % 20000))
  "$build/services/storage/pulsedb-storage" --data "$dir" --log-level info \
    2>"$root/$kind-storage.log" & storage=$!
  pids+=("$storage")
  sleep 0.5
  "$build/services/gateway/pulsedb-gateway" --data "$dir" --port "$port" --log-level warn & gateway=$!
  pids+=("$gateway")
  for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
  coll=$(curl -sf -XPOST "http://127.0.0.1:$port/v1/collectives" -H 'Content-Type: application/json' \
         -d "{\"name\":\"bench-$kind\",\"embedding_dim\":$dim}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  have=0
  for n in $sizes; do
    t0=$(date +%s.%N)
    "$build/bench/gen_vectors" --n $((n - have)) --start "$have" --dim $dim --data "$kind" \
      | "$build/tools/pulsedb" import "$coll" - --url "http://127.0.0.1:$port" >/dev/null 2>&1
    t1=$(date +%s.%N)
    echo "import data=$kind n=$n seconds=$(python3 -c "print(round($t1 - $t0, 1))")"
    have=$n
    "$build/bench/gen_vectors" --n "$queries" --dim $dim --data "$kind" --queries >"$root/queries"
    python3 - "$port" "$coll" "$root/queries" "$storage" "$clients" "$kind" "$n" "$root/truth.json" "$root/$kind-storage.log" <<'PY'
import http.client, json, multiprocessing, sys, time
port, coll, qfile, storage, clients, kind, n, truth_file, log_file = sys.argv[1:10]
port, clients, n = int(port), int(clients), int(n)
queries = [json.loads(line) for line in open(qfile)]
path = f"/v1/collectives/{coll}/search"
SECONDS = 5

def search(conn, q, exact, ef=None):
    body = {"embedding": q, "k": 10, "exact": exact}
    if ef:
        body["ef"] = ef
    conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    r = conn.getresponse()
    body = json.loads(r.read())
    assert r.status == 200, body
    return body

def rss_mb():
    for line in open(f"/proc/{storage}/status"):
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
    return 0.0

def run(exact, ef=None):
    conn = http.client.HTTPConnection("127.0.0.1", port)
    out, lat = [], []
    for q in queries:
        t0 = time.perf_counter()
        body = search(conn, q, exact, ef)
        lat.append((time.perf_counter() - t0) * 1e3)
        out.append((body["method"], [x["experience"]["content"] for x in body["results"]]))
    lat.sort()
    return out, lat

def client(exact, seed, ef=None):
    conn = http.client.HTTPConnection("127.0.0.1", port)
    done, i, end = 0, seed, time.perf_counter() + SECONDS
    while time.perf_counter() < end:
        search(conn, queries[i % len(queries)], exact, ef)
        done += 1
        i += 1
    return done

def pct(lat, p):
    return lat[min(len(lat) - 1, int(len(lat) * p))]

truth, lat = run(True)
print(f"exact data={kind} n={n} p50_ms={pct(lat, .5):.2f} p99_ms={pct(lat, .99):.2f}", flush=True)
json.dump([ids for _, ids in truth], open(truth_file, "w"))
rss0 = rss_mb()
conn = http.client.HTTPConnection("127.0.0.1", port)
t0 = time.perf_counter()
#  Built (or caught up) and measured: a new "index recall" line in storage's log.
def measured_lines():
    return [l for l in open(log_file) if "index recall" in l]
before = len(measured_lines())
while len(measured_lines()) == before:
    search(conn, queries[0], False)      # the first search starts the build
    time.sleep(0.1)
build_s = time.perf_counter() - t0
print(f"build data={kind} n={n} seconds={build_s:.1f} storage_rss_growth_mb={rss_mb() - rss0:.0f}",
      flush=True)
print(f"measured data={kind} n={n} {measured_lines()[-1].split(': ', 1)[1].strip()}")
for ef in (None, 64, 256, 1024):
    got, lat = run(False, ef)
    approx = sum(m == "approximate" for m, _ in got)
    recall = sum(len(set(g) & set(t)) for (_, g), (_, t) in zip(got, truth)) / (10 * len(truth))
    print(f"default data={kind} n={n} ef={ef or 'measured'} approximate={approx}/{len(got)} "
          f"recall10={recall:.3f} p50_ms={pct(lat, .5):.2f} p99_ms={pct(lat, .99):.2f}",
          flush=True)
for exact, ef in ((False, None), (False, 256), (True, None)):
    with multiprocessing.Pool(clients) as pool:
        done = sum(pool.starmap(client, [(exact, i * 17, ef) for i in range(clients)]))
    print(f"clients data={kind} n={n} method={'exact' if exact else 'default'} "
          f"ef={ef or '-'} clients={clients} qps={done / SECONDS:.0f}", flush=True)
PY
    for args in "0 exact" "0" "64" "256" "1024"; do
      # shellcheck disable=SC2086
      "$build/bench/bench_search_http" "http://127.0.0.1:$port" "$coll" "$root/queries" \
        "$queries" $args | sed "s/^/c_client data=$kind n=$n /"
    done
    "$build/bench/bench_search" --n "$n" --search-only | sed "s/^/kernel data=$kind /"
    if [ -n "${CHROMA_PY:-}" ]; then
      "$build/bench/gen_vectors" --n "$n" --dim $dim --data "$kind" >"$root/vectors.jsonl"
      "$CHROMA_PY" "$(dirname "$0")/chroma_side_by_side.py" "$root/vectors.jsonl" "$root/queries" \
        "$root/truth.json" "$kind" "$n" "$clients"
      rm -f "$root/vectors.jsonl"
    fi
  done
  grep -h "search: index" "$root/$kind-storage.log" | grep -v building || true
  kill "$gateway" "$storage"
  wait "$gateway" "$storage" 2>/dev/null || true
done
