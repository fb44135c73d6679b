"""Bad input gets a clear error, changes nothing, and crashes nothing."""
import uuid

import msgpack
import pytest
import requests
import zmq


def wal_head(node):
    return node.get("/v1/status").json()["wal"]["head"]


def assert_refused(node, r, status, code=None):
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["message"]
    if code:
        assert err["code"] == code


@pytest.fixture
def coll(node):
    return node.collective("bad", 4)


def raw_post(node, path, data, ctype="application/json"):
    return requests.post(node.url + path, data=data, headers={"Content-Type": ctype}, timeout=10)


BAD_EXPERIENCES = [
    ("malformed json", b'{"content": "x", "embedding": [1,0,0,0]', 400),
    ("not an object", b'[1,2,3]', 400),
    ("missing content", b'{"embedding": [1,0,0,0]}', 400),
    ("missing embedding", b'{"content": "x"}', 400),
    ("content wrong type", b'{"content": 5, "embedding": [1,0,0,0]}', 400),
    ("embedding wrong type", b'{"content": "x", "embedding": "abc"}', 400),
    ("embedding item wrong type", b'{"content": "x", "embedding": [1,"a",0,0]}', 400),
    ("wrong dimension", b'{"content": "x", "embedding": [1,0,0]}', 400),
    ("NaN token", b'{"content": "x", "embedding": [NaN,0,0,0]}', 400),
    ("Infinity token", b'{"content": "x", "embedding": [Infinity,0,0,0]}', 400),
    ("overflows float32", b'{"content": "x", "embedding": [1e300,0,0,0]}', 400),
    ("importance above 1", b'{"content": "x", "embedding": [1,0,0,0], "importance": 1.5}', 400),
    ("importance below 0", b'{"content": "x", "embedding": [1,0,0,0], "importance": -0.1}', 400),
    ("confidence wrong type", b'{"content": "x", "embedding": [1,0,0,0], "confidence": "hi"}', 400),
    ("unknown field", b'{"content": "x", "embedding": [1,0,0,0], "colour": "red"}', 400),
    ("server-managed field", b'{"content": "x", "embedding": [1,0,0,0], "created_at": 5}', 400),
    ("unknown type kind", b'{"content": "x", "embedding": [1,0,0,0], "type": {"kind": "poem"}}', 400),
    ("too many domains", b'{"content": "x", "embedding": [1,0,0,0], "domain": [' +
     b','.join(b'"d"' for _ in range(33)) + b']}', 413),
    ("oversized content", b'{"content": "' + b'a' * (64 * 1024 + 1) + b'", "embedding": [1,0,0,0]}', 413),
]


@pytest.mark.parametrize("name,body,status", BAD_EXPERIENCES, ids=[b[0] for b in BAD_EXPERIENCES])
def test_bad_experience_is_refused_and_changes_nothing(node, coll, name, body, status):
    head = wal_head(node)
    r = raw_post(node, f"/v1/collectives/{coll['id']}/experiences", body)
    assert_refused(node, r, status)
    assert wal_head(node) == head
    assert node.get("/health").status_code == 200


def test_body_over_the_cap_is_413(node, coll):
    head = wal_head(node)
    big = b'{"content": "x", "embedding": [1,0,0,0], "pad": "' + b'a' * (2 << 20) + b'"}'
    r = raw_post(node, f"/v1/collectives/{coll['id']}/experiences", big)
    assert_refused(node, r, 413, "too_large")
    assert wal_head(node) == head


def test_wrong_content_type_is_415(node, coll):
    r = raw_post(node, f"/v1/collectives/{coll['id']}/experiences",
                 b'{"content": "x", "embedding": [1,0,0,0]}', "text/plain")
    assert_refused(node, r, 415, "unsupported_media_type")


def test_invalid_uuid_is_400_and_unknown_id_404(node, coll):
    assert_refused(node, node.get("/v1/experiences/not-a-uuid"), 400, "bad_request")
    assert_refused(node, node.get(f"/v1/experiences/{uuid.uuid4()}"), 404, "not_found")
    assert_refused(node, node.get(f"/v1/collectives/{uuid.uuid4()}"), 404, "not_found")
    head = wal_head(node)
    assert_refused(node, node.post(f"/v1/collectives/{uuid.uuid4()}/experiences",
                                   {"content": "x", "embedding": [1, 0, 0, 0]}), 404)
    assert_refused(node, node.delete(f"/v1/experiences/{uuid.uuid4()}"), 404)
    assert_refused(node, node.post(f"/v1/experiences/{uuid.uuid4()}/reinforce"), 404)
    assert wal_head(node) == head


