"""Authenticated sync: ZeroMQ peers with CURVE keys, HTTP peers with shared
tokens (and HTTPS), and what the serving node allows each peer. Every
refusal leaves the refusing node's store unchanged."""
import os
import subprocess
import uuid

import msgpack
import pytest
import requests
import zmq

from conftest import PROTO, GATEWAY, SYNCER, Cluster, hello_msg, sync_request, wait_for

PEER_TOKEN = "shared-" + "t" * 40


def write_tokens(node, lines):
    path = os.path.join(os.path.dirname(node.data), f"{node.name}-tokens")
    with open(path, "w") as f:
        f.write("".join(f"{line}\n" for line in lines))
    os.chmod(path, 0o600)
    return path


def with_tokens(node, lines):
    """The node's gateway and syncer read the same token file."""
    path = write_tokens(node, lines)
    node.gateway_extra += ["--api-tokens", path]
    node.sync_extra += ["--api-tokens", path]
    return path


def curve_request(address, server_public, message, keys=None):
    """One request to a CURVE sync port, with keys (a made-up pair when None)."""
    return sync_request(address, message, 1500, curve=(server_public, keys))


def curve_pair(cluster, direction="both", collectives=()):
    a = cluster.add("a", start=False)
    b = cluster.add("b", start=False)
    a.keygen()
    b.keygen()
    Cluster.link(a, b, direction, collectives)
    return a, b


def test_curve_peers_sync_and_strangers_are_refused(cluster):
    a, b = curve_pair(cluster)
    a.start()
    b.start()
    coll = a.collective("team")
    a.experience(coll["id"], "from a")
    # b writes into the collective once it has it from a.
    wait_for(lambda: b.digest(coll["id"]) is not None, what="the collective at b")
    b.experience(coll["id"], "from b")
    cluster.wait_converged()
    assert "CURVE" in a.log("syncer")
    head = a.wal_head()
    # No CURVE at all: no answer. A key a does not know: no answer either.
    assert sync_request(a.sync_address, hello_msg(), 1500) is None
    assert curve_request(a.sync_address, a.public_key, hello_msg()) is None
    assert a.wal_head() == head
    wait_for(lambda: a.sync_status()["refused"]["count"] >= 1, what="refusals in status")
    refused = a.sync_status()["refused"]
    assert refused["last_key"] and refused["last_ms"] > 0
    assert "refused a sync connection: unknown key" in a.log("syncer")


def test_curve_node_refuses_to_sync_with_a_peer_without_key(cluster):
    a, b = curve_pair(cluster)
    b.peers = [a.spec().split(",key=")[0]]        # b does not know a's key
    a.start()
    b.start()
    coll = a.collective("team")
    a.experience(coll["id"], "only on a")
    wait_for(lambda: (b.peer("a") or {}).get("last_error"), what="b's error about a")
    assert b.digest(coll["id"]) is None


