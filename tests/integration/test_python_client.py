"""The Python client (clients/python) against real nodes: it installs with
pip, covers the API the README's tour walks through, raises one exception
type per error code the server sends, resumes a watch after a dropped
connection and after a restart of its own, and reads sync status between
two syncing nodes."""
import base64
import os
import re
import struct
import subprocess
import sys
import threading
import uuid

import msgpack
import pytest

from conftest import Cluster, free_port, wait_for
from test_auth import TOKENS, write_tokens

CLIENT_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "clients", "python")
sys.path.insert(0, os.path.join(CLIENT_DIR, "src"))

import pulsedb  # noqa: E402  (from the source tree, as installed by the test below)
from pulsedb import PulseDB  # noqa: E402

DIM = 4
NO_SUCH_ID = "00000000-0000-7000-8000-000000000000"


def next_event(watch, timeout=20):
    """The watch's next event; a test waiting longer than timeout fails
    rather than hangs (the watch is closed, which ends the iteration)."""
    guard = threading.Timer(timeout, watch.close)
    guard.start()
    try:
        return next(watch)
    except StopIteration:
        raise AssertionError(f"no event within {timeout}s") from None
    finally:
        guard.cancel()


@pytest.fixture
def db(node):
    """A client of `node`, its connection closed before the node stops (a
    stopping gateway waits for open keep-alive connections)."""
    client = PulseDB(node.url)
    yield client
    client.close()


def test_client_installs_with_pip_without_network(tmp_path):
    target = tmp_path / "site"
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                        "--no-index", "--disable-pip-version-check",
                        "--target", str(target), CLIENT_DIR],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (target / "pulsedb" / "py.typed").exists()
    r = subprocess.run([sys.executable, "-c", "import pulsedb, sys; print(pulsedb.__file__)"],
                       capture_output=True, text=True, timeout=30,
                       env=dict(os.environ, PYTHONPATH=str(target)), cwd=str(tmp_path))
    assert r.returncode == 0 and r.stdout.startswith(str(target)), r.stdout + r.stderr


def test_tour_collectives_experiences_relations_insights_search(db):
    assert db.health() == {"status": "ok"}
    team = db.collectives.create("team", embedding_dim=DIM)
    assert db.collectives.get(team["id"])["name"] == "team"
    assert [c["id"] for c in db.collectives.list()] == [team["id"]]

    fix = db.experiences.create(team["id"], "retry with backoff fixed the flaky upload",
                                [0.9, 0.1, 0, 0], importance=0.8, domain=["networking"],
                                type={"kind": "solution", "problem_ref": None,
                                      "approach": "exponential backoff", "worked": True})
    fact = db.experiences.create(team["id"], "the CI runner has 2 cores", [0, 0, 1, 0],
                                 type={"kind": "fact", "statement": "2 cores",
                                       "source": "nproc"})
    assert fix["importance"] == 0.8 and "embedding" not in fix
    got = db.experiences.get(fix["id"])
    assert got["content"].startswith("retry") and len(got["embedding"]) == DIM
    assert db.experiences.patch(fix["id"], importance=0.9, tags={"team": "infra"})["tags"] \
        == {"team": "infra"}
    assert db.experiences.reinforce(fix["id"])["applications"] == 1

    hits = db.search(team["id"], [1, 0, 0, 0], k=5)
    assert [h["id"] for h in hits] == [fix["id"], fact["id"]]
    assert hits[0]["score"] > hits[1]["score"]
    assert [h["id"] for h in db.search(team["id"], [1, 0, 0, 0], type="fact")] == [fact["id"]]

    rel = db.relations.create(fact["id"], fix["id"], "supports", strength=0.5)
    assert db.relations.get(rel["id"])["type"] == "supports"
    assert [r["id"] for r in db.experiences.relations(fix["id"])] == [rel["id"]]
    ins = db.insights.create(team["id"], "backoff helps on small runners", [1, 0, 1, 0],
                             "synthesis", source_ids=[fix["id"], fact["id"]])
    assert db.insights.get(ins["id"])["source_ids"] == [fix["id"], fact["id"]]

    status = db.status()
    assert status["counts"] == {"collectives": 1, "experiences": 2, "relations": 1,
                                "insights": 1}
    assert db.collectives.digest(team["id"])["experiences"] == 2
    assert "pulsedb_gateway_info" in db.metrics()

    db.relations.delete(rel["id"])
    db.insights.delete(ins["id"])
    db.experiences.delete(fact["id"])
    with pytest.raises(pulsedb.NotFound):
        db.experiences.get(fact["id"])
    db.collectives.delete(team["id"])
    assert db.collectives.list() == []


