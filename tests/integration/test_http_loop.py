"""The gateway's network thread: it answers small creates itself (sent to
storage and answered with no worker), hands every other request to a
worker, and is woken at once when a worker or a stream hands a
connection back. The replies are the same whichever way a request went."""
import json
from concurrent.futures import ThreadPoolExecutor

import requests

# The network thread's longest wait (HTTP_LOOP_WAIT_MAX_MS): a reply handed
# back without waking it would come this late.
LOOP_WAIT_MAX_S = 1.0


def test_worker_replies_are_sent_at_once(node):
    """Requests served by workers, on fresh connections and on one kept
    alive: none waits for the network thread's timer."""
    node.post("/v1/collectives", {"name": "w", "embedding_dim": 2})
    with requests.Session() as s:
        for i in range(60):
            session = s if i % 2 else requests
            r = session.get(f"{node.url}/v1/collectives", timeout=LOOP_WAIT_MAX_S * 0.8)
            assert r.status_code == 200, r.text


def test_a_parked_watch_stream_is_woken_at_once(node):
    """A watch stream waits suspended between changes; the hub hands it back
    on each write, and its event comes without waiting for the timer."""
    c = node.collective()
    node.experience(c["id"], "first")
    with requests.get(f"{node.url}/v1/collectives/{c['id']}/watch?from=0", stream=True,
                      timeout=(5, LOOP_WAIT_MAX_S * 0.8)) as r:
        assert r.status_code == 200
        lines = r.iter_lines(decode_unicode=True)

        def next_experience():
            for line in lines:
                if line.startswith("data:"):
                    event = json.loads(line[5:])
                    if event["entity"] == "experience":
                        return event["fields"]["content"]
            raise AssertionError("the stream ended")

        assert next_experience() == "first"
        for i in range(10):
            node.experience(c["id"], f"e{i}")
            assert next_experience() == f"e{i}"


def test_large_and_small_creates_reply_alike(node):
    """A create with a small body is served on the network thread, one over
    128 KiB by a worker: both answer the same way, refusals included."""
    coll = node.post("/v1/collectives", {"name": "big", "embedding_dim": 4}).json()["id"]
    body = {"content": "same", "embedding": [0, 0, 1, 0], "tags": {"k": "v"}}
    small = node.post(f"/v1/collectives/{coll}/experiences", body)
    # The same JSON, padded with whitespace past the network thread's limit.
    padded = json.dumps(body)[:-1] + " " * (200 * 1024) + "}"
    large = requests.post(f"{node.url}/v1/collectives/{coll}/experiences", data=padded,
                          headers={"Content-Type": "application/json"}, timeout=10)
    assert small.status_code == large.status_code == 201, large.text
    a, b = small.json(), large.json()
    assert a.pop("id") != b.pop("id")
    for reply in (a, b):
        reply.pop("created_at")
        reply.pop("last_reinforced")
    assert a == b
    for item in (small.json(), large.json()):
        got = node.get(f"/v1/experiences/{item['id']}").json()
        assert got.pop("embedding") == [0, 0, 1, 0]
        assert got == item
    # Refusals: a wrong embedding size, and a collective that is not there.
    bad = dict(body, embedding=[1, 2, 3])
    padded_bad = json.dumps(bad)[:-1] + " " * (200 * 1024) + "}"
    for data in (json.dumps(bad), padded_bad):
        r = requests.post(f"{node.url}/v1/collectives/{coll}/experiences", data=data,
                          headers={"Content-Type": "application/json"}, timeout=10)
        assert r.status_code == 400, r.text
        assert r.json()["error"]["code"] == "bad_request"
    missing = "00000000-0000-4000-8000-000000000000"
    r = node.post(f"/v1/collectives/{missing}/experiences", body)
    assert r.status_code == 404, r.text


def test_many_concurrent_creates_each_get_their_own_reply(node):
    """Creates from many connections at once, sent to storage together from
    the network thread: each reply names its own experience, and each is
    stored once."""
    coll = node.post("/v1/collectives", {"name": "many", "embedding_dim": 2}).json()["id"]

    def create(i):
        with requests.Session() as s:
            out = []
            for k in range(20):
                r = s.post(f"{node.url}/v1/collectives/{coll}/experiences",
                           json={"content": f"{i}-{k}", "embedding": [i + 1, k]}, timeout=10)
                assert r.status_code == 201, r.text
                assert r.json()["content"] == f"{i}-{k}"
                out.append(r.json()["id"])
            return out

    with ThreadPoolExecutor(16) as pool:
        ids = [x for chunk in pool.map(create, range(16)) for x in chunk]
    assert len(set(ids)) == 16 * 20
    listed, after = [], None
    while True:
        page = node.get(f"/v1/collectives/{coll}/experiences?limit=1000"
                        + (f"&after={after}" if after else "")).json()
        listed += [e["id"] for e in page["experiences"]]
        after = page["next_cursor"]
        if not after:
            break
    assert sorted(listed) == sorted(ids)
