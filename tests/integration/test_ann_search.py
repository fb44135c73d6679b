"""Approximate search: storage's HNSW index per large collective
(services/storage/annsvc.h, docs/search.md), asked by the gateway. Every
test lowers the size threshold so a small collective gets an index, and
raises ef above the collective's size so the graph's answer is the exact
one: the tests check what the index follows (writes, deletes, archives,
sync, snapshots, restarts, damage), the benchmarks measure its recall."""
import glob
import os
import random
import signal
import struct
import time
import uuid

import msgpack
import pytest
import zmq

from conftest import Cluster, wait_for
from test_search import DIM, cosine, fill, rand_vec, ranked

THRESHOLD = 60
ANY_METHOD = ("approximate", "exact")


@pytest.fixture(autouse=True)
def ann_settings(monkeypatch):
    monkeypatch.setenv("PULSEDB_SEARCH_ANN_THRESHOLD", str(THRESHOLD))
    monkeypatch.setenv("PULSEDB_SEARCH_ANN_EF", "1024")


def query(node, coll, q, k=10, **opts):
    r = node.post(f"/v1/collectives/{coll}/search", {"embedding": q, "k": k, **opts})
    assert r.status_code == 200, r.text
    body = r.json()
    return body["method"], [(x["id"], x["score"]) for x in body["results"]]


def wait_approximate(node, coll, timeout=30):
    q = rand_vec(random.Random(99))
    wait_for(lambda: query(node, coll, q)[0] == "approximate", timeout=timeout,
             what="searches answered by the index")


def assert_matches_exact(node, coll, live, rnd, queries=8, k=10, keep=lambda f: True,
                         methods=("approximate",), dim=DIM, **opts):
    """The index's answer is the exact top k (ef is above the collective's
    size), with the exact scan's scores."""
    for _ in range(queries):
        q = rand_vec(rnd, dim)
        method, got = query(node, coll, q, k, **opts)
        assert method in methods
        want = ranked(live, q, keep)
        assert len(got) == min(k, len(want))
        for (gid, gs), (ws, _) in zip(got, want):
            assert abs(gs - ws) < 1e-5, (gid, gs, ws)
            assert gid in {i for s, i in want if abs(s - ws) < 1e-5}, (gid, gs)


def test_below_the_threshold_search_scans(node):
    rnd = random.Random(10)
    coll = node.collective("small", DIM)["id"]
    fill(node, coll, THRESHOLD - 1, rnd)
    assert query(node, coll, rand_vec(rnd))[0] == "exact"
    assert not glob.glob(os.path.join(node.data, "ann", "*"))
    assert node.get("/v1/status").json()["search_indexes"] == []


def test_the_index_follows_every_write_at_once(node):
    rnd = random.Random(11)
    coll = node.collective("big", DIM)["id"]
    live = fill(node, coll, 150, rnd)
    wait_approximate(node, coll)
    assert_matches_exact(node, coll, live, rnd)
    indexes = node.get("/v1/status").json()["search_indexes"]
    assert [(i["collective"], i["state"], i["vectors"]) for i in indexes] == [(coll, "ready", 150)]
    assert indexes[0]["ef"] >= 1024 and indexes[0]["recall"] >= 0.96

    # A new experience is found by the very next search, a deleted one is gone.
    q = rand_vec(rnd)
    new = node.experience(coll, "new", q)["id"]
    assert query(node, coll, q, 1) == ("approximate", [(new, pytest.approx(1.0, abs=1e-6))])
    assert node.delete(f"/v1/experiences/{new}").status_code == 204
    method, got = query(node, coll, q, 20)
    assert method == "approximate" and new not in [i for i, _ in got]

    # An archived one leaves default results and comes back when asked for.
    top = got[0][0]
    assert node.patch(f"/v1/experiences/{top}", {"archived": True}).status_code == 200
    live[top][1]["archived"] = True
    assert top not in [i for i, _ in query(node, coll, q, 20)[1]]
    assert query(node, coll, q, 1, include_archived=True)[1][0][0] == top
    assert_matches_exact(node, coll, live, rnd, keep=lambda f: not f["archived"])

    # A selective filter: the few that pass are all found, by a scan.
    chosen = rnd.sample(sorted(i for i in live if not live[i][1]["archived"]), 3)
    for i in chosen:
        assert node.patch(f"/v1/experiences/{i}", {"importance": 0.95}).status_code == 200
    method, got = query(node, coll, q, 10, min_importance=0.9)
    assert method == "exact" and sorted(i for i, _ in got) == sorted(chosen)

    # exact: true always scans; ef is bounded.
    assert query(node, coll, q, exact=True)[0] == "exact"
    assert query(node, coll, q, ef=8)[0] == "approximate"
    for ef in (0, 4097, "many", 1.5):
        r = node.post(f"/v1/collectives/{coll}/search", {"embedding": q, "ef": ef})
        assert r.status_code == 400 and "ef" in r.json()["error"]["message"], r.text