def test_name_over_the_limit_is_413(node):
    head = wal_head(node)
    assert_refused(node, node.post("/v1/collectives", {"name": "n" * 129, "embedding_dim": 4}),
                   413, "too_large")
    assert wal_head(node) == head


BAD_COLLECTIVES = [
    ("empty name", {"name": "", "embedding_dim": 4}),
    ("dim zero", {"name": "a", "embedding_dim": 0}),
    ("dim too big", {"name": "a", "embedding_dim": 4097}),
    ("dim not integer", {"name": "a", "embedding_dim": 2.5}),
    ("missing dim", {"name": "a"}),
]


@pytest.mark.parametrize("name,body", BAD_COLLECTIVES, ids=[b[0] for b in BAD_COLLECTIVES])
def test_bad_collective_is_400(node, name, body):
    head = wal_head(node)
    assert_refused(node, node.post("/v1/collectives", body), 400, "bad_request")
    assert wal_head(node) == head


def test_patch_of_immutable_field_is_400(node, coll):
    e = node.experience(coll["id"])
    head = wal_head(node)
    assert_refused(node, node.patch(f"/v1/experiences/{e['id']}", {"content": "new"}), 400)
    assert_refused(node, node.patch(f"/v1/experiences/{e['id']}", {}), 400)
    assert wal_head(node) == head


def test_unknown_route_is_404_and_wrong_method_405(node):
    assert node.get("/v1/nothing").status_code == 404
    assert node.delete("/v1/status").status_code == 405


def test_wrong_method_on_a_sync_route_is_405_not_a_sync_operation(node):
    """POST /v1/sync/status once reached the sync relay as an operation
    named "status" (404), and its 405 listed POST (found by Schemathesis)."""
    for method, path, allow in [("POST", "/v1/sync/status", "GET"),
                                ("OPTIONS", "/v1/sync/status", "GET"),
                                ("PUT", "/v1/sync/peers", "GET, POST"),
                                ("GET", "/v1/sync/hello", "POST")]:
        r = requests.request(method, node.url + path, timeout=10)
        assert_refused(node, r, 405, "method_not_allowed")
        assert r.headers["Allow"] == allow, (method, path)
    # An unknown sync operation is still the relay's to refuse.
    r = raw_post(node, "/v1/sync/frob", b"\x90", "application/msgpack")
    assert_refused(node, r, 404, "not_found")


def test_watch_refuses_a_malformed_start_even_when_another_is_given(node, coll):
    """?from=0 with Last-Event-ID: -1 once streamed, the header ignored
    (found by Schemathesis): each start given must be a WAL sequence."""
    path = f"/v1/collectives/{coll['id']}/watch"
    for query, last, bad in [("?from=0", "-1", "Last-Event-ID"), ("?from=x", "3", "from"),
                             ("", "1e3", "Last-Event-ID"), ("?from=2", "", "Last-Event-ID")]:
        r = node.get(path + query, headers={"Last-Event-ID": last})
        assert_refused(node, r, 400, "bad_request")
        assert f"'{bad}'" in r.json()["error"]["message"], (query, last)


STORAGE_GARBAGE = [
    b"",
    b"\xc1",
    b"\x94\x01",                                   # array of 4 holding one item
    b"\xdd\xff\xff\xff\xff",                        # array claiming 4 billion items
    msgpack.packb([99, 1, "ping", []]),             # unknown protocol version
    msgpack.packb([1, 1, "nope", []]),              # unknown operation
    msgpack.packb([1, 1, "write", [2, 1, None, None, b"\x80"]]),
    msgpack.packb([1, 1, "write", [9, 9, None, None, b"\x80"]]),
    msgpack.packb([1, 1, "apply", ["p", 5, [b"garbage"]]]),
    msgpack.packb([1, 1, "ping", []]) + b"trailing",
]


def test_malformed_messagepack_on_storage_socket(node, coll):
    head = wal_head(node)
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVTIMEO, 3000)
    sock.connect(f"ipc://{node.data}/storage.sock")
    try:
        for frame in STORAGE_GARBAGE:
            sock.send(frame)
            reply = msgpack.unpackb(sock.recv(), raw=False)
            assert reply[1] < 0 and reply[2], (frame, reply)
        # A message of several requests is answered in one, frame by frame.
        sock.send_multipart([b"two", b"frames"])
        replies = [msgpack.unpackb(f, raw=False) for f in sock.recv_multipart()]
        assert len(replies) == 2 and all(r[1] < 0 and r[2] for r in replies), replies
        sock.send_multipart([b"ping"] * 65)
        replies = sock.recv_multipart()
        assert len(replies) == 1
        assert "1 to 64 requests" in msgpack.unpackb(replies[0], raw=False)[2]
    finally:
        sock.close()
    assert node.storage_call("ping")[1] == 0
    assert wal_head(node) == head
