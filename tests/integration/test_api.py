"""The HTTP API of one node, end to end: real storage and gateway processes."""
import json
import math
import uuid

import requests

from conftest import wait_for


def test_collective_create_list_get_delete(node):
    c = node.collective("alpha", 4)
    assert c["name"] == "alpha" and c["embedding_dim"] == 4
    uuid.UUID(c["id"])
    listed = node.get("/v1/collectives").json()["collectives"]
    assert [x["id"] for x in listed] == [c["id"]]
    assert node.get(f"/v1/collectives/{c['id']}").json()["name"] == "alpha"
    assert node.delete(f"/v1/collectives/{c['id']}").status_code == 204
    assert node.get(f"/v1/collectives/{c['id']}").status_code == 404
    assert node.get("/v1/collectives").json()["collectives"] == []


def test_duplicate_collective_name_is_409(node):
    node.collective("dup")
    r = node.post("/v1/collectives", {"name": "dup", "embedding_dim": 4})
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "conflict"


def test_experience_lifecycle(node):
    c = node.collective()
    e = node.experience(c["id"], "use retries", [0.5, 0.5, 0.0, 0.0], importance=0.9,
                        domain=["net"], tags={"k": "v"},
                        type={"kind": "solution", "problem_ref": None, "approach": "retry",
                              "worked": True})
    assert e["collective_id"] == c["id"] and e["content"] == "use retries"
    assert e["importance"] == 0.9 and e["domain"] == ["net"] and e["tags"] == {"k": "v"}
    assert e["type"]["kind"] == "solution" and e["type"]["worked"] is True
    got = node.get(f"/v1/experiences/{e['id']}").json()
    assert got["embedding"] == [0.5, 0.5, 0.0, 0.0]
    r = node.patch(f"/v1/experiences/{e['id']}", {"importance": 0.2, "archived": True})
    assert r.status_code == 200, r.text
    got = node.get(f"/v1/experiences/{e['id']}").json()
    assert got["importance"] == 0.2 and got["archived"] is True
    assert got["content"] == "use retries"
    assert node.delete(f"/v1/experiences/{e['id']}").status_code == 204
    assert node.get(f"/v1/experiences/{e['id']}").status_code == 404
    assert node.patch(f"/v1/experiences/{e['id']}", {"importance": 0.3}).status_code == 404


def test_every_experience_type_variant_round_trips(node):
    c = node.collective()
    variants = [
        {"kind": "generic", "category": "misc"},
        {"kind": "difficulty", "description": "hard", "severity": "high"},
        {"kind": "error_pattern", "signature": "E1", "fix": "f", "prevention": "p"},
        {"kind": "success_pattern", "task_type": "t", "approach": "a", "quality": 0.7},
        {"kind": "user_preference", "category": "c", "preference": "p", "strength": 0.4},
        {"kind": "architectural_decision", "decision": "d", "rationale": "r"},
        {"kind": "tech_insight", "technology": "lmdb", "insight": "mmap"},
        {"kind": "fact", "statement": "s", "source": "src"},
    ]
    for v in variants:
        e = node.experience(c["id"], "x", type=v)
        assert node.get(f"/v1/experiences/{e['id']}").json()["type"] == v


