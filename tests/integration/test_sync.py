"""Sync between real nodes (storage + gateway + syncer each, see conftest's
SyncNode and `cluster`): what travels, that it travels once, status,
compaction, topologies, crashes and hostile input on the sync port.

Conventions: every wait polls (digests, cursors, status, logs) with a
timeout; "quiet" means every syncer's cursors reached its peers' WAL heads
(Cluster.caught_up). storage's "stats" counters (applied, known, ...) count
from the storage process's start.
"""
import contextlib
import os
import re
import shutil
import signal
import subprocess
import threading
import time
import uuid

import msgpack
import pytest
import zmq

from conftest import PROTO, PULSEDB, SYNCER, Cluster, hello_msg, id_str, sync_request, wait_for

DIM = 4


def pair(cluster, extra=(), start=True):
    """a <-> b, each configured with the other (direction both)."""
    a = cluster.add("a", start=False, extra=extra)
    b = cluster.add("b", start=False, extra=extra)
    Cluster.link(a, b)
    if start:
        a.start()
        b.start()
    return a, b


def exp_body(content, i=0.0, **fields):
    return {"content": content, "embedding": [1.0, float(i), 0.0, 0.5], **fields}


def post_exp(node, coll_id, content, i=0.0, **fields):
    r = node.post(f"/v1/collectives/{coll_id}/experiences", exp_body(content, i, **fields))
    assert r.status_code == 201, r.text
    return r.json()["id"]


def get_json(node, path):
    r = node.get(path)
    assert r.status_code == 200, (node.name, path, r.text)
    return r.json()


def status_code(node, path):
    return node.get(path).status_code


@contextlib.contextmanager
def refusing_peer():
    """A sync port that answers every request with error busy."""
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.ROUTER)
    sock.setsockopt(zmq.LINGER, 0)
    port = sock.bind_to_random_port("tcp://127.0.0.1")
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            if sock.poll(50):
                frames = sock.recv_multipart()
                reply = msgpack.packb([PROTO, "error", {"code": "busy", "detail": "test refuses"}])
                sock.send_multipart([*frames[:-1], reply])

    t = threading.Thread(target=serve)
    t.start()
    try:
        yield f"tcp://127.0.0.1:{port}"
    finally:
        stop.set()
        t.join()
        sock.close()


def tcp_bytes_waiting(port):
    """Bytes received on 127.0.0.1:port and not read yet (/proc/net/tcp)."""
    total = 0
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            local, queues = fields[1], fields[4]
            if local == f"0100007F:{port:04X}":
                total += int(queues.split(":")[1], 16)
    return total


def compaction_lines(node):
    """(removed, floor, below, live) of each 'compaction done' log line
    (debug level logs the passes that removed nothing)."""
    return [tuple(int(x) for x in m.groups()) for m in re.finditer(
        r"compaction done removed=(\d+) floor=(\d+) below=(\d+) purged=\d+ live_peers=(\d+)",
        node.log("syncer"))]


def wait_compaction_passes(node, passes=2, timeout=20):
    """Waits until `passes` more compaction passes ran; returns the last."""
    start = len(compaction_lines(node))
    wait_for(lambda: len(compaction_lines(node)) >= start + passes, timeout=timeout,
             what=f"{passes} compaction passes on {node.name}",
             detail=lambda: node.log_tail("syncer", 5))
    return compaction_lines(node)[-1]


COMPACT = ["--sync-compact-interval-s", "1"]


def write_mix(node, coll_id, n, tag):
    """n experiences, then patches, reinforcements, a relation, an insight and
    a delete among them. Returns the ids written."""
    ids = [post_exp(node, coll_id, f"{tag}-{i}", i) for i in range(n)]
    assert node.patch(f"/v1/experiences/{ids[0]}", {"importance": 0.7, "tags": {"t": tag}}
                      ).status_code == 200
    assert node.post(f"/v1/experiences/{ids[1]}/reinforce").status_code == 200
    assert node.post("/v1/relations", {"source": ids[0], "target": ids[1],
                                       "type": "related_to"}).status_code == 201
    assert node.post(f"/v1/collectives/{coll_id}/insights",
                     {"content": tag, "embedding": [0, 0, 0, 1], "type": "pattern",
                      "source_ids": ids[:2]}).status_code == 201
    assert node.delete(f"/v1/experiences/{ids[-1]}").status_code == 204
    return ids


def refused(reply, code):
    assert reply is not None, "no reply"
    assert reply[0] == PROTO and reply[1] == "error", reply
    assert reply[2]["code"] == code, reply
    assert reply[2]["detail"], reply
    return reply[2]["detail"]


def changes_of(node, max_changes=100):
    """node's WAL entries as the sync port serves them (a pull from cursor 0),
    each an encoded change: [seq, origin, origin_seq, hlc, entity, op, ...]."""
    me = uuid.uuid4().bytes
    target = uuid.UUID(node.instance_id).bytes
    reply = sync_request(node.sync_address, [PROTO, "pull", {
        "source": me, "target": target, "cursor": 0, "max_changes": max_changes,
        "max_bytes": 1 << 20, "wait_ms": 0, "vector": {}}])
    assert reply and reply[1] == "pull_ok", reply
    return reply[2]["changes"]


# -- what travels --------------------------------------------------------------

def test_every_entity_kind_syncs(cluster):
    a, b = pair(cluster)
    c = a.collective("team", DIM)
    e1 = post_exp(a, c["id"], "retry with backoff", 0.9, importance=0.8, confidence=0.7,
                  domain=["net", "ci"], tags={"team": "infra"}, related_files=["up.c"],
                  source_agent="agent-1", source_task="t-9",
                  type={"kind": "solution", "problem_ref": None, "approach": "backoff",
                        "worked": True})
    e2 = post_exp(a, c["id"], "runner has 2 cores", 0.1,
                  type={"kind": "fact", "statement": "2 cores", "source": "nproc"})
    r = a.post("/v1/relations", {"source": e1, "target": e2, "type": "supports",
                                 "strength": 0.6})
    assert r.status_code == 201, r.text
    rel = r.json()["id"]
    r = a.post(f"/v1/collectives/{c['id']}/insights",
               {"content": "backoff helps", "embedding": [0, 1, 0, 0], "type": "pattern",
                "source_ids": [e1], "confidence": 0.6, "domain": ["net"]})
    assert r.status_code == 201, r.text
    ins = r.json()["id"]

    cluster.wait_converged()
    d = get_json(b, f"/v1/collectives/{c['id']}/digest")
    assert (d["experiences"], d["relations"], d["insights"]) == (2, 1, 1)
    for path in [f"/v1/collectives/{c['id']}", f"/v1/experiences/{e1}",
                 f"/v1/experiences/{e2}", f"/v1/relations/{rel}", f"/v1/insights/{ins}",
                 f"/v1/experiences/{e2}/relations"]:
        assert get_json(b, path) == get_json(a, path), path
    assert get_json(b, f"/v1/experiences/{e1}")["embedding"] == [1.0, 0.9, 0.0, 0.5]
    r = b.post(f"/v1/collectives/{c['id']}/search", {"embedding": [1, 0.9, 0, 0.5], "k": 1})
    assert r.status_code == 200, r.text
    assert r.json()["results"][0]["experience"]["id"] == e1
    assert a.collective_ids() == b.collective_ids() == [c["id"]]


def test_updates_and_deletes_sync(cluster):
    a, b = pair(cluster)
    c = a.collective("team", DIM)["id"]
    e1, e2, e3 = (post_exp(a, c, f"e{i}", i) for i in range(3))
    rel = a.post("/v1/relations", {"source": e1, "target": e2, "type": "elaborates"}).json()["id"]
    ins = a.post(f"/v1/collectives/{c}/insights",
                 {"content": "i", "embedding": [0, 0, 1, 0], "type": "pattern"}).json()["id"]
    cluster.wait_converged()

    # Updates from A, then from B, each seen on the other side.
    r = a.patch(f"/v1/experiences/{e1}", {"importance": 0.95, "confidence": 0.2,
                                          "tags": {"x": "y"}, "domain": ["d"],
                                          "related_files": ["f.c"], "archived": True})
    assert r.status_code == 200, r.text
    r = b.patch(f"/v1/experiences/{e2}", {"importance": 0.05, "tags": {"from": "b"}})
    assert r.status_code == 200, r.text
    cluster.wait_converged()
    for e in (e1, e2):
        assert get_json(a, f"/v1/experiences/{e}") == get_json(b, f"/v1/experiences/{e}")
    got = get_json(b, f"/v1/experiences/{e1}")
    assert (got["importance"], got["confidence"], got["tags"], got["archived"]) == \
        (0.95, 0.2, {"x": "y"}, True)
    assert get_json(a, f"/v1/experiences/{e2}")["tags"] == {"from": "b"}

    # Deletes of each kind, from either side.
    assert a.delete(f"/v1/relations/{rel}").status_code == 204
    assert b.delete(f"/v1/insights/{ins}").status_code == 204
    assert a.delete(f"/v1/experiences/{e3}").status_code == 204
    cluster.wait_converged()
    for n in (a, b):
        assert status_code(n, f"/v1/relations/{rel}") == 404
        assert status_code(n, f"/v1/insights/{ins}") == 404
        assert status_code(n, f"/v1/experiences/{e3}") == 404
        assert get_json(n, f"/v1/experiences/{e2}/relations")["relations"] == []

    # The collective, and everything inside with it.
    assert b.delete(f"/v1/collectives/{c}").status_code == 204
    wait_for(lambda: status_code(a, f"/v1/collectives/{c}") == 404, what="collective delete on a")
    for n in (a, b):
        assert n.collective_ids() == []
        for e in (e1, e2):
            assert status_code(n, f"/v1/experiences/{e}") == 404