def test_the_index_is_saved_read_back_and_caught_up(node):
    rnd = random.Random(12)
    coll = node.collective("kept", DIM)["id"]
    live = fill(node, coll, 120, rnd)
    wait_approximate(node, coll)
    assert node.stop() == [0, 0]
    storage_log = os.path.join(node.log_dir, "storage.log")
    assert "search: index saved collective=" + coll in open(storage_log).read()

    # A clean restart reads the index back instead of building it again.
    node.start()
    assert query(node, coll, rand_vec(rnd))[0] == "approximate"
    text = open(storage_log).read()
    assert text.count("index build started collective=" + coll) == 1
    assert "index loaded collective=" + coll in text

    # Writes after the last save, then a crash: the saved index is older
    # than the store, and is caught up from the WAL at the first search.
    more = fill(node, coll, 30, rnd)
    live.update(more)
    gone = rnd.sample(sorted(live), 10)
    for i in gone:
        assert node.delete(f"/v1/experiences/{i}").status_code == 204
        del live[i]
    node.storage.send_signal(signal.SIGKILL)
    node.storage.wait()
    node.stop()
    node.start()
    assert_matches_exact(node, coll, live, rnd)
    for i in more:
        if i in live:
            assert query(node, coll, live[i][0], 1)[1][0][0] == i
    assert open(storage_log).read().count("index build started collective=" + coll) == 1


