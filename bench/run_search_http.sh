#!/usr/bin/env bash
# End-to-end exact search through the gateway (HTTP, JSON, LMDB scan) for
# experiences of 384 dimensions (10k, then 100k: SIZES="10000 100000"),
# and after each size the search kernel alone over the same number of
# vectors in memory (bench_search --search-only), in the same run, so the
# ratio end-to-end / kernel is read off one machine state. Then CLIENTS
# (default 8) processes search at once for 5 s: queries/s and p50.
#   bench/run_search_http.sh [BUILD_DIR]
set -euo pipefail
build="${1:-build-rel}"
sizes="${SIZES:-10000 100000}"
clients="${CLIENTS:-8}"
dir="$(mktemp -d "${TMPDIR:-/tmp}/pdb-bench-search.XXXXXX")"
port=$((20000 + RANDOM % 20000))
trap 'kill $storage $gateway 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"' EXIT
"$build/services/storage/pulsedb-storage" --data "$dir/node" --log-level warn & storage=$!
sleep 0.5
"$build/services/gateway/pulsedb-gateway" --data "$dir/node" --port "$port" --log-level warn & gateway=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
echo "load_average=$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' ,)"
python3 - "$port" "$dir" "$build" "$sizes" "$clients" <<'PY'
import http.client, json, multiprocessing, random, re, subprocess, sys, time
port, tmp, build, sizes = int(sys.argv[1]), sys.argv[2], sys.argv[3], [int(s) for s in sys.argv[4].split()]
clients = int(sys.argv[5])
url = f"http://127.0.0.1:{port}"
rnd = random.Random(7)
dim = 384
SECONDS = 5
def clients_run(port, coll, bodies, seed):
    """One client: searches back to back for SECONDS after one warm-up."""
    c = http.client.HTTPConnection("127.0.0.1", port)
    out, i, end = [], seed, None
    while end is None or time.perf_counter() < end:
        t0 = time.perf_counter()
        c.request("POST", f"/v1/collectives/{coll}/search", bodies[i % len(bodies)],
                  {"Content-Type": "application/json"})
        r = c.getresponse()
        r.read()
        assert r.status == 200
        if end is None:
            end = time.perf_counter() + SECONDS
        else:
            out.append((time.perf_counter() - t0) * 1e3)
        i += 1
    return out
conn = http.client.HTTPConnection("127.0.0.1", port)
def call(method, path, body=None):
    conn.request(method, path, json.dumps(body) if body is not None else None,
                 {"Content-Type": "application/json"})
    r = conn.getresponse()
    return r.status, json.loads(r.read() or b"null")
status, coll = call("POST", "/v1/collectives", {"name": "search-bench", "embedding_dim": dim})
have = 0
for target in sizes:
    with open(f"{tmp}/batch.jsonl", "w") as f:
        for i in range(have, target):
            f.write(json.dumps({"content": f"e{i}", "embedding": [round(rnd.uniform(-1, 1), 3) for _ in range(dim)]}) + "\n")
    subprocess.run([f"{build}/tools/pulsedb", "import", coll["id"], f"{tmp}/batch.jsonl",
                    "--concurrency", "8", "--url", url],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    have = target
    conn.close()    # the gateway closes connections idle through the import
    conn = http.client.HTTPConnection("127.0.0.1", port)
    lat = []
    for q in range(60):
        body = {"embedding": [rnd.uniform(-1, 1) for _ in range(dim)], "k": 10}
        t0 = time.perf_counter()
        status, res = call("POST", f"/v1/collectives/{coll['id']}/search", body)
        lat.append((time.perf_counter() - t0) * 1e3)
        assert status == 200 and len(res["results"]) == 10
    lat = sorted(lat[10:])
    p50 = lat[len(lat)//2]
    mb = have * dim * 4 / 1e6
    print(f"http_search n={have} dim={dim} k=10 p50_ms={p50:.2f} "
          f"p99_ms={lat[int(len(lat)*0.99)]:.2f} scanned_mb={mb:.0f} "
          f"gbps={mb / 1e3 / (p50 / 1e3):.1f}", flush=True)
    kernel = subprocess.run([f"{build}/bench/bench_search", "--n", str(have), "--search-only"],
                            check=True, capture_output=True, text=True).stdout.strip()
    kp50 = float(re.search(r"p50_ms=([0-9.]+)", kernel).group(1))
    print(kernel)
    print(f"ratio n={have} http_p50/kernel_p50={p50 / kp50:.2f}", flush=True)
    if clients > 1:
        bodies = [json.dumps({"embedding": [rnd.uniform(-1, 1) for _ in range(dim)], "k": 10})
                  for _ in range(64)]
        with multiprocessing.Pool(clients) as pool:
            runs = pool.starmap(clients_run, [(port, coll["id"], bodies, i) for i in range(clients)])
        lat = sorted(x for r in runs for x in r)
        print(f"http_search_clients n={have} clients={clients} seconds={SECONDS} "
              f"qps={len(lat) / SECONDS:.0f} p50_ms={lat[len(lat)//2]:.2f} "
              f"p99_ms={lat[int(len(lat)*0.99)]:.2f}", flush=True)
PY
