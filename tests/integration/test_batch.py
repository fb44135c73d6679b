"""POST /v1/collectives/{id}/experiences:batch: many creates in one request,
all or nothing, ids in item order, one durable commit (a storage killed right
after the 201 loses none of them)."""
import json
import signal
import subprocess

from conftest import PULSEDB, wait_for

LIMIT = 1000


def batch_path(coll_id):
    return f"/v1/collectives/{coll_id}/experiences:batch"


def items(n, prefix="b", dim=4):
    return [{"content": f"{prefix}{i}", "embedding": [float(i), 1.0, 0.0, 0.5][:dim],
             "importance": 0.25} for i in range(n)]


def counts(n):
    status = n.get("/v1/status").json()
    return status["counts"]["experiences"], status["wal"]["head"]


def test_batch_creates_every_item_with_ids_in_item_order(node):
    c = node.collective("kb", 4)
    r = node.post(batch_path(c["id"]), {"experiences": items(25)})
    assert r.status_code == 201, r.text
    ids = r.json()["ids"]
    assert len(ids) == 25 and len(set(ids)) == 25
    for i, exp_id in enumerate(ids):
        got = node.get(f"/v1/experiences/{exp_id}").json()
        assert got["content"] == f"b{i}"
        assert got["collective_id"] == c["id"]
        assert got["importance"] == 0.25
        assert got["embedding"] == [float(i), 1.0, 0.0, 0.5]
    assert counts(node) == (25, 26)     # one WAL entry per item after the collective


def test_batch_with_one_bad_item_writes_nothing_and_names_it(node):
    c = node.collective("kb", 4)
    before = counts(node)
    bad = items(10)
    bad[6]["importance"] = 2.0                      # a value out of range
    r = node.post(batch_path(c["id"]), {"experiences": bad})
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["index"] == 6
    assert err["message"].startswith("experiences[6]: ") and "importance" in err["message"]
    bad = items(10)
    bad[3]["embedding"] = [1.0, 2.0]                # the wrong size
    r = node.post(batch_path(c["id"]), {"experiences": bad})
    assert r.status_code == 400 and r.json()["error"]["index"] == 3, r.text
    bad = items(10)
    bad[9] = {"content": "no embedding"}
    r = node.post(batch_path(c["id"]), {"experiences": bad})
    assert r.status_code == 400 and r.json()["error"]["index"] == 9, r.text
    bad = items(3)
    bad[1] = "not an object"
    r = node.post(batch_path(c["id"]), {"experiences": bad})
    assert r.status_code == 400 and r.json()["error"]["index"] == 1, r.text
    assert counts(node) == before


def test_batch_limit_and_body_shape(node):
    c = node.collective("kb", 1)
    before = counts(node)
    many = [{"content": str(i), "embedding": [1.0]} for i in range(LIMIT + 1)]
    r = node.post(batch_path(c["id"]), {"experiences": many})
    assert r.status_code == 413, r.text
    assert str(LIMIT) in r.json()["error"]["message"]
    for body in ({"experiences": []}, {"experiences": {}}, {}, {"experiences": many[:1], "x": 1}):
        r = node.post(batch_path(c["id"]), body)
        assert r.status_code == 400, (body, r.text)
    assert counts(node) == before
    r = node.post(batch_path(c["id"]), {"experiences": many[:LIMIT]})
    assert r.status_code == 201, r.text
    assert len(r.json()["ids"]) == LIMIT
    assert counts(node) == (LIMIT, before[1] + LIMIT)


def test_batch_into_unknown_or_deleted_collective_is_404(node):
    c = node.collective("kb", 4)
    assert node.delete(f"/v1/collectives/{c['id']}").status_code == 204
    r = node.post(batch_path(c["id"]), {"experiences": items(2)})
    assert r.status_code == 404, r.text
    r = node.post(batch_path("01900000-0000-7000-8000-000000000000"), {"experiences": items(2)})
    assert r.status_code == 404, r.text


def test_batch_acknowledged_survives_storage_kill(make_node):
    n = make_node("crash")
    c = n.collective("kb", 4)
    acked = []
    for round_no in range(5):
        r = n.post(batch_path(c["id"]), {"experiences": items(200, prefix=f"r{round_no}-")})
        assert r.status_code == 201, r.text
        acked.append(r.json()["ids"])
        # Killed the moment the 201 is in: the commit must already be on disk.
        n.storage.send_signal(signal.SIGKILL)
        n.storage.wait()
        n.start_storage()
    wait_for(lambda: n.get("/health").status_code == 200, what="health after kills")
    for round_no, ids in enumerate(acked):
        for i, exp_id in enumerate(ids):
            r = n.get(f"/v1/experiences/{exp_id}")
            assert r.status_code == 200, (round_no, i)
            assert r.json()["content"] == f"r{round_no}-{i}"
    assert counts(n) == (1000, 1001)
    n.stop()


def test_import_reports_a_refused_line_and_sends_the_rest_of_its_batch(node, tmp_path):
    c = node.collective("imp", 4)["id"]
    lines = [{"content": f"l{i}", "embedding": [1, i, 0, 0]} for i in range(1, 51)]
    lines[19]["importance"] = 5          # line 20: valid JSON, refused by the server
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    r = subprocess.run([PULSEDB, "import", c, str(src), "--url", node.url, "--batch", "7"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1, r.stderr
    assert f"{src}:20: error: bad_request: field 'importance'" in r.stderr, r.stderr
    assert "experiences[" not in r.stderr
    assert "imported 49, failed 1" in r.stdout
    assert counts(node) == (49, 50)
    contents = set()
    cursor = None
    while True:
        page = node.get(f"/v1/collectives/{c}/experiences",
                        params={"limit": 1000, **({"cursor": cursor} if cursor else {})}).json()
        contents |= {e["content"] for e in page["experiences"]}
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert contents == {f"l{i}" for i in range(1, 51)} - {"l20"}