def requests_by_status(db):
    """The gateway's own count of replies by status (its /metrics)."""
    out = {}
    for line in db.metrics().splitlines():
        m = re.match(r'pulsedb_http_requests_total\{code="(\d+)"\} (\d+)$', line)
        if m:
            out[int(m.group(1))] = int(m.group(2))
    return out


def test_create_batch_is_all_or_nothing_and_names_the_refused_item(db):
    c = db.collectives.create("batch", DIM)["id"]
    compact = base64.b64encode(struct.pack("<4f", 0, 1, 0.5, 0)).decode()
    ids = db.experiences.create_batch(c, [
        {"content": "first", "embedding": [1, 0, 0, 0], "importance": 0.7,
         "type": {"kind": "fact", "statement": "s", "source": "t"}},
        {"content": "second", "embedding_b64": compact},
        {"content": "third", "embedding": [0, 0, 1, 0], "domain": ["ops"]}])
    assert len(ids) == 3 and len(set(ids)) == 3
    got = [db.experiences.get(i) for i in ids]
    assert [e["content"] for e in got] == ["first", "second", "third"]
    assert got[0]["importance"] == 0.7 and got[0]["type"]["kind"] == "fact"
    assert got[1]["embedding"] == [0, 1, 0.5, 0] and got[2]["domain"] == ["ops"]
    assert db.status()["counts"]["experiences"] == 3

    # One bad item refuses the whole batch: nothing written, the item named.
    items = [{"content": f"x{i}", "embedding": [1, i, 0, 0]} for i in range(10)]
    items[6]["importance"] = 2
    with pytest.raises(pulsedb.BadRequest) as info:
        db.experiences.create_batch(c, items)
    err = info.value
    assert (err.status, err.code, err.index) == (400, "bad_request", 6), err
    assert err.message.startswith("experiences[6]: ") and "importance" in err.message
    items[6] = {"content": "x6", "embedding": [1, 2]}          # the wrong size
    with pytest.raises(pulsedb.BadRequest) as info:
        db.experiences.create_batch(c, items)
    assert info.value.index == 6, info.value
    items[6] = {"content": "x6", "embedding": [1, 6, 0, 0], "source_agent": "é" * 65}
    with pytest.raises(pulsedb.TooLarge) as info:                # a value over its limit
        db.experiences.create_batch(c, items)
    assert (info.value.status, info.value.index) == (413, 6), info.value
    assert db.status()["counts"]["experiences"] == 3

    # Refusals of the request as a whole name no item.
    with pytest.raises(pulsedb.TooLarge) as info:
        db.experiences.create_batch(c, [{"content": "y", "embedding": [1, 0, 0, 0]}] * 1001)
    assert info.value.index is None and "1000" in info.value.message
    with pytest.raises(pulsedb.BadRequest) as info:
        db.experiences.create_batch(c, [])
    assert info.value.index is None
    with pytest.raises(pulsedb.NotFound) as info:
        db.experiences.create_batch(NO_SUCH_ID, items[:1])
    assert info.value.index is None
    assert db.status()["counts"]["experiences"] == 3
    # Errors other than a batch's carry no index either.
    with pytest.raises(pulsedb.BadRequest) as info:
        db.experiences.create(c, "z", [0, 0, 0, 0])
    assert info.value.index is None


def test_list_pages_and_import_with_progress(db):
    c = db.collectives.create("bulk", DIM)["id"]
    items = [{"content": f"item {i}", "embedding": [1, i, 0, 0]} for i in range(60)]
    items[17] = {"content": "no embedding"}                  # refused by the server
    items[42] = {"content": "zero", "embedding": [0, 0, 0, 0]}
    seen = []
    before = requests_by_status(db)
    result = db.experiences.import_(c, items, batch_size=25, concurrency=4,
                                    progress=seen.append)
    assert (result.imported, result.failed, result.stopped) == (58, 2, False)
    assert sorted(i for i, _ in result.errors) == [17, 42]
    for index, error in result.errors:
        # The item's place in the input, not in the request that carried it.
        assert isinstance(error, pulsedb.BadRequest) and error.index == index, error
        assert "experiences[" not in error.message, error.message
    # Batches of 25: 0-24, 25-49 and 50-59, the first two each refused for
    # one item and sent again without it; a report after each request.
    after = requests_by_status(db)
    assert after.get(201, 0) - before.get(201, 0) == 3
    assert after.get(400, 0) - before.get(400, 0) == 2
    assert result.requests == 5 and len(seen) == 5
    assert [p.done for p in seen] == sorted(p.done for p in seen) and seen[-1].done == 60
    assert seen[-1].total == 60 and seen[-1].failed == 2 and seen[-1].eta_s == 0

    page = db.experiences.list(c, limit=25)
    assert len(page["experiences"]) == 25 and page["next_cursor"]
    everything = list(db.experiences.iter(c, page_size=25))
    assert {e["content"] for e in everything} == \
        {f"item {i}" for i in range(60)} - {"item 17", "item 42"}
    assert len({e["id"] for e in everything}) == 58

    # stop_on_error stops at the first refusal: the items before it are
    # written, none after; a generator has no total.
    bad = ({"content": f"g{i}", "embedding": [1, 0, 0, 0] if i != 3 else [0, 0, 0, 0]}
           for i in range(100))
    result = db.experiences.import_(c, bad, concurrency=1, stop_on_error=True)
    assert result.stopped and result.failed == 1 and result.imported == 3
    assert [i for i, _ in result.errors] == [3]
    contents = {e["content"] for e in db.experiences.iter(c, page_size=1000)}
    assert {"g0", "g1", "g2"} <= contents and not contents & {f"g{i}" for i in range(3, 100)}


