"""Where an approximate search's time goes outside the index: one node (its
own data folder in a temporary directory), N vectors of 384 dimensions
imported, the index built; then median latencies of 200 queries for
HTTP exact and approximate (from this Python client, then from C:
bench_search_http), the `ann_search` request alone on storage's
search socket (ZeroMQ, no gateway), `ann_search` with k=1 and ef=1, and a
`ping` on the storage socket (the bare round trip).

    build/venv/bin/python bench/search_overhead.py [BUILD_DIR] [N]
"""
import http.client
import json
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import uuid

import msgpack
import zmq

build = sys.argv[1] if len(sys.argv) > 1 else "build"
n = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
port = 17000 + os.getpid() % 1000
data = tempfile.mkdtemp(prefix="pdb-overhead-")
env = dict(os.environ, PULSEDB_SEARCH_ANN_THRESHOLD="5000")
log = open(os.path.join(data, "log"), "w")
st = subprocess.Popen([f"{build}/services/storage/pulsedb-storage", "--data", f"{data}/d"],
                      env=env, stdout=log, stderr=subprocess.STDOUT)
time.sleep(0.5)
gw = subprocess.Popen([f"{build}/services/gateway/pulsedb-gateway", "--data", f"{data}/d",
                       "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)
time.sleep(0.5)


def median_ms(fn, count=200):
    lat = []
    for i in range(count):
        t = time.perf_counter()
        fn(i)
        lat.append((time.perf_counter() - t) * 1e3)
    return round(statistics.median(lat), 3)


try:
    conn = http.client.HTTPConnection("127.0.0.1", port)
    conn.request("POST", "/v1/collectives", json.dumps({"name": "o", "embedding_dim": 384}),
                 {"Content-Type": "application/json"})
    coll = json.loads(conn.getresponse().read())["id"]
    subprocess.run(f"{build}/bench/gen_vectors --n {n} | {build}/tools/pulsedb import {coll} - "
                   f"--url http://127.0.0.1:{port}", shell=True, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    queries = [json.loads(line) for line in subprocess.run(
        [f"{build}/bench/gen_vectors", "--n", "200", "--queries"], capture_output=True,
        text=True, check=True).stdout.splitlines()]

    def search(i, exact=False):
        conn.request("POST", f"/v1/collectives/{coll}/search",
                     json.dumps({"embedding": queries[i % 200], "k": 10, "exact": exact}),
                     {"Content-Type": "application/json"})
        return json.loads(conn.getresponse().read())

    while search(0)["method"] != "approximate":
        time.sleep(0.2)
    print(f"overhead n={n} http_exact_ms={median_ms(lambda i: search(i, True))} "
          f"http_approximate_ms={median_ms(search)} (Python client)", flush=True)
    with open(os.path.join(data, "queries"), "w") as f:
        f.writelines(json.dumps(q) + "\n" for q in queries)
    for args in (["0", "exact"], ["0"]):
        print("overhead " + subprocess.run(
            [f"{build}/bench/bench_search_http", f"http://127.0.0.1:{port}", coll,
             os.path.join(data, "queries"), "200", *args], capture_output=True, text=True,
            check=True).stdout.strip() + " (C client)", flush=True)
    ctx = zmq.Context()
    ann = ctx.socket(zmq.DEALER)
    ann.connect(f"ipc://{os.path.realpath(data)}/d/search.sock")
    raw = uuid.UUID(coll).bytes

    def ask(i, k=26, ef=0):
        ann.send(msgpack.packb([1, i, "ann_search", [raw, struct.pack("<384f", *queries[i % 200]),
                                                     k, ef]], use_bin_type=True))
        assert msgpack.unpackb(ann.recv(), raw=False)[1] == 0

    storage = ctx.socket(zmq.DEALER)
    storage.connect(f"ipc://{os.path.realpath(data)}/d/storage.sock")

    def ping(i):
        storage.send(msgpack.packb([1, i, "ping", []], use_bin_type=True))
        storage.recv()

    print(f"overhead n={n} ann_search_ms={median_ms(ask)} "
          f"ann_search_k1_ef1_ms={median_ms(lambda i: ask(i, 1, 1))} "
          f"storage_ping_ms={median_ms(ping)}", flush=True)
finally:
    gw.terminate()
    st.terminate()
    gw.wait()
    st.wait()
    subprocess.run(["rm", "-rf", data])
