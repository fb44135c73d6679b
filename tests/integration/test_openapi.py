"""docs/openapi.yaml describes the HTTP API exactly as served.

The gateway serves the document at /openapi.json (converted at build
time), and Schemathesis drives a live node with it: every operation, with
generated valid and invalid inputs, including the chains the document's
links describe (create a collective, then write into it, ...). No reply may
be a server error or differ from the description (status, content type,
headers, body), invalid input must be refused, and the routes behind a
token must refuse callers without one.

PDB_SCHEMATHESIS_EXAMPLES (default 25) sets the examples per operation and
PDB_SCHEMATHESIS_SEED (default fixed) the seed: CI is repeatable, a longer
local run (say 500 and a random seed) searches further."""
import base64
import os
import struct
import subprocess
import sys
import threading
import time
import uuid

import msgpack
import pytest
import requests
import schemathesis
import yaml

from conftest import hello_msg, new_token

DOC = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "openapi.yaml")
ST = os.path.join(os.path.dirname(sys.executable), "st")
EXAMPLES = int(os.environ.get("PDB_SCHEMATHESIS_EXAMPLES", "25"))
SEED = int(os.environ.get("PDB_SCHEMATHESIS_SEED", "20240601"))
#  Every check Schemathesis has but two: positive_data_acceptance (a body
#  the schema allows may still be refused for what only the node knows: an
#  embedding must have the collective's dimension, a name must be free) and
#  max_response_time (off unless given a limit: no timed assertions).
#  Invalid input may also get 413: a string or list over its limit is
#  too_large (README, "HTTP API").
CONFIG = """
hooks = "schemathesis_hooks"

[auth.openapi.apiToken]
bearer = "{admin}"

[auth.openapi.peerToken]
bearer = "{peer}"

[checks]
positive_data_acceptance.enabled = false
negative_data_rejection.expected-statuses = [400, 401, 403, 404, 405, 409, 413, 415]

# A watch stream does not end by itself: read it for a moment, then move on.
[[operations]]
include-operation-id = "watch"
request-timeout = 1
max-stream-events = 5
"""


@pytest.fixture
def secured_node(cluster, tmp_path):
    """A node (storage, gateway, syncer) that requires tokens: admin and read
    ones for the API, a peer one for the sync operations."""
    node = cluster.add("fuzzed", start=False)
    tokens = tmp_path / "tokens"
    node.admin = new_token(tokens, "admin")
    node.read = new_token(tokens, "read")
    node.peer_token = new_token(tokens, "peer:fuzz")
    node.gateway_extra += ["--api-tokens", str(tokens)]
    node.sync_extra += ["--api-tokens", str(tokens)]
    return node.start()


def test_openapi_json_is_the_yaml_document(secured_node):
    r = requests.get(secured_node.url + "/openapi.json", timeout=10)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json"
    with open(DOC) as f:
        assert r.json() == yaml.safe_load(f)


def test_schemathesis_finds_nothing(secured_node, tmp_path):
    assert os.path.exists(ST), f"schemathesis is missing: {ST} (scripts/deps.sh --test)"
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG.format(admin=secured_node.admin, peer=secured_node.peer_token))
    #  One worker: with two, Hypothesis' lambda descriptions (ast.parse)
    #  raced on Python 3.11 and the run ended in a SystemError.
    argv = [ST, "--config-file", str(config), "run", "--url", secured_node.url,
            "--max-examples", str(EXAMPLES), "--seed", str(SEED), "--workers", "1",
            "--request-timeout", "20", "--no-color", "--output-truncate", "false",
            "--report", "junit", "--report-dir", str(tmp_path / "report"),
            secured_node.url + "/openapi.json"]
    env = dict(os.environ, PYTHONPATH=os.path.dirname(__file__))
    r = subprocess.run(argv, capture_output=True, text=True, timeout=600, cwd=tmp_path, env=env)
    assert r.returncode == 0, f"schemathesis failed ({' '.join(argv)}):\n{r.stdout[-20000:]}" \
                              f"\n{r.stderr[-5000:]}"