def test_sync_socket_beyond_loopback_needs_a_key_or_insecure(cluster):
    a = cluster.add("a", start=False)
    a.start_storage()
    r = subprocess.run([SYNCER, "--data", a.data, "--sync-bind", "tcp://0.0.0.0:%d" % a.sync_port],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 3 and "sync/bind" in r.stderr and "keygen" in r.stderr


def http_trio(cluster):
    """A -ZeroMQ- B -HTTP- C: B and C share a token and reach each other's
    gateway only."""
    a = cluster.add("a", start=False)
    b = cluster.add("b", start=False)
    c = cluster.add("c", start=False)
    Cluster.link(a, b)
    b.add_peer(c, http=True)
    c.add_peer(b, http=True)
    with_tokens(b, [f"peer:c {PEER_TOKEN}", "admin " + "b" * 40])
    with_tokens(c, [f"peer:b {PEER_TOKEN}", "admin " + "c" * 40])
    return a, b, c


def admin(node):
    return {"Authorization": "Bearer " + node.name * 40}


def test_mixed_topology_over_zeromq_and_http_converges(cluster):
    a, b, c = http_trio(cluster)
    for n in (a, b, c):
        n.start()
    coll = a.post("/v1/collectives", {"name": "team", "embedding_dim": 4}).json()
    for n in (a, b, c):
        r = n.post(f"/v1/collectives/{coll['id']}/experiences",
                   {"content": f"from {n.name}", "embedding": [1, 0, 0, 0]},
                   headers=admin(n) if n is not a else {})
        if r.status_code == 404:          # the collective has not reached c yet
            wait_for(lambda: n.get(f"/v1/collectives/{coll['id']}",
                                   headers=admin(n)).status_code == 200, what="collective")
            r = n.post(f"/v1/collectives/{coll['id']}/experiences",
                       {"content": f"from {n.name}", "embedding": [1, 0, 0, 0]},
                       headers=admin(n))
        assert r.status_code == 201, r.text
    digest = lambda n: n.get(f"/v1/collectives/{coll['id']}/digest",
                             headers=admin(n) if n is not a else {})
    wait_for(lambda: len({digest(n).text for n in (a, b, c)}) == 1
             and digest(c).status_code == 200, timeout=30, what="three nodes converge")
    status = c.get("/v1/sync/status", headers=admin(c)).json()
    row = next(p for p in status["peers"] if p["name"] == "b")
    assert row["address"].startswith("http://") and row["state"] != "degraded"


def sync_post(node, op, body, token=None, content_type="application/msgpack"):
    headers = {"Content-Type": content_type}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return requests.post(f"{node.url}/v1/sync/{op}", data=body, headers=headers, timeout=10)


def test_http_sync_refuses_callers_without_the_peer_token(cluster):
    a, b, c = http_trio(cluster)
    b.start()
    head = b.wal_head()
    push = msgpack.packb([PROTO, "push", {"source": uuid.uuid4().bytes, "changes": []}],
                         use_bin_type=True)
    hello = msgpack.packb(hello_msg(), use_bin_type=True)
    for token, status in ((None, 401), ("wrong-" + "x" * 40, 401), ("b" * 40, 403)):
        for body in (hello, push):
            r = sync_post(b, "hello" if body is hello else "push", body, token)
            assert r.status_code == status, (token, r.status_code, r.content)
            reply = msgpack.unpackb(r.content, raw=False)
            assert reply[1] == "error"
            assert reply[2]["code"] == ("unauthorized" if status == 401 else "forbidden")
    # The peer token opens the sync routes and nothing else.
    r = sync_post(b, "hello", hello, PEER_TOKEN)
    assert r.status_code == 200 and msgpack.unpackb(r.content, raw=False)[1] == "hello_ok"
    assert b.get("/v1/status", headers={"Authorization": f"Bearer {PEER_TOKEN}"}
                 ).status_code == 403
    r = sync_post(b, "hello", b"not msgpack", PEER_TOKEN)
    assert r.status_code == 400
    r = sync_post(b, "hello", hello, PEER_TOKEN, content_type="application/json")
    assert r.status_code == 415
    assert b.wal_head() == head


def make_certificate(folder):
    key, cert = os.path.join(folder, "key.pem"), os.path.join(folder, "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    os.chmod(key, 0o600)
    return cert, key


def test_https_peers_sync_with_a_verified_certificate(cluster, tmp_path):
    b = cluster.add("b", start=False)
    c = cluster.add("c", start=False)
    cert, key = make_certificate(str(tmp_path))
    b.url = b.url.replace("http://", "https://")
    b.gateway_extra += ["--tls-cert", cert, "--tls-key", key]
    #  b has no entry for c: c's token is its grant (c could be behind a NAT).
    c.add_peer(b, http=True)
    c.sync_extra += ["--sync-ca-file", cert]
    #  Only peer tokens: the API stays open on loopback, sync needs the token.
    with_tokens(b, [f"peer:c {PEER_TOKEN}"])
    with_tokens(c, [f"peer:b {PEER_TOKEN}"])
    b.start_storage()
    b.gateways.append(b._spawn([GATEWAY, "--data", b.data, "--port", str(b.port),
                                *b.gateway_extra], "gateway0"))
    wait_for(lambda: requests.get(b.url + "/health", verify=cert, timeout=1).status_code == 200,
             what="https gateway")
    b.start_syncer()
    c.start()
    coll = requests.post(b.url + "/v1/collectives", json={"name": "t", "embedding_dim": 4},
                         verify=cert, timeout=10).json()
    wait_for(lambda: c.get(f"/v1/collectives/{coll['id']}").status_code == 200, timeout=30,
             what="a collective made on b reaches c over https")
    c.experience(coll["id"], "written on c")
    wait_for(lambda: requests.get(f"{b.url}/v1/collectives/{coll['id']}/digest", verify=cert,
                                  timeout=5).json() == c.get(f"/v1/collectives/{coll['id']}/digest")
             .json(), timeout=30, what="c's write reaches b over https")
    row = next(p for p in c.sync_status()["peers"] if p["name"] == "b")
    assert row["address"].startswith("https://")


def node_keys(node):
    """The node's CURVE key pair (Z85), read from its secret certificate."""
    text = open(os.path.join(node.data, "node.cert_secret")).read()
    get = lambda name: text.split(f'{name} = "')[1].split('"')[0]
    return get("public-key").encode(), get("secret-key").encode()


def as_peer(keys, server, message):
    """One request to server's sync port, made with keys (as the peer they are)."""
    return curve_request(server.sync_address, server.public_key, message, keys)


def changes_by_collective(src, coll):
    """src's WAL entries (each an encoded change) of collective coll."""
    from test_sync import changes_of
    want = uuid.UUID(coll).bytes
    return [c for c in changes_of(src) if msgpack.unpackb(c, raw=False)[6] == want]


def test_peers_are_held_to_their_direction_and_collectives(cluster):
    src = cluster.add("src")            # a plain node: the changes to push come from it
    x, y = src.collective("x")["id"], src.collective("y")["id"]
    src.experience(x, "in x")
    src.experience(y, "in y")
    in_x, in_y = changes_by_collective(src, x), changes_by_collective(src, y)
    assert in_x and in_y
    a = cluster.add("a", start=False)
    a.keygen()
    a.start()
    b = cluster.add("b", start=False)   # never runs: this test speaks as b, with b's keys
    b.keygen()
    keys = node_keys(b)
    me, target = uuid.uuid4().bytes, uuid.UUID(a.instance_id).bytes

    def entry(direction):
        r = a.post("/v1/sync/peers", {"name": "b", "address": b.sync_address,
                                      "direction": direction, "collectives": [x],
                                      "public_key": b.public_key})
        assert r.status_code == 201, r.text
        wait_for(lambda: (as_peer(keys, a, hello_msg(me)) or [0, ""])[1] == "hello_ok",
                 what="b admitted")

    def pull(collectives=None):
        body = {"source": me, "target": target, "cursor": 0, "max_changes": 100,
                "max_bytes": 1 << 20, "wait_ms": 0, "vector": {}}
        if collectives is not None:
            body["collectives"] = [uuid.UUID(c).bytes for c in collectives]
        return as_peer(keys, a, [PROTO, "pull", body])

    def push(changes):
        return as_peer(keys, a, [PROTO, "push", {"source": me, "target": target,
                                                "changes": changes}])

    def code(reply):
        assert reply and reply[1] == "error", reply
        return reply[2]["code"]

    # a only pulls from b, and only collective x: b may push x, nothing else.
    entry("pull")
    head = a.wal_head()
    assert code(pull([x])) == "forbidden"
    assert code(as_peer(keys, a, [PROTO, "snapshot", {"source": me, "target": target,
                                                     "max_entities": 10}])) == "forbidden"
    assert code(push(in_y)) == "forbidden"
    in_order = sorted(in_x + in_y, key=lambda c: msgpack.unpackb(c, raw=False)[0])
    assert code(push(in_order)) == "forbidden"          # refused whole
    assert a.wal_head() == head and a.digest(y) is None and a.digest(x) is None
    reply = push(in_x)
    assert reply[1] == "push_ok" and reply[2]["accepted"] >= 2, reply
    assert a.digest(x) == src.digest(x)
    wait_for(lambda: any(i.get("refused", 0) >= 4 for i in a.sync_status()["inbound"]),
             what="refusals in a's status", detail=lambda: a.sync_status()["inbound"])

    # a only pushes to b: b may read x, with a filter, and may not push.
    assert a.delete("/v1/sync/peers/b").status_code == 204
    entry("push")
    #  The syncer reads changed peers within a second.
    wait_for(lambda: (push(in_x) or [0, ""])[1] == "error", what="the new entry in force")
    assert code(push(in_x)) == "forbidden"
    assert code(pull()) == "forbidden"                 # no filter: more than x
    assert code(pull([x, y])) == "forbidden"
    reply = pull([x])
    assert reply[1] == "pull_ok" and reply[2]["changes"], reply
    coll_of = lambda c: msgpack.unpackb(c, raw=False)[6]
    assert {coll_of(c) for c in reply[2]["changes"]} == {uuid.UUID(x).bytes}

    # Removed: b's key is refused at the handshake.
    assert a.delete("/v1/sync/peers/b").status_code == 204
    wait_for(lambda: as_peer(keys, a, hello_msg(me)) is None, what="b refused once removed")