def test_pagination_walks_every_experience_once(node):
    c = node.collective()
    ids = {node.experience(c["id"], f"e{i}")["id"] for i in range(25)}
    seen, cursor = [], None
    while True:
        q = "?limit=10" + (f"&cursor={cursor}" if cursor else "")
        page = node.get(f"/v1/collectives/{c['id']}/experiences{q}").json()
        assert len(page["experiences"]) <= 10
        seen += [e["id"] for e in page["experiences"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == 25 and set(seen) == ids


def test_reinforce_counts_applications(node):
    c = node.collective()
    e = node.experience(c["id"])
    for _ in range(3):
        r = node.post(f"/v1/experiences/{e['id']}/reinforce")
        assert r.status_code == 200, r.text
    got = node.get(f"/v1/experiences/{e['id']}").json()
    assert got["applications"] == 3
    assert got["last_reinforced"] >= got["created_at"]


def test_relations_and_cascade_on_experience_delete(node):
    c = node.collective()
    a, b = node.experience(c["id"], "a"), node.experience(c["id"], "b")
    r = node.post("/v1/relations", {"source": a["id"], "target": b["id"], "type": "supports",
                                    "strength": 0.8})
    assert r.status_code == 201, r.text
    rel = r.json()
    assert rel["collective_id"] == c["id"] and rel["type"] == "supports"
    assert [x["id"] for x in node.get(f"/v1/experiences/{b['id']}/relations").json()["relations"]] == [rel["id"]]
    node.delete(f"/v1/experiences/{a['id']}")
    assert node.get(f"/v1/experiences/{b['id']}/relations").json()["relations"] == []
    assert node.delete(f"/v1/relations/{rel['id']}").status_code == 404


def test_relation_to_unknown_experience_is_404(node):
    c = node.collective()
    a = node.experience(c["id"])
    r = node.post("/v1/relations", {"source": a["id"], "target": str(uuid.uuid4()), "type": "supports"})
    assert r.status_code == 404


def test_insights(node):
    c = node.collective()
    e = node.experience(c["id"])
    r = node.post(f"/v1/collectives/{c['id']}/insights",
                  {"content": "pattern", "embedding": [0, 1, 0, 0], "source_ids": [e["id"]],
                   "type": "pattern", "confidence": 0.6})
    assert r.status_code == 201, r.text
    i = r.json()
    got = node.get(f"/v1/insights/{i['id']}").json()
    assert got["content"] == "pattern" and got["source_ids"] == [e["id"]]
    assert node.delete(f"/v1/insights/{i['id']}").status_code == 204
    assert node.get(f"/v1/insights/{i['id']}").status_code == 404


def test_collective_delete_removes_contents(node):
    c = node.collective()
    e = node.experience(c["id"])
    node.delete(f"/v1/collectives/{c['id']}")
    assert node.get(f"/v1/experiences/{e['id']}").status_code == 404
    assert node.get("/v1/status").json()["counts"]["experiences"] == 0


def test_search_ranks_by_cosine_and_filters(node):
    c = node.collective("s", 4)
    near = node.experience(c["id"], "near", [1, 0.1, 0, 0], importance=0.9, domain=["a"])
    mid = node.experience(c["id"], "mid", [1, 1, 0, 0], importance=0.1, domain=["b"])
    node.experience(c["id"], "far", [0, 0, 0, 1])
    arch = node.experience(c["id"], "archived", [1, 0, 0, 0])
    node.patch(f"/v1/experiences/{arch['id']}", {"archived": True})
    r = node.post(f"/v1/collectives/{c['id']}/search", {"embedding": [1, 0, 0, 0], "k": 2})
    assert r.status_code == 200, r.text
    res = r.json()["results"]
    assert [x["id"] for x in res] == [near["id"], mid["id"]]
    assert math.isclose(res[1]["score"], 1 / math.sqrt(2), rel_tol=1e-5)
    assert res[0]["experience"]["content"] == "near"
    only_b = node.post(f"/v1/collectives/{c['id']}/search",
                       {"embedding": [1, 0, 0, 0], "k": 5, "domain": "b"}).json()["results"]
    assert [x["id"] for x in only_b] == [mid["id"]]
    important = node.post(f"/v1/collectives/{c['id']}/search",
                          {"embedding": [1, 0, 0, 0], "k": 5, "min_importance": 0.6}).json()["results"]
    assert [x["id"] for x in important] == [near["id"]]
    with_arch = node.post(f"/v1/collectives/{c['id']}/search",
                          {"embedding": [1, 0, 0, 0], "k": 1, "include_archived": True}).json()["results"]
    assert with_arch[0]["id"] == arch["id"]
    bad = node.post(f"/v1/collectives/{c['id']}/search", {"embedding": [1, 0], "k": 2})
    assert bad.status_code == 400


def test_search_of_extreme_magnitudes_scores_exact_match_one(node):
    """Embeddings whose float32 squares overflow (3e38, 1e20) or underflow
    (1e-30) still rank their exact match first with score 1, never 500."""
    c = node.collective("extreme", 4)
    vectors = [[3e38, 3e38, 0, 0], [1e20, 0, 0, 0], [1e-30, 0, 0, 1e-30], [1, 2, 3, 4]]
    made = [node.experience(c["id"], f"v{i}", v)["id"] for i, v in enumerate(vectors)]
    for i, v in enumerate(vectors):
        r = node.post(f"/v1/collectives/{c['id']}/search", {"embedding": v, "k": 4})
        assert r.status_code == 200, r.text
        res = r.json()["results"]
        assert res[0]["id"] == made[i]
        assert math.isclose(res[0]["score"], 1.0, rel_tol=1e-6)
        assert all(-1.0 <= x["score"] <= 1.0 for x in res)


def test_zero_embedding_is_refused_for_writes_and_queries(node):
    c = node.collective("zero", 4)
    node.experience(c["id"], "one", [1, 0, 0, 0])
    head = node.get("/v1/status").json()["wal"]["head"]
    for path, body in [("experiences", {"content": "z", "embedding": [0, 0, 0, 0]}),
                       ("experiences", {"content": "z", "embedding": [-0.0, 0, 0, 0]}),
                       ("insights", {"content": "z", "embedding": [0, 0, 0, 0],
                                     "type": "pattern", "source_ids": []}),
                       ("search", {"embedding": [0, 0, 0, 0], "k": 1})]:
        r = node.post(f"/v1/collectives/{c['id']}/{path}", body)
        assert r.status_code == 400, (path, r.text)
        assert "all zeros" in r.json()["error"]["message"]
    assert node.get("/v1/status").json()["wal"]["head"] == head


def test_digest_tracks_content(node):
    c = node.collective()
    d0 = node.get(f"/v1/collectives/{c['id']}/digest").json()["digest"]
    e = node.experience(c["id"])
    d1 = node.get(f"/v1/collectives/{c['id']}/digest").json()["digest"]
    assert d1 != d0
    assert node.get(f"/v1/collectives/{c['id']}/digest").json()["digest"] == d1
    node.patch(f"/v1/experiences/{e['id']}", {"importance": 0.11})
    assert node.get(f"/v1/collectives/{c['id']}/digest").json()["digest"] != d1


def test_status_health_metrics(node):
    c = node.collective()
    node.experience(c["id"])
    st = node.get("/v1/status").json()
    uuid.UUID(st["instance_id"])
    assert st["wal"]["head"] >= 2 and st["counts"]["collectives"] == 1
    assert node.get("/health").status_code == 200
    m = node.get("/metrics")
    assert m.status_code == 200 and "pulsedb_wal_head" in m.text
    # The two creates went to storage, in at most two messages.
    counters = dict(line.split() for line in m.text.splitlines()
                    if line.startswith("pulsedb_gateway_storage_"))
    assert int(counters["pulsedb_gateway_storage_writes_total"]) == 2
    assert 1 <= int(counters["pulsedb_gateway_storage_messages_total"]) <= 2


def test_watch_streams_changes_and_resumes(node):
    c = node.collective()
    e = node.experience(c["id"], "first")
    with requests.get(node.url + f"/v1/collectives/{c['id']}/watch?from=0", stream=True,
                      timeout=10) as r:
        assert r.status_code == 200
        assert r.headers["Content-Type"].startswith("text/event-stream")
        events = []
        node.experience(c["id"], "second")
        for line in r.iter_lines(decode_unicode=True):
            if line.startswith("data:"):
                event = json.loads(line[5:])
                if event["entity"] == "experience":
                    events.append(event)
            if len(events) >= 2:
                break
    assert events[0]["entity_id"] == e["id"]
    assert events[1]["fields"]["content"] == "second"
    assert events[0]["seq"] < events[1]["seq"]


def test_several_gateways_share_one_port(make_node):
    n = make_node("multi", gateways=2)
    c = n.collective()
    for i in range(20):
        n.experience(c["id"], f"e{i}")
    n.stop_process(n.gateways[0])
    wait_for(lambda: n.get("/health").status_code == 200, what="second gateway")
    assert n.get("/v1/status").json()["counts"]["experiences"] == 20
    n.stop()


def test_restart_keeps_all_data(make_node):
    n = make_node("r")
    c = n.collective()
    ids = [n.experience(c["id"], f"e{i}")["id"] for i in range(10)]
    digest = n.get(f"/v1/collectives/{c['id']}/digest").json()["digest"]
    instance = n.get("/v1/status").json()["instance_id"]
    assert n.stop() == [0, 0]
    n.start()
    assert n.get("/v1/status").json()["instance_id"] == instance
    assert n.get(f"/v1/collectives/{c['id']}/digest").json()["digest"] == digest
    for i in ids:
        assert n.get(f"/v1/experiences/{i}").status_code == 200
    n.stop()


def test_storage_down_gives_503_then_recovers(make_node):
    n = make_node("down")
    c = n.collective()
    n.stop_process(n.storage)
    r = n.post(f"/v1/collectives/{c['id']}/experiences", {"content": "x", "embedding": [1, 0, 0, 0]})
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "unavailable"
    n.start_storage()
    wait_for(lambda: n.post(f"/v1/collectives/{c['id']}/experiences",
                            {"content": "x", "embedding": [1, 0, 0, 0]}).status_code == 201,
             what="writes after storage restart")
    n.stop()


def test_second_storage_on_same_folder_is_refused(node):
    import subprocess
    from conftest import STORAGE
    p = subprocess.run([STORAGE, "--data", node.data], capture_output=True, timeout=10)
    assert p.returncode == 3
    assert b"locked" in p.stderr
    assert node.get("/health").status_code == 200
