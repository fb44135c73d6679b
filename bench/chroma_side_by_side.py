"""Chroma on the same data and queries as bench/run_ann_http.sh, in the same
run: build time, recall@10 against PulseDB-C's exact search, p50/p99 with one
client and queries/s with several. Chroma runs in this process (its Rust core,
no HTTP hop), with its defaults (HNSW, space "cosine" as PulseDB-C ranks).

    python chroma_side_by_side.py VECTORS.jsonl QUERIES TRUTH.json DATA N CLIENTS
VECTORS.jsonl: gen_vectors output (content "eN", embedding_b64); QUERIES: one
JSON array per line; TRUTH.json: the exact top 10 contents of each query.
"""
import base64
import json
import struct
import sys
import tempfile
import threading
import time

import chromadb

vectors_file, queries_file, truth_file, kind, n, clients = sys.argv[1:7]
n, clients = int(n), int(clients)
queries = [json.loads(line) for line in open(queries_file)]
truth = json.load(open(truth_file))
SECONDS = 5

client = chromadb.PersistentClient(path=tempfile.mkdtemp(prefix="chroma-bench-"))
coll = client.create_collection("bench", metadata={"hnsw:space": "cosine"})
t0 = time.perf_counter()
ids, embs = [], []
def flush():
    coll.add(ids=list(ids), embeddings=list(embs))
    ids.clear()
    embs.clear()
for line in open(vectors_file):
    item = json.loads(line)
    raw = base64.b64decode(item["embedding_b64"])
    ids.append(item["content"])
    embs.append(list(struct.unpack(f"<{len(raw) // 4}f", raw)))
    if len(ids) == 5000:
        flush()
if ids:
    flush()
print(f"chroma_build data={kind} n={coll.count()} seconds={time.perf_counter() - t0:.1f}",
      flush=True)

lat, found = [], 0
for q, want in zip(queries, truth):
    t = time.perf_counter()
    got = coll.query(query_embeddings=[q], n_results=10)["ids"][0]
    lat.append((time.perf_counter() - t) * 1e3)
    found += len(set(got) & set(want))
lat.sort()
print(f"chroma data={kind} n={n} recall10={found / (10 * len(truth)):.3f} "
      f"p50_ms={lat[len(lat) // 2]:.2f} p99_ms={lat[min(len(lat) - 1, int(len(lat) * .99))]:.2f}",
      flush=True)

done = [0] * clients
def worker(i):
    end, j = time.perf_counter() + SECONDS, i * 17
    while time.perf_counter() < end:
        coll.query(query_embeddings=[queries[j % len(queries)]], n_results=10)
        done[i] += 1
        j += 1
threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(f"chroma_clients data={kind} n={n} clients={clients} qps={sum(done) / SECONDS:.0f}",
      flush=True)