def test_reinforcements_on_two_nodes_add_up(cluster):
    a, b = pair(cluster)
    c = a.collective("r", DIM)["id"]
    e = post_exp(a, c, "reinforce me")
    cluster.wait_converged()
    counts = {"a": 23, "b": 17}

    def reinforce(node):
        for _ in range(counts[node.name]):
            r = node.post(f"/v1/experiences/{e}/reinforce")
            assert r.status_code == 200, r.text

    threads = [threading.Thread(target=reinforce, args=(n,)) for n in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    cluster.wait_converged()
    for n in (a, b):
        got = get_json(n, f"/v1/experiences/{e}")
        assert got["applications"] == 40, (n.name, got)
        assert sorted(got["applications_by_instance"].values()) == [17, 23], got
        assert got["applications_by_instance"][a.instance_id] == 23
        assert got["applications_by_instance"][b.instance_id] == 17


def test_delete_racing_an_update_converges_to_deleted(cluster):
    a, b = pair(cluster)
    c = a.collective("race", DIM)["id"]
    e1, e2, keep = (post_exp(a, c, n) for n in ("e1", "e2", "keep"))
    cluster.wait_converged()
    a.stop_syncer()
    b.stop_syncer()
    # Apart: A deletes e1 and B updates it after; B updates e2 and A deletes it
    # after; B links `keep` to e1 and reinforces e1.
    assert a.delete(f"/v1/experiences/{e1}").status_code == 204
    assert b.patch(f"/v1/experiences/{e1}", {"importance": 0.9, "tags": {"late": "b"}}
                   ).status_code == 200
    assert b.post(f"/v1/experiences/{e1}/reinforce").status_code == 200
    r = b.post("/v1/relations", {"source": keep, "target": e1, "type": "supports"})
    assert r.status_code == 201, r.text
    rel = r.json()["id"]
    assert b.patch(f"/v1/experiences/{e2}", {"importance": 0.1}).status_code == 200
    assert a.delete(f"/v1/experiences/{e2}").status_code == 204
    a.start_syncer()
    b.start_syncer()
    cluster.wait_converged()
    for n in (a, b):
        for e in (e1, e2):
            assert status_code(n, f"/v1/experiences/{e}") == 404, (n.name, e)
        assert status_code(n, f"/v1/relations/{rel}") == 404, n.name
        assert get_json(n, f"/v1/experiences/{keep}/relations")["relations"] == []
        assert get_json(n, f"/v1/collectives/{c}/digest")["experiences"] == 1


def test_same_name_collectives_made_apart_are_both_kept(cluster):
    a, b = pair(cluster, start=False)
    a.start(syncer=False)
    b.start(syncer=False)
    ca = a.collective("shared", DIM)["id"]
    cb = b.collective("shared", DIM)["id"]
    post_exp(a, ca, "in a's")
    post_exp(b, cb, "in b's")
    a.start_syncer()
    b.start_syncer()
    cluster.wait_converged()
    for n in (a, b):
        listed = get_json(n, "/v1/collectives")["collectives"]
        assert sorted((x["name"], x["id"]) for x in listed) == \
            sorted([("shared", ca), ("shared", cb)]), (n.name, listed)
        assert get_json(n, f"/v1/collectives/{ca}/digest")["experiences"] == 1
        assert get_json(n, f"/v1/collectives/{cb}/digest")["experiences"] == 1
    # Both stay usable from either side; a third one of that name is refused.
    post_exp(b, ca, "b writes into a's")
    post_exp(a, cb, "a writes into b's")
    cluster.wait_converged()
    assert a.post("/v1/collectives", {"name": "shared", "embedding_dim": DIM}).status_code == 409


def test_selective_sync_by_collective_filter(cluster):
    a = cluster.add("a", syncer=False)
    b = cluster.add("b", syncer=False)
    x = a.collective("x", DIM)["id"]
    y = a.collective("y", DIM)["id"]
    w = b.collective("w", DIM)["id"]
    Cluster.link(a, b, collectives=[x])
    a.start_syncer()
    b.start_syncer()
    ex = [post_exp(a, x, f"x{i}", i) for i in range(5)]
    ey = [post_exp(a, y, f"y{i}", i) for i in range(5)]
    ew = post_exp(b, w, "w")
    ebx = post_exp(b, x, "x from b")
    assert a.patch(f"/v1/experiences/{ey[0]}", {"importance": 0.1}).status_code == 200
    cluster.wait_converged(coll_ids=[x])
    cluster.wait_quiet()
    assert a.collective_ids() == sorted([x, y])
    assert b.collective_ids() == sorted([x, w])
    for e in ey:
        assert status_code(b, f"/v1/experiences/{e}") == 404
    assert status_code(a, f"/v1/experiences/{ew}") == 404
    assert status_code(a, f"/v1/experiences/{ebx}") == 200
    for e in ex:
        assert status_code(b, f"/v1/experiences/{e}") == 200
    # The filtered changes were read past, not waited for: cursors at the heads.
    assert b.peer("a")["pull_cursor"] == a.wal_head()
    assert a.peer("b")["pull_cursor"] == b.wal_head()
    # Only x's changes came to either side. (Each had data of its own at first
    # contact, so each pulled the other's log from the start, filtered.)
    sa, sb = a.stats(), b.stats()
    assert (sb["installed"], sb["applied"]) == (0, 6), sb
    assert (sa["installed"], sa["applied"]) == (0, 1), sa


def vector_of(node):
    """node's version vector as its hello_ok reports it: {instance id: origin_seq}."""
    reply = sync_request(node.sync_address, hello_msg())
    assert reply and reply[1] == "hello_ok", reply
    return {id_str(k): v for k, v in reply[2]["vector"].items()}


def decoded_changes(node, max_changes=100):
    """node's WAL entries decoded: [seq, origin, origin_seq, ..., fields(, partial)]."""
    return [msgpack.unpackb(c, raw=False) for c in changes_of(node, max_changes)]


def filtered_history(a, x, y):
    """A writes in y before, between and after its changes in x. Returns the
    x ids, the y ids and the origin_seq of A's first y experience."""
    ey = [post_exp(a, y, "y-before")]
    first_y = a.wal_head()
    ex = [post_exp(a, x, f"x{i}", i) for i in range(3)]
    ey.append(post_exp(a, y, "y-between"))
    ex.append(post_exp(a, x, "x-last"))
    return ex, ey, first_y


def test_filtered_link_claims_no_change_it_skipped(cluster):
    """A and B sync only x, both ways. Each applies a subset of the other's
    changes, so neither vector may claim the other's changes (a claim would
    make every other peer skip them for it, forever); relayed copies carry
    the partial mark; a node's own writes still never come back."""
    a = cluster.add("a", syncer=False)
    b = cluster.add("b", syncer=False)
    x = a.collective("x", DIM)["id"]
    y = a.collective("y", DIM)["id"]
    w = b.collective("w", DIM)["id"]
    first_w = b.wal_head()
    Cluster.link(a, b, collectives=[x])
    a.start_syncer()
    b.start_syncer()
    cluster.wait_quiet()             # the first contacts are done
    ex, ey, first_y = filtered_history(a, x, y)
    ebx = post_exp(b, x, "x from b")
    cluster.wait_converged(coll_ids=[x])
    cluster.wait_quiet()
    assert status_code(b, f"/v1/experiences/{ey[0]}") == 404
    va, vb = vector_of(a), vector_of(b)
    # B applied A's x changes but not the y ones around them: no claim on A.
    assert vb.get(a.instance_id, 0) < first_y, (vb, first_y)
    assert va.get(b.instance_id, 0) < first_w, (va, first_w)
    # Each node's own entry is whole: its last own change.
    for n, v in ((a, va), (b, vb)):
        me = uuid.UUID(n.instance_id).bytes
        assert v[n.instance_id] == max(c[2] for c in decoded_changes(n) if c[1] == me), v
    # B logged A's x changes with the partial mark, so whoever pulls them
    # from B treats them as partial too; its own changes carry no mark.
    mine = uuid.UUID(b.instance_id).bytes
    relayed = [c for c in decoded_changes(b) if c[1] != mine]
    assert len(relayed) == 1 + len(ex), relayed       # x itself, then its experiences
    assert all(len(c) == 10 and c[9] is True for c in relayed), relayed
    # (B installed no snapshot: each had data at first contact. States a node
    # installs are its own changes naming their source, an eleventh item.)
    assert all(len(c) == 9 for c in decoded_changes(b) if c[1] == mine)
    # No echo: what A serves B's filtered pull holds none of B's own changes.
    reply = sync_request(a.sync_address, [PROTO, "pull", {
        "source": mine, "target": uuid.UUID(a.instance_id).bytes, "cursor": 0,
        "max_changes": 100, "max_bytes": 1 << 20, "wait_ms": 0,
        "collectives": [uuid.UUID(x).bytes],
        "vector": {uuid.UUID(k).bytes: v for k, v in vb.items()}}])
    assert reply and reply[1] == "pull_ok", reply
    sent = [msgpack.unpackb(c, raw=False) for c in reply[2]["changes"]]
    assert all(c[1] != mine for c in sent), sent
    assert status_code(a, f"/v1/experiences/{ebx}") == 200


def test_changes_a_filter_skipped_still_reach_the_node_behind_it(cluster):
    """A -(B pulls only x)- B <-> C, then A pushes to C. C got A's x changes
    through B; A's y changes before, between and after them must all still
    reach C (and B, through C)."""
    a = cluster.add("a", syncer=False)
    b = cluster.add("b", syncer=False)
    c = cluster.add("c", syncer=False)
    x = a.collective("x", DIM)["id"]
    y = a.collective("y", DIM)["id"]
    b.add_peer(a, "pull", [x])
    Cluster.link(b, c)
    for n in (a, b, c):
        n.start_syncer()
    cluster.wait_quiet()
    ex, ey, _ = filtered_history(a, x, y)
    wait_for(lambda: all(status_code(n, f"/v1/experiences/{e}") == 200
                         for n in (b, c) for e in ex), what="x's changes at b and c")
    cluster.wait_quiet()
    assert status_code(c, f"/v1/experiences/{ey[0]}") == 404
    # A's pusher sends C what C's vector does not cover.
    a.stop_syncer()
    a.add_peer(c, "push")
    a.start_syncer()
    ey.append(post_exp(a, y, "y-after"))
    cluster.wait_converged(coll_ids=[x, y])
    for n in (b, c):
        for e in ex + ey:
            assert status_code(n, f"/v1/experiences/{e}") == 200, (n.name, e)
    cluster.wait_quiet()
    assert vector_of(c)[a.instance_id] == a.wal_head()


def test_filtered_node_gets_everything_once_an_unfiltered_peer_links(cluster):
    """B pulls only x from A; D pulls everything from A. Once D also pushes to
    B, B gets A's y changes too. D began with a snapshot of A (x and y, as
    its own states), so its log does not hold A's sequence from the start:
    what it sends of A goes as partial copies, and B's vector claims nothing
    of A that no whole path showed it."""
    a = cluster.add("a", syncer=False)
    b = cluster.add("b", syncer=False)
    d = cluster.add("d", syncer=False)
    x = a.collective("x", DIM)["id"]
    y = a.collective("y", DIM)["id"]
    b.add_peer(a, "pull", [x])
    d.add_peer(a, "pull")
    for n in (a, b, d):
        n.start_syncer()
    cluster.wait_quiet()
    ex, ey, _ = filtered_history(a, x, y)
    cluster.wait_converged([a, d])
    wait_for(lambda: all(status_code(b, f"/v1/experiences/{e}") == 200 for e in ex),
             what="x's changes at b")
    cluster.wait_quiet()
    d.stop_syncer()
    d.add_peer(b, "push")
    d.start_syncer()
    ey.append(post_exp(a, y, "y-after"))
    cluster.wait_converged(coll_ids=[x, y])
    for e in ex + ey:
        assert status_code(b, f"/v1/experiences/{e}") == 200, e
    cluster.wait_quiet()
    assert vector_of(d)[a.instance_id] == a.wal_head()
    assert vector_of(b).get(a.instance_id, 0) == 0, vector_of(b)


@pytest.mark.parametrize("widened", ["x_and_y", "removed"])
def test_widened_filter_fetches_what_the_old_filter_skipped(cluster, widened):
    """B pulls only x from A, so its cursor reads past A's y changes. When
    B's filter is widened (or removed), its cursors start over and it gets
    A's y changes after all; narrowing it back keeps the cursors."""
    a = cluster.add("a", syncer=False)
    b = cluster.add("b", syncer=False)
    x = a.collective("x", DIM)["id"]
    y = a.collective("y", DIM)["id"]
    b.add_peer(a, "pull", [x])
    a.start_syncer()
    b.start_syncer()
    cluster.wait_quiet()
    ex, ey, _ = filtered_history(a, x, y)
    wait_for(lambda: all(status_code(b, f"/v1/experiences/{e}") == 200 for e in ex),
             what="x's changes at b")
    cluster.wait_quiet()
    assert status_code(b, f"/v1/experiences/{ey[0]}") == 404
    assert b.peer("a")["pull_cursor"] == a.wal_head()

    b.stop_syncer()
    b.peers = [a.spec("pull", [y, x] if widened == "x_and_y" else [])]
    b.start_syncer()
    cluster.wait_converged(coll_ids=[x, y])
    for e in ex + ey:
        assert status_code(b, f"/v1/experiences/{e}") == 200, e
    assert "peer filter widened peer=a collectives_was=1 collectives_now=" \
        f"{'2' if widened == 'x_and_y' else 'all'}" in b.log("syncer"), b.log_tail("syncer")
    cluster.wait_quiet()

    # Narrowed again: the cursor stands, nothing starts over.
    cursor = b.peer("a")["pull_cursor"]
    b.stop_syncer()
    b.peers = [a.spec("pull", [x])]
    b.start_syncer()
    ey.append(post_exp(a, y, "y-after-narrowing"))
    ex.append(post_exp(a, x, "x-after-narrowing"))
    wait_for(lambda: status_code(b, f"/v1/experiences/{ex[-1]}") == 200,
             what="the new x change at b")
    cluster.wait_quiet()
    assert status_code(b, f"/v1/experiences/{ey[-1]}") == 404
    assert b.peer("a")["pull_cursor"] >= cursor
    assert b.log("syncer").count("peer filter widened") == 1


# -- each change travels once --------------------------------------------------

def test_incremental_sync_sends_only_new_changes(cluster):
    a = cluster.add("a")
    b = cluster.add("b", start=False)
    b.add_peer(a, "pull")
    b.start()
    c = a.collective("inc", DIM)["id"]
    for i in range(20):
        post_exp(a, c, f"first-{i}", i)
    cluster.wait_converged()
    cluster.wait_quiet()
    first = b.stats()
    assert first["wal_head"] == a.wal_head() == 21
    assert first["applied"] == 21 and first["installed"] == 0, first

    for i in range(5):
        post_exp(a, c, f"second-{i}", i)
    cluster.wait_converged()
    cluster.wait_quiet()
    second = b.stats()
    # Only the 5 new changes came, each applied once; nothing old again.
    assert second["applied"] - first["applied"] == 5, (first, second)
    assert second["known"] == first["known"], (first, second)
    assert second["wal_head"] == a.wal_head() == 26
    assert b.peer("a")["pull_cursor"] == 26
    # A learns how far B pulled (its inbound row) and holds its WAL from there.
    wait_for(lambda: any(i["pulled_through"] == 26 and i["instance_id"] == b.instance_id
                         for i in a.sync_status()["inbound"]), what="a's inbound row for b")


def test_no_echo(cluster):
    a, b = pair(cluster)
    c = a.collective("echo", DIM)["id"]
    ids = [post_exp(a, c, f"e{i}", i) for i in range(30)]
    for e in ids[:5]:
        assert a.patch(f"/v1/experiences/{e}", {"importance": 0.9}).status_code == 200
    for e in ids[:3]:
        assert a.post(f"/v1/experiences/{e}/reinforce").status_code == 200
    assert a.delete(f"/v1/experiences/{ids[-1]}").status_code == 204
    made = a.wal_head()
    assert made == 1 + 30 + 5 + 3 + 1
    cluster.wait_converged()
    cluster.wait_quiet()
    sa, sb = a.stats(), b.stats()
    # B holds each of A's changes once; nothing came back to A.
    assert sb["wal_head"] == sa["wal_head"] == made, (sa, sb)
    assert sb["applied"] == made, sb
    assert sa["applied"] == 0 and sa["installed"] == 0, sa
    # A's puller read all of B's WAL (A's own changes, skipped) and wrote nothing.
    assert a.peer("b")["pull_cursor"] == made


def test_bidirectional_writes(cluster):
    a, b = pair(cluster)
    shared = a.collective("shared", DIM)["id"]
    cluster.wait_converged()
    made = {"a": 1, "b": 0}
    own = {}

    def writer(node, n):
        own[node.name] = node.collective(f"own-{node.name}", DIM)["id"]
        for i in range(n):
            post_exp(node, shared, f"{node.name}-{i}", i)
            post_exp(node, own[node.name], f"{node.name}-own-{i}", i)
        made[node.name] += 1 + 2 * n

    threads = [threading.Thread(target=writer, args=(n, 25)) for n in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    cluster.wait_converged()
    cluster.wait_quiet()
    for n in (a, b):
        assert n.collective_ids() == sorted([shared, own["a"], own["b"]])
        d = get_json(n, f"/v1/collectives/{shared}/digest")
        assert d["experiences"] == 50
    sa, sb = a.stats(), b.stats()
    total = made["a"] + made["b"]
    assert sa["wal_head"] == sb["wal_head"] == total, (sa, sb)
    # Each change arrives once: pulled or pushed (applied), or, when a slow start
    # made the first contact an initial sync, installed from the snapshot.
    arrived = lambda st: st["applied"] + st["installed"]
    assert arrived(sa) == made["b"] and arrived(sb) == made["a"], (sa, sb, made)


def test_chain_relays_each_change_once(cluster):
    a, b, c = (cluster.add(n, start=False) for n in "abc")
    Cluster.link(a, b)
    Cluster.link(b, c)
    for n in (a, b, c):
        n.start()
    coll = a.collective("chain", DIM)["id"]
    write_mix(a, coll, 20, "a")
    made = a.wal_head()
    cluster.wait_converged()
    cluster.wait_quiet()
    sa, sb, sc = a.stats(), b.stats(), c.stats()
    # C has A's changes through B, each applied once and logged once.
    assert sc["applied"] == made and sc["wal_head"] == made, sc
    assert sb["applied"] == made and sb["wal_head"] == made, sb
    assert sa["applied"] == 0 and sa["wal_head"] == made, sa

    # And back: C's writes reach A through B.
    write_mix(c, coll, 5, "c")
    from_c = c.wal_head() - made
    cluster.wait_converged()
    cluster.wait_quiet()
    sa, sb = a.stats(), b.stats()
    assert sa["applied"] == from_c and sa["wal_head"] == made + from_c, sa
    assert sb["applied"] == made + from_c, sb


def test_triangle_converges_without_cycles(cluster):
    a, b, c = (cluster.add(n, start=False) for n in "abc")
    Cluster.link(a, b)
    Cluster.link(b, c)
    Cluster.link(c, a)
    for n in (a, b, c):
        n.start()
    shared = a.collective("shared", DIM)["id"]
    cluster.wait_converged()
    made = {"a": 1, "b": 0, "c": 0}

    def writer(node):
        own = node.collective(f"own-{node.name}", DIM)["id"]
        for i in range(15):
            post_exp(node, shared, f"{node.name}-{i}", i)
            post_exp(node, own, f"{node.name}-own-{i}", i)
        made[node.name] += 1 + 30

    threads = [threading.Thread(target=writer, args=(n,)) for n in (a, b, c)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    cluster.wait_converged()
    cluster.wait_quiet()
    total = sum(made.values())
    # No change went round: each WAL holds each change once, and each node
    # took every other node's changes once (the second copy was "known"):
    # applied, or installed when a first contact found news and snapshotted.
    for n in (a, b, c):
        st = n.stats()
        assert st["wal_head"] == total, (n.name, st, made)
        assert st["applied"] + st["installed"] == total - made[n.name], (n.name, st, made)
    assert get_json(a, f"/v1/collectives/{shared}/digest")["experiences"] == 45


def test_sync_once_runs_one_push_and_pull(cluster):
    a = cluster.add("a")                      # serves; has no peers of its own
    b = cluster.add("b", syncer=False)
    ca = a.collective("from-a", DIM)["id"]
    cb = b.collective("from-b", DIM)["id"]
    for i in range(5):
        post_exp(a, ca, f"a{i}", i)
        post_exp(b, cb, f"b{i}", i)
    once = [SYNCER, "--once", "--data", b.data, "--sync-bind", "",
            "--sync-peers", a.spec(), "--sync-retry-initial-ms", "10"]
    r = subprocess.run(once, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    # Both directions are done when --once exits: no waiting needed.
    assert cluster.converged(), cluster.describe()
    before = b.stats()
    r = subprocess.run(once, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    after = b.stats()
    assert after["applied"] == before["applied"] and after["wal_head"] == before["wal_head"]

    # A peer that refuses every request: --once gives up after its retries
    # and says so with exit status 1. (A peer that is down fails the same
    # way, only after a 3 s connect wait per attempt.)
    with refusing_peer() as address:
        r = subprocess.run([*once[:-4], "--sync-peers", f"x={address}",
                            "--sync-retry-initial-ms", "10"],
                           capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "result=failed" in r.stdout + r.stderr
    assert "busy" in r.stdout + r.stderr


# -- initial sync by snapshot, replaced peers ----------------------------------

def test_new_peer_catches_up_by_snapshot_with_progress(cluster):
    a = cluster.add("a")
    c = a.collective("history", DIM)["id"]
    other = a.collective("other", DIM)["id"]
    ids = a.bulk_experiences(c, 1000)
    post_exp(a, other, "elsewhere")
    for i in range(3):
        r = a.post("/v1/relations", {"source": ids[i], "target": ids[i + 1], "type": "implies"})
        assert r.status_code == 201, r.text
    assert a.post(f"/v1/collectives/{c}/insights", {"content": "i", "embedding": [0, 1, 0, 0],
                                                    "type": "pattern"}).status_code == 201
    assert a.patch(f"/v1/experiences/{ids[10]}", {"importance": 0.99}).status_code == 200
    assert a.delete(f"/v1/experiences/{ids[11]}").status_code == 204

    # A new node with one-entity snapshot pages, told about A over HTTP (a
    # peers database row the running syncer picks up).
    b = cluster.add("b", extra=["--sync-batch-max-changes", "1"])
    r = b.post("/v1/sync/peers", {"name": "a", "address": a.sync_address})
    assert r.status_code == 201, r.text
    wait_for(lambda: "initial sync peer=a entities=" in b.log("syncer"), timeout=20,
             what="snapshot progress in b's log", detail=lambda: b.log_tail("syncer", 5))
    # Hold A's syncer mid-snapshot so the progress is visible in the status.
    a.syncer.send_signal(signal.SIGSTOP)
    try:
        assert "initial sync done" not in b.log("syncer"), "snapshot ended before it was held"

        def in_snapshot():
            row = b.peer("a")
            return row and row["state"] == "snapshot" and row["snapshot"] \
                and 0 < row["snapshot"]["done"] < row["snapshot"]["total"]
        wait_for(in_snapshot, timeout=10, what="snapshot progress in b's status",
                 detail=lambda: (b.peer("a"), b.log_tail("syncer", 3)))
        snap = b.peer("a")["snapshot"]
        assert snap["total"] >= 1000 + 1 + 1 + 3 + 1, snap
        assert snap["bytes"] > 0 and snap["eta_ms"] is not None, snap
    finally:
        a.syncer.send_signal(signal.SIGCONT)

    cluster.wait_converged(timeout=60)
    log = b.log("syncer")
    assert "initial sync starting peer=a reason=new peer" in log
    done = re.search(r"initial sync done peer=a entities=(\d+)", log)
    assert done and int(done.group(1)) == snap["total"], log[-2000:]
    assert "snapshot session started" in a.log("syncer")
    assert status_code(b, f"/v1/experiences/{ids[11]}") == 404
    assert get_json(b, f"/v1/experiences/{ids[10]}")["importance"] == 0.99
    # Then ordinary pulls: a new write arrives without another snapshot.
    post_exp(a, c, "after the snapshot")
    cluster.wait_converged()
    assert b.log("syncer").count("initial sync starting") == 1
    wait_for(lambda: b.peer("a")["state"] == "idle", what="b idle after catching up",
             detail=lambda: b.peer("a"))


def test_installed_snapshot_does_not_flow_back_to_its_source(cluster):
    """B takes an initial sync from A and logs the installed states as its
    own changes, marked with A as their source: they relay to C, which
    syncs only with B, but never go back to A, by push or by pull."""
    a = cluster.add("a", syncer=False)
    b = cluster.add("b", syncer=False)
    c = cluster.add("c", syncer=False)
    coll = a.collective("history", DIM)["id"]
    a.bulk_experiences(coll, 40)
    b.add_peer(a)                   # A has no peer of its own: B pushes to it
    Cluster.link(b, c)
    b.start_syncer()                # A does not serve yet: B cannot snapshot
    c.start_syncer()
    # C's first contact finds B empty, so C pulls B's changes one by one
    # instead of taking a snapshot of its own.
    wait_for(lambda: (c.peer("b") or {}).get("state") == "idle", what="c idle with b",
             detail=lambda: c.log_tail("syncer", 5))
    before = a.stats()
    a.start_syncer()
    cluster.wait_converged()
    own = post_exp(b, coll, "b's own")
    cluster.wait_converged()
    cluster.wait_quiet()
    assert b.stats()["installed"] == 41
    # A took B's own write and nothing else: no installed state came back.
    after = a.stats()
    assert after["applied"] - before["applied"] == 1, (before, after)
    assert after["known"] == before["known"], (before, after)
    assert b.peer("a")["push_acked"] == b.wal_head()
    # What B serves A's pull, even to an empty vector: B's own write only,
    # as a partial copy: B's installed states (its own 1..41) stay behind, so
    # its 42 would skip them in A's sequence of B.
    reply = sync_request(b.sync_address, [PROTO, "pull", {
        "source": uuid.UUID(a.instance_id).bytes, "target": uuid.UUID(b.instance_id).bytes,
        "cursor": 0, "max_changes": 1000, "max_bytes": 1 << 20, "wait_ms": 0, "vector": {}}])
    assert reply and reply[1] == "pull_ok", reply
    sent = [msgpack.unpackb(ch, raw=False) for ch in reply[2]["changes"]]
    assert len(sent) == 1 and len(sent[0]) == 10 and sent[0][9] is True, sent
    assert sent[0][2] == 42 and id_str(sent[0][1]) == b.instance_id, sent
    assert reply[2]["next_cursor"] == b.wal_head()
    # Anyone else gets the installed states, marked with A as their source.
    served = [msgpack.unpackb(ch, raw=False) for ch in changes_of(b, 1000)]
    assert len(served) == 42, len(served)
    marked = [ch for ch in served if len(ch) == 11]
    assert len(marked) == 41 and all(ch[10] == uuid.UUID(a.instance_id).bytes
                                     for ch in marked)
    # C has it all, from B's change records rather than a snapshot.
    st = c.stats()
    assert st["installed"] == 0 and st["applied"] == 42, st
    assert status_code(c, f"/v1/experiences/{own}") == 200


def test_node_with_data_reads_a_new_peers_log_not_its_snapshot(cluster):
    """Only an empty node starts with a snapshot. B installs A's snapshot
    (its own changes now, in B's vector); when A first pulls from B, B's
    vector holds news for A, but A has data: it reads B's log, where the
    installed states are skipped for their source, and gets nothing back."""
    a = cluster.add("a", syncer=False)
    b = cluster.add("b", syncer=False)
    coll = a.collective("history", DIM)["id"]
    a.bulk_experiences(coll, 40)
    b.add_peer(a, "pull")
    a.start_syncer()
    b.start_syncer()
    cluster.wait_converged()
    cluster.wait_quiet()
    assert b.stats()["installed"] == 41
    before = a.stats()
    a.stop_syncer()
    a.add_peer(b, "pull")
    a.start_syncer()
    wait_for(lambda: (a.peer("b") or {}).get("pull_cursor") == b.wal_head(),
             what="a's pull from b caught up", detail=lambda: a.peer("b"))
    after = a.stats()
    assert "initial sync starting peer=b" not in a.log("syncer")
    assert (after["installed"], after["applied"], after["known"]) == (
        before["installed"], before["applied"], before["known"]), (before, after)


def test_peer_behind_the_floor_resyncs_by_snapshot(cluster):
    a = cluster.add("a", extra=COMPACT)
    b = cluster.add("b", start=False)
    b.add_peer(a, "pull")
    b.start()
    c = a.collective("floor", DIM)["id"]
    ids = [post_exp(a, c, f"e{i}", i) for i in range(10)]
    cluster.wait_converged()
    cluster.wait_quiet()
    assert "initial sync" not in b.log("syncer")

    b.stop_syncer()
    later = [post_exp(a, c, f"later{i}", i) for i in range(10)]
    assert a.delete(f"/v1/experiences/{ids[0]}").status_code == 204
    assert a.patch(f"/v1/experiences/{ids[1]}", {"importance": 0.01}).status_code == 200

    # B is away longer than the peer expiry (at least 60 s; here A forgets
    # B's hold by hand, as expiry does): A compacts past B's cursor.
    def compacted():
        assert a.storage_call("peer_del", [f"in:{b.instance_id}"])[1] == 0
        return a.sync_status()["wal"]["floor"] == a.wal_head() + 1
    wait_for(compacted, timeout=20, what="a compacting past b's cursor",
             detail=lambda: a.sync_status()["wal"])

    # What B's puller is told when it asks from where it stopped.
    cursor = b.peer("a")["pull_cursor"]
    reply = sync_request(a.sync_address, [PROTO, "pull", {
        "source": uuid.UUID(b.instance_id).bytes, "target": uuid.UUID(a.instance_id).bytes,
        "cursor": cursor, "max_changes": 10, "max_bytes": 1 << 20, "wait_ms": 0}])
    detail = refused(reply, "cursor_below_floor")
    assert f"cursor {cursor} is below" in detail, detail

    b.start_syncer()
    cluster.wait_converged()
    log = b.log("syncer")
    assert "initial sync starting peer=a reason=cursor below the peer's WAL floor" in log, log
    assert "initial sync done peer=a" in log
    assert b.stats()["installed"] > 0
    assert status_code(b, f"/v1/experiences/{ids[0]}") == 404
    assert get_json(b, f"/v1/experiences/{ids[1]}")["importance"] == 0.01
    assert all(status_code(b, f"/v1/experiences/{e}") == 200 for e in later)
    # Then it pulls as usual again.
    post_exp(a, c, "after")
    cluster.wait_converged()
    assert b.log("syncer").count("initial sync starting") == 1


def test_snapshot_interrupted_by_crashes_starts_again_and_converges(cluster):
    a = cluster.add("a")
    c = a.collective("big", DIM)["id"]
    a.bulk_experiences(c, 1500)
    b = cluster.add("b", start=False, extra=["--sync-batch-max-changes", "3"])
    b.add_peer(a)
    b.start()
    progress = re.compile(r"initial sync peer=a entities=(\d+)/")

    def installed_some(since, beyond=100):
        done = [int(x) for x in progress.findall(b.log("syncer")[since:])]
        return done and done[-1] > beyond
    # SIGKILL B's syncer mid-snapshot, then its storage mid-(new) snapshot.
    # A's syncer, the snapshot's source, is paused around each kill, so the
    # snapshot cannot finish first however fast the machine.
    since = 0
    for which in ("syncer", "storage"):
        wait_for(lambda: installed_some(since), timeout=30, what=f"snapshot under way ({which})",
                 detail=lambda: b.log_tail("syncer", 3))
        a.syncer.send_signal(signal.SIGSTOP)
        try:
            assert "initial sync done" not in b.log("syncer"), \
                "the snapshot ended before the kill"
            b.kill(which)
        finally:
            a.syncer.send_signal(signal.SIGCONT)
        since = len(b.log("syncer"))
        b.restart(which)
    cluster.wait_converged(timeout=60)
    assert get_json(b, f"/v1/collectives/{c}/digest")["experiences"] == 1500
    assert b.log("syncer").count("initial sync done peer=a") >= 1
    assert a.stats()["applied"] == 0


def test_wiped_peer_is_noticed_and_filled_again(cluster):
    a, b = pair(cluster)
    c = a.collective("keep", DIM)["id"]
    for i in range(10):
        post_exp(a, c, f"e{i}", i)
    cluster.wait_converged()
    old_b = b.instance_id
    # B loses its folder and comes back empty at the same address.
    b.stop_syncer()
    assert all(code == 0 for code in b.stop())
    shutil.rmtree(b.data)
    b._instance = None
    b.start()
    assert b.instance_id != old_b
    post_exp(a, c, "while b was new")
    cluster.wait_converged()
    # A's next request to B is refused for naming the old B; A says hello
    # again, sees the new identity and starts B's cursors from zero.
    wait_for(lambda: f"peer identity changed peer=b was={old_b} now={b.instance_id}"
             in a.log("syncer"), what="a noticing b's new identity",
             detail=lambda: a.log_tail("syncer", 5))
    wait_for(lambda: a.peer("b")["instance_id"] == b.instance_id, what="a's row for b rebound",
             detail=lambda: a.peer("b"))
    assert get_json(b, f"/v1/collectives/{c}/digest")["experiences"] == 11
    post_exp(b, c, "from the new b")
    cluster.wait_converged()


def test_node_restored_from_a_backup_converges(cluster):
    a, b = pair(cluster)
    c = b.collective("x", DIM)["id"]
    for i in range(3):
        post_exp(b, c, f"early{i}", i)
    cluster.wait_converged()
    old_b = b.instance_id
    b.stop_syncer()
    assert all(code == 0 for code in b.stop())
    backup = os.path.join(cluster.root, "b-backup")
    shutil.copytree(b.data, backup, ignore=shutil.ignore_patterns("*.sock"))
    b.start()
    assert b.instance_id == old_b                # a restart keeps the identity
    for i in range(3):
        post_exp(b, c, f"lost{i}", i)         # reach A, then B's disk is lost
    cluster.wait_converged()
    b.stop_syncer()
    assert all(code == 0 for code in b.stop())
    shutil.rmtree(b.data)
    shutil.copytree(backup, b.data)
    b._instance = None
    b.start(syncer=False)
    # The copy writes as a new instance: its sequence numbers cannot collide
    # with those the original wrote after the backup and A already holds.
    assert b.instance_id != old_b
    assert "data file is a copy" in b.log("storage")
    made = post_exp(b, c, "after the restore")
    b.start_syncer()
    cluster.wait_converged(timeout=10, what="convergence after b's restore")
    # Nothing lost either way: B has the writes its copy missed, A the new one.
    assert get_json(b, f"/v1/collectives/{c}/digest")["experiences"] == 7
    assert get_json(a, f"/v1/experiences/{made}")["content"] == "after the restore"


def test_folder_rolled_back_in_place_is_reported(cluster):
    """A rollback that keeps the file (a file-system or VM snapshot) cannot
    be told from a restart by storage; the first hello shows it."""
    a, b = pair(cluster)
    c = b.collective("x", DIM)["id"]
    post_exp(b, c, "early")
    cluster.wait_converged()
    b.stop_syncer()
    assert all(code == 0 for code in b.stop())
    path = os.path.join(b.data, "data.mdb")
    with open(path, "rb") as f:
        saved = f.read()
    b.start(syncer=False)
    for i in range(3):
        post_exp(b, c, f"later{i}", i)
    b.start_syncer()
    cluster.wait_converged()
    b.stop_syncer()
    assert all(code == 0 for code in b.stop())
    with open(path, "r+b") as f:              # the same file, its old bytes
        f.write(saved)
        f.truncate()
    b.start()
    wait_for(lambda: "the data folder was rolled back in place" in b.log("syncer"),
             what="b reporting its rollback", detail=lambda: b.log_tail("syncer", 5))


def test_write_at_once_on_a_fresh_pair_is_no_rollback(tmp_path):
    """A pair that takes writes right after it starts: a peer's hello reply
    may already hold a write made here after the request was built. That is
    a race, not a rollback, and never a reason to snapshot this node's own
    data back from the peer."""
    rounds = int(os.environ.get("PDB_RACE_ROUNDS", "12"))
    for r in range(rounds):
        cl = Cluster(tmp_path / f"round{r}")
        try:
            a, b = pair(cl, start=False)
            for n in (a, b):
                n.start_storage()
                n.start_gateway()
            a.start_syncer()
            b.start_syncer()
            ca = a.collective(f"a{r}", DIM)["id"]
            cb = b.collective(f"b{r}", DIM)["id"]
            post_exp(a, ca, "first on a")
            post_exp(b, cb, "first on b")
            cl.wait_converged(coll_ids=[ca, cb], what=f"round {r}")
            cl.wait_quiet(what=f"round {r} quiet")
            for n in (a, b):
                log = n.log("syncer")
                assert "rolled back in place" not in log, (r, n.name, n.log_tail("syncer", 20))
                assert "initial sync starting" not in log, (r, n.name, n.log_tail("syncer", 20))
        finally:
            problems = cl.stop_all()
        assert not problems, "\n".join(problems)


# -- status, peers, limits -----------------------------------------------------

def test_peer_down_is_degraded_then_recovers(cluster):
    a, b = pair(cluster)
    c = a.collective("s", DIM)["id"]
    post_exp(a, c, "before")
    cluster.wait_converged()
    wait_for(lambda: a.peer("b")["state"] == "idle", what="a's peer b idle",
             detail=lambda: a.peer("b"))

    b.stop_syncer()
    for i in range(5):
        post_exp(a, c, f"while down {i}", i)
    # Three failures in a row (3 s connect wait each): degraded, with the error.
    wait_for(lambda: a.peer("b")["state"] == "degraded", timeout=40,
             what="a's peer b degraded", detail=lambda: a.peer("b"))
    row = a.peer("b")
    assert row["failures"] >= 3 and "not reachable" in row["last_error"], row
    assert 'pulsedb_sync_peer_up{peer="b"} 0' in a.get("/metrics").text

    b.start_syncer()
    cluster.wait_converged()
    wait_for(lambda: a.peer("b")["state"] in ("idle", "syncing") and a.peer("b")["failures"] == 0,
             timeout=20, what="a's peer b back", detail=lambda: a.peer("b"))
    assert 'pulsedb_sync_peer_up{peer="b"} 1' in a.get("/metrics").text
    assert get_json(b, f"/v1/collectives/{c}/digest")["experiences"] == 6


def test_status_error_is_current_while_failing_and_kept_as_history(cluster):
    a, b = pair(cluster)
    c = a.collective("errors", DIM)["id"]
    post_exp(a, c, "before")
    cluster.wait_converged()
    wait_for(lambda: a.peer("b")["state"] == "idle", what="a's peer b idle",
             detail=lambda: a.peer("b"))
    assert a.peer("b")["error"] is None and a.peer("b")["lag_ms"] == 0

    started = int(time.time() * 1000)
    b.kill("syncer")
    post_exp(a, c, "while b is down")
    # Failing: the error is current, with its time; the change b lacks ages.
    wait_for(lambda: a.peer("b")["error"] is not None, timeout=30, what="a's error for b",
             detail=lambda: a.peer("b"))
    row = a.peer("b")
    assert row["error_ms"] >= started and row["last_error"] == row["error"], row
    assert row["push_lag_ms"] > 0 and row["lag_ms"] >= row["push_lag_ms"], row
    first = row["push_lag_ms"]
    wait_for(lambda: a.peer("b")["push_lag_ms"] > first, what="the push lag growing",
             detail=lambda: a.peer("b"))
    assert 'pulsedb_sync_peer_lag_ms{peer="b"} 0' not in a.get("/metrics").text

    b.restart("syncer")
    cluster.wait_converged()
    # Working again: no current error, the last one kept as history.
    wait_for(lambda: a.peer("b")["error"] is None and a.peer("b")["state"] == "idle"
             and a.peer("b")["lag_ms"] == 0, timeout=20, what="a's peer b recovered",
             detail=lambda: a.peer("b"))
    row = a.peer("b")
    assert row["failures"] == 0 and row["error_ms"] is None, row
    assert row["last_error"] and row["last_error_ms"] >= started, row
    r = subprocess.run([PULSEDB, "sync", "status", "--url", a.url], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    line = next(l for l in r.stdout.splitlines() if l.startswith("b "))
    assert "none (last " in line and row["last_error"][:20] in line, line


def test_peers_added_and_removed_over_http_start_and_stop_syncing(cluster):
    a = cluster.add("a")
    b = cluster.add("b")
    c = a.collective("api", DIM)["id"]
    r = b.post("/v1/sync/peers", {"name": "a", "address": a.sync_address, "direction": "pull"})
    assert r.status_code == 201, r.text
    cluster.wait_converged()
    wait_for(lambda: "peer started peer=a" in b.log("syncer"), what="b starting peer a")
    assert [p["name"] for p in b.get("/v1/sync/peers").json()["peers"]] == ["a"]

    assert b.delete("/v1/sync/peers/a").status_code == 204
    wait_for(lambda: "peer stopped peer=a reason=removed" in b.log("syncer"),
             what="b stopping peer a", detail=lambda: b.log_tail("syncer", 3))
    assert b.peer("a") is None
    e = post_exp(a, c, "not for b")
    # Nothing more arrives; added again, it starts over from a clean row.
    r = b.post("/v1/sync/peers", {"name": "a", "address": a.sync_address, "direction": "pull"})
    assert r.status_code == 201, r.text
    cluster.wait_converged()
    assert status_code(b, f"/v1/experiences/{e}") == 200


def test_peer_pointing_back_at_this_node_is_an_error_not_a_loop(cluster):
    a = cluster.add("a")
    c = a.collective("self", DIM)["id"]
    post_exp(a, c, "x")
    head = a.wal_head()
    r = a.post("/v1/sync/peers", {"name": "me", "address": a.sync_address})
    assert r.status_code == 201, r.text
    wait_for(lambda: (a.peer("me") or {}).get("last_error") and
             "points back here" in a.peer("me")["last_error"], timeout=20,
             what="a's error for a peer that is itself", detail=lambda: a.peer("me"))
    assert a.wal_head() == head and a.stats()["applied"] == 0


def test_change_over_the_peers_batch_limit_stops_that_peer(cluster):
    a = cluster.add("a")
    b = cluster.add("b", start=False, extra=["--sync-batch-max-kb", "16"])
    b.add_peer(a, "pull")
    b.start()
    c = a.collective("sizes", DIM)["id"]
    small = post_exp(a, c, "small")
    cluster.wait_converged()
    big = post_exp(a, c, "x" * 40000)
    after = post_exp(a, c, "after the big one")
    # B cannot take the big change in one pull: it stops there, saying why,
    # and never skips it to take the next one.
    wait_for(lambda: b.peer("a")["state"] == "degraded", timeout=30, what="b's peer a degraded",
             detail=lambda: b.peer("a"))
    row = b.peer("a")
    assert "too_large" in row["last_error"] and "over max_bytes" in row["last_error"], row
    assert status_code(b, f"/v1/experiences/{small}") == 200
    assert status_code(b, f"/v1/experiences/{big}") == 404
    assert status_code(b, f"/v1/experiences/{after}") == 404
    # With a limit that fits, it goes on from there.
    b.stop_syncer()
    b.sync_extra = []
    b.start_syncer()
    cluster.wait_converged()
    assert get_json(b, f"/v1/experiences/{big}")["content"] == "x" * 40000


# -- restarts and crashes ------------------------------------------------------

def test_syncers_stopped_and_started_mid_stream_lose_nothing(cluster):
    a, b = pair(cluster, extra=["--sync-batch-max-changes", "20"])
    c = a.collective("stream", DIM)["id"]
    cluster.wait_converged()
    acked = {"a": [], "b": []}
    errors = []

    def writer(node, n):
        try:
            for i in range(n):
                acked[node.name].append(post_exp(node, c, f"{node.name}-{i}", i))
        except Exception as e:             # pragma: no cover - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=writer, args=(n, 300)) for n in (a, b)]
    for t in threads:
        t.start()
    # Stop and start each syncer in turn while both sides write.
    for node, at in ((b, 40), (a, 120), (b, 200), (a, 260)):
        wait_for(lambda: len(acked["a"]) + len(acked["b"]) >= at * 2 or errors
                 or not any(t.is_alive() for t in threads), timeout=60,
                 what=f"{at} writes per node")
        node.stop_syncer()
        wait_for(lambda: len(acked["a"]) + len(acked["b"]) >= at * 2 + 30 or errors
                 or not any(t.is_alive() for t in threads), timeout=60, what="more writes")
        node.start_syncer()
    for t in threads:
        t.join()
    assert not errors, errors
    cluster.wait_converged(timeout=60)
    for n in (a, b):
        listed = set()
        cursor = None
        while True:
            page = get_json(n, f"/v1/collectives/{c}/experiences?limit=500"
                               + (f"&cursor={cursor}" if cursor else ""))
            listed |= {e["id"] for e in page["experiences"]}
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert listed == set(acked["a"]) | set(acked["b"]), n.name
    # Every change in each WAL once, and applied once where it did not start.
    sa, sb = a.stats(), b.stats()
    assert sa["wal_head"] == sb["wal_head"] == 601
    assert sa["applied"] == 300 and sb["applied"] == 301, (sa, sb)


def test_request_lost_in_a_peer_restart_is_retried_promptly(cluster):
    """A request whose peer dies before answering fails over at once (the
    link notices the disconnect) instead of waiting out its timeout (60 s
    for a push)."""
    a, b = pair(cluster)
    c = b.collective("x", DIM)["id"]
    cluster.wait_converged()
    cluster.wait_quiet()
    # B pushes a change A's syncer never answers: A is stopped, then killed.
    a.syncer.send_signal(signal.SIGSTOP)
    post_exp(b, c, "in flight")
    wait_for(lambda: tcp_bytes_waiting(a.sync_port) > 0, what="b's push queued at a's port")
    a.kill("syncer")
    a.start_syncer()
    cluster.wait_converged()              # A's own pull brings the change at once
    # B's pusher notices the restart and pushes (and records) again soon.
    wait_for(lambda: b.peer("a")["push_acked"] == b.wal_head(), timeout=10,
             what="b's push_acked for a at b's head", detail=lambda: b.peer("a"))


def test_storage_request_lost_in_a_storage_restart_is_retried_promptly(cluster):
    """Requests to a storage process that dies before answering fail over
    at once, not after the storage timeout (30 s for a push waiting in the
    sync server; 30 s in peer workers)."""
    a, b = pair(cluster)
    c = a.collective("x", DIM)["id"]
    cluster.wait_converged()
    cluster.wait_quiet()
    # A's push reaches B's sync server, whose apply waits on B's stopped
    # storage; the server goes on answering others meanwhile.
    b.storage.send_signal(signal.SIGSTOP)
    post_exp(a, c, "during the restart")
    wait_for(lambda: a.peer("b")["push_lag_ms"] > 0, what="a pushing to b",
             detail=lambda: a.peer("b"))
    assert (sync_request(b.sync_address, hello_msg(), 5000) or [0, ""])[1] == "hello_ok"
    b.kill("storage")                 # the requests it had are lost
    b.restart("storage")
    cluster.wait_converged(timeout=5, what="convergence soon after b's storage restarted")
    cluster.wait_quiet(timeout=10)


def test_peer_killed_mid_batch_converges_exactly(cluster):
    a, b = pair(cluster, extra=["--sync-batch-max-changes", "25"])
    c = a.collective("backlog", DIM)["id"]
    cluster.wait_converged()
    cluster.wait_quiet()
    b.stop_syncer()
    ids = a.bulk_experiences(c, 3000)
    for e in ids[:10]:
        for _ in range(3):
            assert a.post(f"/v1/experiences/{e}/reinforce").status_code == 200
    head = a.wal_head()
    assert head == 1 + 3000 + 30
    b.start_syncer()
    # SIGKILL B's storage and syncer while the backlog flows in, then once
    # the syncer alone and once storage alone.
    kills = [(200, ("syncer", "storage")), (1200, ("syncer",)), (2000, ("storage",))]
    for at, which in kills:
        wait_for(lambda: b.wal_head() >= at, timeout=60, what=f"b past {at}",
                 detail=cluster.describe)
        for w in which:
            b.kill(w)
        for w in reversed(which):
            b.restart(w)
    cluster.wait_converged(timeout=90)
    wait_for(lambda: b.wal_head() == head, timeout=30, what="b's WAL at a's head",
             detail=cluster.describe)
    d = get_json(b, f"/v1/collectives/{c}/digest")
    assert d["experiences"] == 3000, d
    for e in ids[:10]:
        assert get_json(b, f"/v1/experiences/{e}")["applications"] == 3
    # Nothing came back to A, nothing was logged twice on B.
    st = a.stats()
    assert st["applied"] == 0 and st["wal_head"] == head, st


# -- compaction ----------------------------------------------------------------

def test_compaction_without_peers_is_idempotent(cluster):
    a = cluster.add("a", start=False, extra=COMPACT)
    a.log_level = "debug"
    a.start()
    c = a.collective("c", DIM)["id"]
    for i in range(10):
        post_exp(a, c, f"e{i}", i)
    digest = a.digest(c)
    # No peer to wait for: everything up to the head goes.
    wait_for(lambda: a.sync_status()["wal"]["floor"] == 12, what="floor above the head",
             detail=lambda: (a.sync_status()["wal"], a.log_tail("syncer", 3)))
    assert a.stats()["compacted"] == 11
    # More passes change nothing.
    last = wait_compaction_passes(a, 2)
    assert last[0] == 0 and last[1] == 12, last
    st = a.stats()
    assert (st["compacted"], st["wal_floor"], st["wal_head"]) == (11, 12, 11), st
    # Nor does storage's compact asked again directly.
    reply = a.storage_call("compact", [12, 1000])
    assert reply[1] == 0 and reply[3] == [0, 12], reply
    assert a.digest(c) == digest
    assert get_json(a, f"/v1/collectives/{c}/digest")["experiences"] == 10
    # New writes are compacted in turn.
    post_exp(a, c, "later")
    wait_for(lambda: a.sync_status()["wal"]["floor"] == 13, what="floor after a new write")
    assert a.stats()["compacted"] == 12


def test_compaction_waits_for_the_peer(cluster):
    a, b = pair(cluster, extra=COMPACT, start=False)
    a.log_level = "debug"
    a.start()
    b.start()
    c = a.collective("c", DIM)["id"]
    for i in range(5):
        post_exp(a, c, f"e{i}", i)
    cluster.wait_converged()
    # B acknowledged everything (push_acked, and its pulls' cursor): it goes.
    wait_for(lambda: a.sync_status()["wal"]["floor"] == a.wal_head() + 1, timeout=20,
             what="floor past what b acknowledged", detail=lambda: a.sync_status()["wal"])
    held = a.wal_head()

    b.stop_syncer()
    for i in range(5):
        post_exp(a, c, f"later{i}", i)
    removed, floor, below, live = wait_compaction_passes(a, 2)
    assert (floor, below, live) == (held + 1, held + 1, 2), (floor, below, live)
    wal = a.sync_status()["wal"]
    # B's inbound row is counted with its outbound one, under its name.
    assert wal["floor"] == held + 1 and wal["held_back_by"] == "b", wal

    b.start_syncer()
    cluster.wait_converged()
    wait_for(lambda: a.sync_status()["wal"]["floor"] == a.wal_head() + 1, timeout=20,
             what="floor past what b acknowledged after it came back",
             detail=lambda: a.sync_status()["wal"])
    assert a.wal_head() == held + 5


def test_compaction_keeps_what_the_slowest_peer_lacks(cluster):
    a = cluster.add("a", start=False, extra=COMPACT)
    a.log_level = "debug"
    b = cluster.add("b", start=False, extra=COMPACT)
    c3 = cluster.add("c", start=False, extra=COMPACT)
    Cluster.link(a, b)
    Cluster.link(a, c3)
    for n in (a, b, c3):
        n.start()
    c = a.collective("c", DIM)["id"]
    post_exp(a, c, "first")
    cluster.wait_converged()
    wait_for(lambda: a.sync_status()["wal"]["floor"] == a.wal_head() + 1, timeout=20,
             what="floor past what both peers acknowledged",
             detail=lambda: a.sync_status()["wal"])
    held = a.wal_head()

    c3.stop_syncer()
    for i in range(5):
        post_exp(a, c, f"e{i}", i)
    cluster.wait_converged(nodes=[a, b])
    cluster.wait_quiet(nodes=[a, b])
    # B has everything, C nothing new: the minimum (C's) holds the floor.
    assert a.peer("b")["push_acked"] == a.wal_head()
    removed, floor, below, live = wait_compaction_passes(a, 2)
    assert (floor, below) == (held + 1, held + 1), (floor, below, live)
    wal = a.sync_status()["wal"]
    assert wal["held_back_by"] == "c", wal
    assert a.peer("c")["wal_held_back"] == 5

    c3.start_syncer()
    cluster.wait_converged()
    wait_for(lambda: a.sync_status()["wal"]["floor"] == a.wal_head() + 1, timeout=20,
             what="floor past what c acknowledged", detail=lambda: a.sync_status()["wal"])


# -- the sync port under bad input ---------------------------------------------

def test_other_protocol_version_is_refused_clearly(cluster):
    a = cluster.add("a")
    me = uuid.uuid4().bytes
    newer = PROTO + 1
    detail = refused(sync_request(a.sync_address, hello_msg(me, protocol=newer, version=newer)),
                     "protocol_version")
    assert str(newer) in detail and f"speaks {PROTO}" in detail, detail
    # A hello of this version saying it speaks only an older protocol is refused too.
    for older in range(PROTO):
        detail = refused(sync_request(a.sync_address, hello_msg(me, protocol=older)),
                         "protocol_version")
        assert f"speaks {PROTO}" in detail, detail
    # A message of the previous version (before dense origin sequences) is refused whole.
    refused(sync_request(a.sync_address, hello_msg(me, protocol=PROTO - 1, version=PROTO - 1)),
            "protocol_version")
    # Other ops of another version as well, before anything is looked at.
    refused(sync_request(a.sync_address, [7, "push", {"junk": True}]), "protocol_version")
    reply = sync_request(a.sync_address, hello_msg(me))
    assert reply[1] == "hello_ok" and reply[2]["accepted"] is True, reply
    assert id_str(reply[2]["responder"]) == a.instance_id
    assert a.sync_status()["inbound"] == []


def test_bad_frames_get_errors_and_change_nothing(cluster):
    a, b = pair(cluster)
    coll = a.collective("guarded", DIM)["id"]
    for i in range(3):
        post_exp(a, coll, f"e{i}", i)
    cluster.wait_converged()
    cluster.wait_quiet()
    # Changes B does not have: from a lone node C.
    c = cluster.add("c")
    cc = c.collective("from-c", DIM)["id"]
    post_exp(c, cc, "c0")
    post_exp(c, cc, "c1")
    blobs = changes_of(c)
    assert len(blobs) == 3 and all(msgpack.unpackb(x)[0] == i + 1 for i, x in enumerate(blobs))

    target = uuid.UUID(b.instance_id).bytes
    me = uuid.uuid4().bytes
    before = (b.collective_ids(), b.digest(coll), b.stats())

    def push(changes, to=target, **extra):
        return [PROTO, "push", {"source": me, "target": to, "changes": changes, **extra}]

    pull = {"source": me, "target": target, "cursor": 0, "max_changes": 10,
            "max_bytes": 1 << 20, "wait_ms": 0}
    hello_body = hello_msg(me)[2]
    bad = [
        (b"", "bad_request"),
        (b"\xc1 garbage \x00\xff", "bad_request"),
        (msgpack.packb(push(blobs))[:-7], "bad_request"),                  # truncated
        (msgpack.packb(push(blobs)) + b"\x00", "bad_request"),             # trailing byte
        (msgpack.packb({"v": 1}), "bad_request"),
        (msgpack.packb([PROTO, "push"]), "bad_request"),
        (msgpack.packb([PROTO, "frob", {}]), "bad_request"),
        (msgpack.packb([PROTO, "hello_ok", {}]), "bad_request"),
        (msgpack.packb([PROTO, "hello", {**hello_body, "extra": 1}]), "bad_request"),
        (msgpack.packb([PROTO, "hello", {"instance": me}]), "bad_request"),
        (msgpack.packb([PROTO, "hello", {**hello_body, "instance": b"short"}]), "bad_request"),
        (msgpack.packb([PROTO, "pull", {**pull, "max_changes": 0}]), "bad_request"),
        (msgpack.packb([PROTO, "pull", {**pull, "wait_ms": 10 ** 9}]), "bad_request"),
        (msgpack.packb([PROTO, "pull", {**pull, "target": me}]), "bad_request"),
        (msgpack.packb([PROTO, "snapshot", {"source": me, "target": target, "max_entities": 5,
                                        "page_token": "nope"}]), "bad_request"),
        (msgpack.packb(push(blobs, to=me)), "bad_request"),                # not B
        (msgpack.packb(push(blobs, to=None)), "bad_request"),
        (msgpack.packb(push([blobs[1], blobs[0], blobs[2]])), "bad_request"),  # seq order
        (msgpack.packb(push([blobs[0], blobs[0]])), "bad_request"),        # repeated
        (msgpack.packb(push([blobs[0], blobs[1][:12]])), "bad_request"),   # cut change
        (msgpack.packb(push([blobs[0], b"\x93\x01\x02\x03"])), "bad_request"),
        (msgpack.packb(push([blobs[0], "text, not bin"])), "bad_request"),
        (msgpack.packb(push([b"x"] * 10001)), "too_large"),                # over the batch
    ]
    for raw, code in bad:
        detail = refused(sync_request(b.sync_address, raw), code)
        assert len(detail) < 1024, detail
    # More than one frame is not a request.
    refused(sync_request(b.sync_address, None, frames=[msgpack.packb(hello_msg(me)), b"x"]),
            "bad_request")
    # A frame over 32 MiB: the connection is dropped before it is read.
    assert sync_request(b.sync_address, b"\x00" * ((32 << 20) + 1), timeout_ms=2000) is None

    after = (b.collective_ids(), b.digest(coll), b.stats())
    assert after[0] == before[0] and after[1] == before[1], (before, after)
    for k in ("wal_head", "applied", "known", "missing", "installed"):
        assert after[2][k] == before[2][k], (k, before[2], after[2])
    assert b.syncer.poll() is None
    # Still serving: the same changes in order are taken, and sync goes on.
    reply = sync_request(b.sync_address, push(blobs))
    assert reply[1] == "push_ok" and reply[2]["accepted"] == 3, reply
    assert reply[2]["safe_through"] == 3, reply
    assert cc in b.collective_ids()
    post_exp(a, coll, "after")
    cluster.wait_converged(nodes=[a, b], coll_ids=[coll])


def forged(blob, **at):
    """An encoded change with some items replaced (by index name)."""
    names = ["seq", "origin", "origin_seq", "hlc"]
    items = msgpack.unpackb(blob, raw=False)
    for k, v in at.items():
        items[names.index(k)] = v
    return msgpack.packb(items, use_bin_type=True)


def inbound_of(node, instance):
    return next((i for i in node.sync_status()["inbound"] if i["instance_id"] == instance),
                None)


def test_forged_change_under_the_receivers_origin_is_refused(cluster):
    """A change naming the receiver as its origin that it never wrote would
    raise its own vector entry: its next writes would look old to peers and
    never replicate. Refused whole, shown in status; a true echo is stale."""
    a, b = pair(cluster)
    coll = b.collective("own", DIM)["id"]
    post_exp(b, coll, "b0")
    cluster.wait_converged()
    cluster.wait_quiet()
    me = uuid.uuid4()
    target = uuid.UUID(b.instance_id).bytes
    own = [x for x in changes_of(b) if msgpack.unpackb(x)[1] == target]
    head, hlc = b.wal_head(), msgpack.unpackb(own[-1])[3]
    before = (b.digest(coll), b.stats())

    def push(changes):
        return sync_request(b.sync_address, [PROTO, "push", {"source": me.bytes, "target": target,
                                                          "changes": changes}])
    attempts = [
        forged(own[-1], origin_seq=1000000, hlc=hlc + 1),     # far ahead
        forged(own[-1], origin_seq=head + 1, hlc=hlc + 1),     # the next local write's
        forged(own[-1], hlc=hlc + 1),                          # at its seq, other bytes
    ]
    for change in attempts:
        detail = refused(push([change]), "bad_request")
        assert "forged" in detail, detail
    # Only what b really wrote comes back as known.
    reply = push([forged(own[-1], seq=99)])
    assert reply[1] == "push_ok" and reply[2]["stale"] == 1 and reply[2]["accepted"] == 0, reply
    after = (b.digest(coll), b.stats())
    assert after[0] == before[0] and after[1]["wal_head"] == head, (before, after)
    wait_for(lambda: (inbound_of(b, str(me)) or {}).get("refused") == 3,
             what="status showing the refusals", detail=lambda: b.sync_status()["inbound"])
    row = inbound_of(b, str(me))
    assert "forged" in row["last_refusal"] and row["last_refused_ms"], row
    # b's later writes reach its peer and a fresh one: nothing looks old.
    for i in range(3):
        post_exp(b, coll, f"later{i}", i)
    c = cluster.add("c", start=False)
    Cluster.link(c, b)
    c.start()
    b.stop_syncer()
    b.start_syncer()
    post_exp(b, coll, "last")
    cluster.wait_converged(coll_ids=[coll], timeout=30)
    assert get_json(c, f"/v1/collectives/{coll}/digest")["experiences"] == 5


def test_forged_jump_under_a_third_origin_is_held_back(cluster):
    """A whole copy whose origin_seq skips ahead in its origin's sequence
    would raise the receiver's vector entry for that origin, and the
    origin's real changes in between and after would look known there for
    ever. It is held back (nothing applied, shown in status), and the
    origin's later writes still reach the receiver and a fresh peer."""
    a, b = pair(cluster)
    coll = a.collective("jump", DIM)["id"]
    post_exp(a, coll, "a0")
    cluster.wait_converged()
    cluster.wait_quiet()
    me = uuid.uuid4()
    target = uuid.UUID(b.instance_id).bytes
    of_a = [x for x in changes_of(b) if msgpack.unpackb(x)[1] == uuid.UUID(a.instance_id).bytes]
    last = msgpack.unpackb(of_a[-1])
    head = b.wal_head()
    before = (b.digest(coll), b.stats())

    def push(changes):
        return sync_request(b.sync_address, [PROTO, "push", {"source": me.bytes,
                                                              "target": target,
                                                              "changes": changes}])
    jumps = [forged(of_a[-1], seq=1, origin_seq=last[2] + 1000000, hlc=last[3] + 1),
             forged(of_a[-1], seq=1, origin_seq=last[2] + 2, hlc=last[3] + 1)]
    for change in jumps:
        reply = push([change])
        assert reply[1] == "push_ok", reply
        assert reply[2]["accepted"] == 0 and reply[2]["missing"] == 1, reply
        assert reply[2]["safe_through"] == 0, reply
    after = (b.digest(coll), b.stats())
    assert after[0] == before[0] and after[1]["wal_head"] == head, (before, after)
    wait_for(lambda: (inbound_of(b, str(me)) or {}).get("refused") == 2,
             what="status showing the hold-backs", detail=lambda: b.sync_status()["inbound"])
    row = inbound_of(b, str(me))
    assert "skips its origin's changes" in row["last_refusal"], row
    # a's later writes reach b, and through b a fresh peer.
    for i in range(3):
        post_exp(a, coll, f"later{i}", i)
    c = cluster.add("c", start=False)
    Cluster.link(c, b)
    c.start()
    b.stop_syncer()
    b.start_syncer()
    cluster.wait_converged(coll_ids=[coll], timeout=30)
    assert get_json(c, f"/v1/collectives/{coll}/digest")["experiences"] == 4
    assert get_json(b, f"/v1/collectives/{coll}/digest")["experiences"] == 4


def test_made_up_callers_cannot_pin_the_wal_or_the_snapshot_slots(cluster):
    """An unauthenticated pull from a made-up instance id holds no WAL, and
    snapshot sessions opened from made-up ids and left keep a real new peer
    out only for seconds."""
    a = cluster.add("a")
    coll = a.collective("pinned", DIM)["id"]
    for i in range(3):
        post_exp(a, coll, f"e{i}", i)
    target = uuid.UUID(a.instance_id).bytes
    drifter = uuid.uuid4()
    reply = sync_request(a.sync_address, [PROTO, "pull", {
        "source": drifter.bytes, "target": target, "cursor": 0, "max_changes": 10,
        "max_bytes": 1 << 20, "wait_ms": 0, "vector": {}}])
    assert reply[1] == "pull_ok", reply
    for _ in range(8):
        reply = sync_request(a.sync_address, [PROTO, "snapshot", {
            "source": uuid.uuid4().bytes, "target": target, "max_entities": 1}])
        assert reply[1] == "snapshot_ok" and not reply[2]["done"], reply
    wait_for(lambda: inbound_of(a, str(drifter)) is not None, what="the drifter's row")
    row = inbound_of(a, str(drifter))
    assert row["holds_wal"] is False and row["wal_held_back"] == 0, row
    assert a.sync_status()["wal"]["held_back_by"] is None
    # A real new peer gets its snapshot once the idle sessions yield.
    b = cluster.add("b", start=False)
    b.add_peer(a, "pull")
    b.start()
    wait_for(lambda: b.digest(coll) == a.digest(coll), timeout=40,
             what="b's initial sync", detail=lambda: b.log_tail("syncer", 10))


def test_change_over_the_size_limit_is_too_large(cluster):
    """One change over PDB_CHANGE_MAX is too_large (docs/sync-protocol.md's
    bounds), not bad_request."""
    a = cluster.add("a")
    me = uuid.uuid4().bytes
    target = uuid.UUID(a.instance_id).bytes
    big = b"\x00" * ((512 << 10) + 1024)
    reply = sync_request(a.sync_address, [PROTO, "push", {"source": me, "target": target,
                                                      "changes": [big]}])
    refused(reply, "too_large")