@pytest.mark.parametrize("damage", ["graph", "map", "truncate"])
def test_a_damaged_index_is_built_again(node, damage):
    rnd = random.Random(13)
    coll = node.collective("hurt", DIM)["id"]
    live = fill(node, coll, 100, rnd)
    wait_approximate(node, coll)
    assert node.stop() == [0, 0]
    path = os.path.join(node.data, "ann", coll + (".map" if damage == "map" else ".hnsw"))
    with open(path, "r+b") as f:
        size = os.path.getsize(path)
        if damage == "truncate":
            f.truncate(size // 2)
        else:
            f.seek(size // 2)
            byte = f.read(1)
            f.seek(size // 2)
            f.write(bytes([byte[0] ^ 0x5A]))
    node.start()
    storage_log = os.path.join(node.log_dir, "storage.log")
    wait_approximate(node, coll)
    text = open(storage_log).read()
    assert "index not loaded collective=" + coll in text
    assert text.count("index build started collective=" + coll) == 2
    assert_matches_exact(node, coll, live, rnd)


def test_a_deleted_collective_drops_its_index(node):
    rnd = random.Random(14)
    coll = node.collective("dropped", DIM)["id"]
    fill(node, coll, 80, rnd)
    wait_approximate(node, coll)
    assert glob.glob(os.path.join(node.data, "ann", coll + ".*"))
    assert node.delete(f"/v1/collectives/{coll}").status_code == 204
    wait_for(lambda: not glob.glob(os.path.join(node.data, "ann", coll + ".*")),
             what="the index files removed")


def test_the_index_follows_sync_and_a_snapshot_install(cluster):
    rnd = random.Random(15)
    a = cluster.add("a", start=False)
    b = cluster.add("b", start=False)
    Cluster.link(a, b)
    a.start()
    b.start()
    coll = a.collective("p", DIM)["id"]
    live = fill(a, coll, 100, rnd)
    cluster.wait_converged()
    wait_approximate(b, coll)
    assert_matches_exact(b, coll, live, rnd)

    # A change made on A is in B's index as soon as B has applied it.
    q = rand_vec(rnd)
    new = a.experience(coll, "from-a", q)["id"]
    wait_for(lambda: query(b, coll, q, 1)[1][0][0] == new, what="a's write in b's index")
    assert query(b, coll, q, 1)[0] == "approximate"
    assert a.delete(f"/v1/experiences/{new}").status_code == 204
    wait_for(lambda: new not in [i for i, _ in query(b, coll, q, 5)[1]],
             what="a's delete in b's index")

    # A new node installs A's snapshot, then builds its own index of it.
    c = cluster.add_from_snapshot("c", a, coll_ids=[coll])
    wait_approximate(c, coll)
    assert_matches_exact(c, coll, live, rnd)
    assert max(cosine(q, v) for v, _ in live.values()) == pytest.approx(
        query(c, coll, q, 1)[1][0][1], abs=1e-5)


def index_status(node, coll):
    found = [i for i in node.get("/v1/status").json()["search_indexes"]
             if i["collective"] == coll]
    return found[0] if found else None


def settled(node, coll):
    """The index's status once no rebuild runs and its graph holds fewer
    removed nodes than a quarter (the rebuild threshold), else None."""
    s = index_status(node, coll)
    nodes = s["vectors"] + s["removed"]
    return s if s["rebuild"] is None and 4 * s["removed"] < nodes else None


def test_deletes_past_a_quarter_of_the_graph_rebuild_the_index(node):
    rnd = random.Random(17)
    coll = node.collective("churn", DIM)["id"]
    live = fill(node, coll, 200, rnd)
    wait_approximate(node, coll)
    graph = os.path.join(node.data, "ann", coll + ".hnsw")
    wait_for(lambda: os.path.exists(graph), what="the index saved")
    size_built = os.path.getsize(graph)
    s = index_status(node, coll)
    assert (s["vectors"], s["removed"], s["rebuilds"], s["rebuild"]) == (200, 0, 0, None)

    # Under a quarter of the graph: deleted vectors stay as removed nodes.
    order = rnd.sample(sorted(live), 130)
    for i in order[:40]:
        assert node.delete(f"/v1/experiences/{i}").status_code == 204
        del live[i]
    assert_matches_exact(node, coll, live, rnd, queries=3)
    s = index_status(node, coll)
    assert (s["vectors"], s["removed"], s["rebuilds"], s["rebuild"]) == (160, 40, 0, None)

    # Past it: rebuilt beside the index in use, and saved. Every search is
    # exact and without a deleted experience (one asked while the new index
    # is saved and a write waits for it scans, as during any save).
    rebuilds_seen = []
    for n, i in enumerate(order[40:]):
        assert node.delete(f"/v1/experiences/{i}").status_code == 204
        del live[i]
        if n % 6 == 0:
            assert_matches_exact(node, coll, live, rnd, queries=1, methods=ANY_METHOD)
            rebuild = index_status(node, coll)["rebuild"]
            if rebuild:
                rebuilds_seen.append(rebuild)
    for r in rebuilds_seen:
        assert r["state"] in ("building", "measuring", "ready")
        assert r["vectors"] <= r["build_total"] <= 160
    wait_for(lambda: settled(node, coll), what="the index rebuilt",
             detail=lambda: index_status(node, coll))
    s = settled(node, coll)
    assert s["rebuilds"] >= 1 and s["vectors"] == len(live) == 70 and s["state"] == "ready"
    assert_matches_exact(node, coll, live, rnd)
    text = open(os.path.join(node.log_dir, "storage.log")).read()
    assert "index rebuild started collective=" + coll in text
    assert "index rebuilt collective=" + coll in text
    assert text.count("index build started collective=" + coll) == 1
    # Saved smaller: the file holds the live vectors, not every one ever.
    wait_for(lambda: os.path.getsize(graph) < size_built * 0.6, what="the rebuilt index saved")

    # Deletes and inserts in equal numbers: the graph stays near the live count.
    for _ in range(4):
        for i in rnd.sample(sorted(live), 25):
            assert node.delete(f"/v1/experiences/{i}").status_code == 204
            del live[i]
        live.update(fill(node, coll, 25, rnd))
        assert_matches_exact(node, coll, live, rnd, queries=2, methods=ANY_METHOD)
    wait_for(lambda: settled(node, coll), what="the index settled",
             detail=lambda: index_status(node, coll))
    s = settled(node, coll)
    assert s["vectors"] == len(live) == 70 and s["rebuilds"] >= 2
    assert s["vectors"] + s["removed"] < 70 * 4 / 3

    # Kept across a restart: read back, not built again.
    assert node.stop() == [0, 0]
    node.start()
    assert_matches_exact(node, coll, live, rnd)
    s = index_status(node, coll)
    assert s["vectors"] == 70 and s["rebuilds"] == 0 and s["state"] == "ready"
    text = open(os.path.join(node.log_dir, "storage.log")).read()
    assert text.count("index build started collective=" + coll) == 1
    assert "index loaded collective=" + coll in text


def test_searches_go_on_through_the_index_while_it_is_rebuilt(node):
    """A rebuild long enough to be seen (a second or more): searches
    asked between two status replies that report it are answered by the
    index in use: live experiences only, scored exactly, nearly the exact
    top 10 (9,000 vectors are more than ef here)."""
    rnd = random.Random(18)
    dim, n = 96, 12000
    coll = node.collective("long", dim)["id"]
    live = {}
    for _ in range(n // 500):
        batch = [rand_vec(rnd, dim) for _ in range(500)]
        r = node.post(f"/v1/collectives/{coll}/experiences:batch",
                      {"experiences": [{"content": "x", "embedding": v} for v in batch]})
        assert r.status_code == 201, r.text
        for i, v in zip(r.json()["ids"], batch):
            live[i] = (v, {"archived": False})
    q = rand_vec(rnd, dim)
    wait_for(lambda: query(node, coll, q)[0] == "approximate", timeout=120,
             what="searches answered by the index")
    # A quarter exactly: the rebuild can start only once every delete is in.
    for i in rnd.sample(sorted(live), n // 4):
        assert node.delete(f"/v1/experiences/{i}").status_code == 204
        del live[i]
    deadline = time.monotonic() + 30
    while index_status(node, coll)["rebuild"] is None:
        assert time.monotonic() < deadline, ("no rebuild reported", index_status(node, coll))
    answered = []
    while True:
        q = rand_vec(rnd, dim)
        method, got = query(node, coll, q, 10)
        if index_status(node, coll)["rebuild"] is None:
            break                       # the search may have come after it
        answered.append((q, method, got))
    assert answered and all(method == "approximate" for _, method, _ in answered)
    wait_for(lambda: settled(node, coll), timeout=60, what="the index rebuilt",
             detail=lambda: index_status(node, coll))
    s = settled(node, coll)
    assert s["rebuilds"] == 1 and s["removed"] == 0 and s["vectors"] == len(live) == n * 3 // 4
    for _ in range(3):
        q = rand_vec(rnd, dim)
        answered.append((q, *query(node, coll, q, 10)))
    for q, method, got in answered[:5] + answered[-3:]:
        assert method == "approximate" and len(got) == 10
        assert all(abs(s - cosine(q, live[i][0])) < 1e-5 for i, s in got)
        assert len({i for i, _ in got} & {i for _, i in ranked(live, q)[:10]}) >= 8


def search_socket_call(node, message, raw=False):
    """One request on storage's search socket: [id, rc, message, result]."""
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVTIMEO, 3000)
    sock.connect(f"ipc://{os.path.realpath(node.data)}/search.sock")
    try:
        sock.send(message if raw else msgpack.packb(message, use_bin_type=True))
        return msgpack.unpackb(sock.recv(), raw=False)
    finally:
        sock.close()


def test_the_search_socket_refuses_bad_requests(node):
    rnd = random.Random(16)
    coll = node.collective("socket", DIM)["id"]
    live = fill(node, coll, 80, rnd)
    wait_approximate(node, coll)
    raw = uuid.UUID(coll).bytes
    good = struct.pack(f"<{DIM}f", *rand_vec(rnd))
    for args, why in [
        ([raw, good, 10], "takes"),
        ([raw, good, 0, 0], "k must be"),
        ([raw, good, 1001, 0], "k must be"),
        ([raw, good, 10, 4097], "ef"),
        ([raw, good[:-4], 10, 0], "bytes"),
        ([raw, struct.pack(f"<{DIM}f", *([0.0] * DIM)), 10, 0], "non-zero"),
        ([raw, struct.pack(f"<{DIM}f", *([float("nan")] * DIM)), 10, 0], "non-zero"),
        (["not an id", good, 10, 0], "takes"),
    ]:
        reply = search_socket_call(node, [1, 5, "ann_search", args])
        assert reply[1] != 0 and why in reply[2], (args, reply)
    reply = search_socket_call(node, [1, 6, "drop_everything", []])
    assert reply[1] != 0 and "unknown operation" in reply[2]
    reply = search_socket_call(node, b"\xc1 not msgpack", raw=True)
    assert reply[1] != 0
    reply = search_socket_call(node, [9, 7, "ann_status", []])
    assert reply[1] != 0 and "version" in reply[2]
    # Nothing was harmed: the index still answers, exactly as before.
    assert_matches_exact(node, coll, live, rnd, queries=3)
    ok = search_socket_call(node, [1, 8, "ann_search", [raw, good, 5, 0]])
    assert ok[1] == 0 and ok[3][0] == "ready" and len(ok[3][1]) == 5