def test_import_sends_batches_of_up_to_1000_items_and_1_mib(db):
    c = db.collectives.create("big", DIM)["id"]
    before = requests_by_status(db)
    compact = base64.b64encode(struct.pack("<4f", 1, 0, 0, 0)).decode()
    items = ({"content": f"n{i}", **({"embedding": [1, i, 0, 0]} if i % 2 else
                                      {"embedding_b64": compact})} for i in range(2500))
    result = db.experiences.import_(c, items)
    assert (result.imported, result.failed, result.stopped) == (2500, 0, False)
    assert result.requests == 3                             # 1000, 1000, 500
    after = requests_by_status(db)
    assert after.get(201, 0) - before.get(201, 0) == 3
    assert db.collectives.digest(c)["experiences"] == 2500

    # ~1.6 KB items: 1 MiB fills before 1000 do. One item larger than any
    # request can carry fails without being sent, the others go.
    d = db.collectives.create("wide", DIM)["id"]
    items = [{"content": f"{i:04d}" + "w" * 1600, "embedding": [1, i, 0, 0]} for i in range(1000)]
    items[500] = {"content": "h" * 60000, "embedding": [1, 0, 0, 0], "tags": {"t": "v" * 4000},
                  "related_files": ["f" * 4000] * 256}
    before = requests_by_status(db)
    result = db.experiences.import_(d, items)
    assert (result.imported, result.failed) == (999, 1), result.errors[:3]
    index, error = result.errors[0]
    assert index == 500 and isinstance(error, pulsedb.TooLarge) and error.index == 500
    after = requests_by_status(db)
    assert after.get(201, 0) - before.get(201, 0) == result.requests == 2
    assert after.get(413, 0) == before.get(413, 0)
    assert db.collectives.digest(d)["experiences"] == 999


def test_each_error_is_an_exception_with_the_servers_code(make_node, tmp_path, monkeypatch):
    n = make_node("open")
    db = PulseDB(n.url)
    c = db.collectives.create("errs", DIM)["id"]
    cases = [
        (pulsedb.BadRequest, 400, lambda: db.experiences.create(c, "x", [0, 0, 0, 0])),
        (pulsedb.NotFound, 404, lambda: db.collectives.get(NO_SUCH_ID)),
        (pulsedb.Conflict, 409, lambda: db.collectives.create("errs", DIM)),
        (pulsedb.TooLarge, 413, lambda: db.experiences.create(c, "x" * (65 << 10), [1, 0, 0, 0])),
        (pulsedb.MethodNotAllowed, 405, lambda: db.request("PUT", "/v1/status")),
        (pulsedb.UnsupportedMediaType, 415,
         lambda: db.request("POST", "/v1/collectives", data=b"name=x", content_type="text/plain")),
    ]
    for cls, status, call in cases:
        with pytest.raises(cls) as info:
            call()
        assert info.value.status == status and info.value.code == cls.code, info.value
        assert isinstance(info.value, pulsedb.APIError) and info.value.message
    assert db.status()["counts"]["experiences"] == 0

    # Tokens: none (401), a role below the endpoint's (403), from the
    # argument or from PULSEDB_TOKEN.
    s = make_node("secured", gateways=0)
    s.start_gateway(["--api-tokens", str(write_tokens(tmp_path / "tokens"))])
    monkeypatch.delenv("PULSEDB_TOKEN", raising=False)
    with pytest.raises(pulsedb.Unauthorized) as info:
        PulseDB(s.url).status()
    assert (info.value.status, info.value.code) == (401, "unauthorized")
    with pytest.raises(pulsedb.Forbidden) as info:
        PulseDB(s.url, token=TOKENS["read"]).collectives.create("no", DIM)
    assert (info.value.status, info.value.code) == (403, "forbidden")
    monkeypatch.setenv("PULSEDB_TOKEN", TOKENS["write"])
    assert PulseDB(s.url).collectives.create("yes", DIM)["name"] == "yes"

    # Storage down: 503; nothing listening: ConnectionFailed.
    n.stop_process(n.storage)
    with pytest.raises(pulsedb.Unavailable) as info:
        db.experiences.create(c, "x", [1, 0, 0, 0])
    assert (info.value.status, info.value.code) == (503, "unavailable")
    with pytest.raises(pulsedb.ConnectionFailed) as info:
        PulseDB(f"http://127.0.0.1:{free_port()}").status()
    assert info.value.status is None and info.value.code == "unreachable"