class Described:
    """Calls the node as a client would and checks every reply against the
    operation the description has for it: status documented, body and
    headers as described."""

    def __init__(self, node, doc, token):
        self.node = node
        self.schema = schemathesis.openapi.from_dict(doc)
        self.headers = {"Authorization": f"Bearer {token}"}
        self.seen = set()

    def __call__(self, method, template, status, path=None, json_body=None, raw=None,
                 headers=None, **kw):
        sent = dict(self.headers, **(headers or {}))
        if raw is not None:
            kw["data"] = raw
        r = requests.request(method, self.node.url + (path or template), json=json_body,
                             headers=sent, timeout=30, **kw)
        assert r.status_code == status, (method, path or template, r.status_code, r.text[:500])
        operation = self.schema[template][method]
        assert str(status) in operation.definition.raw["responses"], (method, template, status)
        operation.validate_response(r)
        self.seen.add((method, template))
        return r


def test_success_replies_match_the_description(secured_node):
    """Schemathesis' random bodies rarely fit a collective's dimension, so
    most of its creates end in 400: this walks every operation's success
    path (every experience type, every optional field, a stream, a sync
    status with a snapshot and an inbound caller, a batch and both embedding
    forms) and a refusal of each kind."""
    node = secured_node
    with open(DOC) as f:
        doc = yaml.safe_load(f)
    call = Described(node, doc, node.admin)
    call("GET", "/", 200, headers={"Authorization": ""})
    call("GET", "/openapi.json", 200)
    call("GET", "/health", 200)
    call("GET", "/metrics", 200)
    call("GET", "/v1/status", 200)
    coll = call("POST", "/v1/collectives", 201,
                json_body={"name": "described", "embedding_dim": 4, "owner": "ops"}).json()
    cpath = "/v1/collectives/" + coll["id"]
    call("POST", "/v1/collectives", 409, json_body={"name": "described", "embedding_dim": 4})
    call("GET", "/v1/collectives", 200)
    call("GET", "/v1/collectives/{id}", 200, cpath)

    # Watch from the start while everything below happens; the stream ends
    # with the collective's delete, at the end.
    stream = {}
    watcher = threading.Thread(target=lambda: stream.update(r=requests.get(
        node.url + cpath + "/watch?from=0", headers=call.headers, timeout=60)))
    watcher.start()

    ids = []
    kinds = {"generic": {"category": "c"},
             "difficulty": {"description": "d", "severity": "high"},
             "solution": {"problem_ref": None, "approach": "a", "worked": True},
             "error_pattern": {"signature": "s", "fix": "f", "prevention": "p"},
             "success_pattern": {"task_type": "t", "approach": "a", "quality": 0.5},
             "user_preference": {"category": "c", "preference": "p", "strength": 1},
             "architectural_decision": {"decision": "d", "rationale": "r"},
             "tech_insight": {"technology": "t", "insight": "i"},
             "fact": {"statement": "s", "source": "src"}}
    for i, (kind, fields) in enumerate(kinds.items()):
        body = {"content": f"{kind} é", "embedding": [1, i, 0.5, -2.5e-3],
                "type": {"kind": kind, **fields}, "importance": 0.9, "confidence": 0.1,
                "domain": ["net", "ops"], "tags": {"team": "core"}, "related_files": ["a.c"],
                "source_agent": "agent", "source_task": "task", "archived": i == 8}
        r = call("POST", "/v1/collectives/{id}/experiences", 201, cpath + "/experiences",
                 json_body=body)
        ids.append(r.json()["id"])
    solved = call("POST", "/v1/collectives/{id}/experiences", 201, cpath + "/experiences",
                  json_body={"content": "fix", "embedding": [0, 0, 1, 0],
                             "type": {"kind": "solution", "problem_ref": ids[0]}}).json()
    compact = base64.b64encode(struct.pack("<4f", 0.5, 1, 0, -2)).decode()
    call("POST", "/v1/collectives/{id}/experiences", 201, cpath + "/experiences",
         json_body={"content": "compact", "embedding_b64": compact})
    call("POST", "/v1/collectives/{id}/experiences", 400, cpath + "/experiences",
         json_body={"content": "x", "embedding": [1, 0]})
    call("POST", "/v1/collectives/{id}/experiences", 400, cpath + "/experiences",
         json_body={"content": "x", "embedding_b64": compact[:-4]})

    # Batches: both embedding forms in one; a bad item refuses the batch,
    # named by its index; over 1000 items is 413; nothing is written by a
    # refusal.
    bpath = cpath + "/experiences:batch"
    batch = call("POST", "/v1/collectives/{id}/experiences:batch", 201, bpath, json_body={
        "experiences": [{"content": "b0", "embedding": [1, 0, 0, 1], "importance": 0.3,
                         "type": {"kind": "fact", "statement": "s", "source": "src"}},
                        {"content": "b1", "embedding_b64": compact}]}).json()
    assert len(batch["ids"]) == 2
    assert call("GET", "/v1/experiences/{id}", 200, "/v1/experiences/" + batch["ids"][1]) \
        .json()["embedding"] == [0.5, 1, 0, -2]
    before = node.get("/v1/status", headers=call.headers).json()["counts"]["experiences"]
    refused = call("POST", "/v1/collectives/{id}/experiences:batch", 400, bpath, json_body={
        "experiences": [{"content": "ok", "embedding": [1, 0, 0, 0]},
                        {"content": "bad", "embedding": [1, 0]}]}).json()["error"]
    assert refused["index"] == 1 and refused["message"].startswith("experiences[1]: "), refused
    refused = call("POST", "/v1/collectives/{id}/experiences:batch", 413, bpath, json_body={
        "experiences": [{"content": "ok", "embedding": [1, 0, 0, 0]},
                        {"content": "x", "embedding": [1, 0, 0, 0],
                         "source_agent": "é" * 65}]}).json()["error"]
    assert refused["index"] == 1, refused
    refused = call("POST", "/v1/collectives/{id}/experiences:batch", 413, bpath, json_body={
        "experiences": [{"content": "x", "embedding": [1, 0, 0, 0]}] * 1001}).json()["error"]
    assert "index" not in refused and "1000" in refused["message"], refused
    call("POST", "/v1/collectives/{id}/experiences:batch", 400, bpath,
         json_body={"experiences": []})
    call("POST", "/v1/collectives/{id}/experiences:batch", 404,
         "/v1/collectives/00000000-0000-7000-8000-000000000000/experiences:batch",
         json_body={"experiences": [{"content": "x", "embedding": [1, 0, 0, 0]}]})
    assert node.get("/v1/status", headers=call.headers).json()["counts"]["experiences"] \
        == before
    call("POST", "/v1/collectives/{id}/experiences", 413, cpath + "/experiences",
         json_body={"content": "x", "embedding": [1, 0, 0, 0], "source_agent": "é" * 65})
    call("POST", "/v1/collectives/{id}/experiences", 415, cpath + "/experiences",
         raw=b"{}", headers={"Content-Type": "text/plain"})
    epath = "/v1/experiences/" + ids[0]
    call("GET", "/v1/experiences/{id}", 200, epath)
    call("PATCH", "/v1/experiences/{id}", 200, epath,
         json_body={"importance": 0.2, "tags": {"a": "b"}, "archived": True})
    call("POST", "/v1/experiences/{id}/reinforce", 200, epath + "/reinforce")
    page = call("GET", "/v1/collectives/{id}/experiences", 200,
                cpath + "/experiences?limit=3&include_embedding=TRUE").json()
    call("GET", "/v1/collectives/{id}/experiences", 200,
         cpath + f"/experiences?cursor={page['next_cursor']}&limit=1000")
    call("POST", "/v1/collectives/{id}/search", 200, cpath + "/search",
         json_body={"embedding": [1, 1, 0, 0], "k": 5, "domain": "net", "type": "fact",
                    "min_importance": 0.5, "include_archived": True})
    call("POST", "/v1/collectives/{id}/search", 200, cpath + "/search",
         json_body={"embedding": [1, 1, 0, 0], "domain": ["ops"], "k": None})
    rel = call("POST", "/v1/relations", 201, json_body={
        "source": ids[1], "target": solved["id"], "type": "supersedes", "strength": 0.7,
        "metadata": {"why": "newer"}}).json()
    call("POST", "/v1/relations", 404, json_body={
        "source": ids[1], "target": "00000000-0000-7000-8000-000000000000", "type": "supports"})
    call("GET", "/v1/relations/{id}", 200, "/v1/relations/" + rel["id"])
    call("GET", "/v1/experiences/{id}/relations", 200, f"/v1/experiences/{ids[1]}/relations")
    insight = call("POST", "/v1/collectives/{id}/insights", 201, cpath + "/insights", json_body={
        "content": "pattern", "embedding": [0, 1, 0, 0], "source_ids": ids[:2],
        "type": "synthesis", "confidence": 0.8, "domain": ["net"]}).json()
    call("POST", "/v1/collectives/{id}/insights", 201, cpath + "/insights", json_body={
        "content": "compact", "embedding_b64": compact, "type": "pattern"})
    call("GET", "/v1/insights/{id}", 200, "/v1/insights/" + insight["id"])
    call("GET", "/v1/collectives/{id}/digest", 200, cpath + "/digest")

    # Sync: a peer added, with what a syncer reports about it, and a caller
    # that pulls from here.
    peer = call("POST", "/v1/sync/peers", 201, json_body={
        "name": "beta", "address": "tcp://127.0.0.1:9", "direction": "push",
        "collectives": [coll["id"]], "public_key": None}).json()
    call("POST", "/v1/sync/peers", 409, json_body={"name": "beta", "address": "tcp://h:1"})
    beta = uuid.uuid4()
    reply = node.storage_call("peer_set", ["beta", {"instance_id": beta.bytes,
                                                    "push_acked": 3}])
    assert reply[1] == 0, reply
    reply = node.storage_call("peer_set", [f"in:{beta}", {"instance_id": beta.bytes,
                                                          "pulled_through": 2, "pushed": 1,
                                                          "refused": 1, "last_refusal": "x"}])
    assert reply[1] == 0, reply
    node.stop_syncer()
    status = {"written_ms": int(time.time() * 1000), "pid": os.getpid(),
              "refused": {"count": 2, "last_ms": 1, "last_key": "k", "last_address": "a"},
              "peers": {"beta": {"state": "snapshot", "snapshot_done": 5, "snapshot_total": 9,
                                 "snapshot_bytes": 100, "snapshot_rate": 2,
                                 "snapshot_eta_ms": 2000, "error": "down", "error_ms": 1,
                                 "push_oldest_ms": 1, "failures": 1, "retries": 2}}}
    with open(os.path.join(node.data, "sync-status.mpk"), "wb") as f:
        f.write(msgpack.packb(status, use_bin_type=True))
    sync = call("GET", "/v1/sync/status", 200).json()
    assert sync["peers"][0]["snapshot"]["total"] == 9 and sync["inbound"] and sync["refused"]
    call("GET", "/v1/sync/peers", 200)
    assert peer["direction"] == "push"
    node.start_syncer()
    hello = msgpack.packb(hello_msg(), use_bin_type=True)
    as_peer = {"Authorization": f"Bearer {node.peer_token}",
               "Content-Type": "application/msgpack"}
    call("POST", "/v1/sync/hello", 200, raw=hello, headers=as_peer)
    call("POST", "/v1/sync/pull", 400, raw=b"\xc1", headers=as_peer)
    call("POST", "/v1/sync/push", 403, raw=hello, headers={"Content-Type": "application/msgpack"})
    call("POST", "/v1/sync/snapshot", 401, raw=hello,
         headers={"Authorization": "", "Content-Type": "application/msgpack"})
    call("DELETE", "/v1/sync/peers/{name}", 204, "/v1/sync/peers/beta")
    call("DELETE", "/v1/sync/peers/{name}", 404, "/v1/sync/peers/beta")

    # Refusals: no token, a token below the route's role, a bad id.
    call("GET", "/v1/status", 401, headers={"Authorization": ""})
    call("GET", "/v1/collectives/{id}", 400, "/v1/collectives/not-a-uuid")
    call("DELETE", "/v1/relations/{id}", 204, "/v1/relations/" + rel["id"])
    call("DELETE", "/v1/insights/{id}", 204, "/v1/insights/" + insight["id"])
    call("DELETE", "/v1/experiences/{id}", 204, epath)
    call("GET", "/v1/experiences/{id}", 404, epath)
    call("DELETE", "/v1/collectives/{id}", 204, cpath)
    watcher.join(60)
    assert not watcher.is_alive(), "the watch did not end with its collective"
    r = stream["r"]
    assert r.status_code == 200 and r.text.count("event: change") >= 12
    call.schema["/v1/collectives/{id}/watch"]["GET"].validate_response(r)
    call.seen.add(("GET", "/v1/collectives/{id}/watch"))
    call("DELETE", "/v1/collectives/{id}", 403, cpath,
         headers={"Authorization": f"Bearer {node.read}"})

    every = {(method.upper(), path) for path, item in doc["paths"].items() for method in item
             if method in ("get", "post", "patch", "delete")}
    assert every - call.seen == set()