def test_watch_resumes_after_a_dropped_connection_and_from_the_last_event_id(node, db):
    c = db.collectives.create("w", DIM)["id"]
    first = db.experiences.create(c, "one", [1, 0, 0, 0])
    watch = db.watch(c, from_seq=0)
    created = [next_event(watch), next_event(watch)]
    assert [(e.event, e.data["entity"], e.data["op"]) for e in created] == \
        [("change", "collective", "create"), ("change", "experience", "create")]
    assert created[1].data["entity_id"] == first["id"]
    assert watch.last_event_id == created[1].id

    # The gateway restarts under the stream, and a change is written while
    # it is down (straight to storage): the stream reconnects with
    # Last-Event-ID and goes on from that change, none repeated or missed.
    # The stream is read meanwhile, so the stopping gateway sees it close.
    second = {}

    def restart_with_a_write_while_down():
        db.close()
        node.stop_process(node.gateways.pop())
        fields = msgpack.packb({"content": "two", "embedding": struct.pack("<4f", 0, 1, 0, 0)},
                               use_bin_type=True)
        reply = node.storage_call("write", [2, 1, uuid.UUID(c).bytes, None, fields])
        node.start_gateway()
        if reply[1] == 0:
            second["id"] = str(uuid.UUID(bytes=bytes(reply[3][0])))
        else:     # an event all the same, so the reader below does not wait forever
            second["failed"] = reply
            db.experiences.create(c, "two", [0, 1, 0, 0])
    restarter = threading.Thread(target=restart_with_a_write_while_down)
    restarter.start()
    event = next_event(watch)
    restarter.join()
    assert "failed" not in second, second
    assert watch.reconnects >= 1
    assert event.data["entity_id"] == second["id"] and event.id == created[1].id + 1
    resume_at = watch.last_event_id
    watch.close()

    # A new watch from where the old one stopped sees exactly what followed.
    db.experiences.patch(second["id"], importance=0.7)
    third = db.experiences.create(c, "three", [0, 0, 1, 0])
    with db.watch(c, last_event_id=resume_at) as again:
        got = [next_event(again), next_event(again)]
    assert [(e.data["entity_id"], e.data["op"]) for e in got] == \
        [(second["id"], "update"), (third["id"], "create")]
    assert got[0].id == resume_at + 1

    # Without a position it starts at the head: only new changes.
    with db.watch(c) as fresh:
        fourth = db.experiences.create(c, "four", [1, 1, 0, 0])
        assert next_event(fresh).data["entity_id"] == fourth["id"]

    with pytest.raises(pulsedb.NotFound):
        db.watch(NO_SUCH_ID)


def test_sync_status_and_peers_between_two_syncing_nodes(cluster):
    a = cluster.add("a", start=False)
    b = cluster.add("b", start=False)
    Cluster.link(a, b)
    a.start()
    b.start()
    da, dbb = PulseDB(a.url), PulseDB(b.url)
    c = da.collectives.create("shared", DIM)["id"]
    wait_for(lambda: c in [x["id"] for x in dbb.collectives.list()], what="b has the collective")
    for i in range(4):
        dbb.experiences.create(c, f"from b {i}", [1, i, 0, 0])
    cluster.wait_converged()
    assert da.collectives.digest(c) == dbb.collectives.digest(c)
    cluster.wait_quiet()

    def in_step(client, peer):
        row = next(p for p in client.sync.status()["peers"] if p["name"] == peer)
        return row["state"] == "idle" and row["lag_changes"] == 0 and row["last_success_ms"]
    wait_for(lambda: in_step(da, "b") and in_step(dbb, "a"), what="both peers idle")
    status = da.sync.status()
    assert status["instance_id"] == a.instance_id
    assert status["wal"]["head"] == a.wal_head()
    assert [p["name"] for p in da.sync.peers()] == ["b"]
    assert da.sync.peers()[0]["defined_by"] == "config"

    added = da.sync.add_peer("gamma", "tcp://127.0.0.1:9", direction="push")
    assert added["name"] == "gamma" and added["direction"] == "push"
    with pytest.raises(pulsedb.Conflict):
        da.sync.add_peer("b", "tcp://127.0.0.1:9")
    da.sync.remove_peer("gamma")
    with pytest.raises(pulsedb.NotFound):
        da.sync.remove_peer("gamma")
    da.close()
    dbb.close()
