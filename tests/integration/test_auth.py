"""API tokens and secure defaults: a node that requires tokens refuses
requests without a valid one (401) and roles below what an endpoint needs
(403), and the store does not change; a node that would listen beyond
loopback without credentials refuses to start unless told --insecure."""
import os
import subprocess

import pytest
import requests

from conftest import GATEWAY, PULSEDB, STORAGE, SYNCER, free_port, wait_for

TOKENS = {"read": "r" * 40, "write": "w-" * 20, "admin": "A.dmin_~+/=" * 4}


def write_tokens(path, mode=0o600):
    path.write_text("# role token label\n\n" +
                    "".join(f"{role} {token} {role}-holder\n" for role, token in TOKENS.items()))
    os.chmod(path, mode)
    return path


def auth(role):
    return {"Authorization": f"Bearer {TOKENS[role]}"}


@pytest.fixture
def secured(make_node, tmp_path):
    node = make_node(gateways=0)
    node.tokens = write_tokens(tmp_path / "tokens")
    node.start_gateway(["--api-tokens", str(node.tokens)])
    return node


def counts(node):
    r = node.get("/v1/status", headers=auth("read"))
    assert r.status_code == 200, r.text
    return r.json()["counts"]


def test_requests_without_a_valid_token_are_refused_and_change_nothing(secured):
    coll = secured.post("/v1/collectives", {"name": "c", "embedding_dim": 4},
                        headers=auth("write")).json()
    before = counts(secured)
    body = {"content": "x", "embedding": [1, 0, 0, 0]}
    path = f"/v1/collectives/{coll['id']}/experiences"
    for headers in ({}, {"Authorization": "Bearer " + "x" * 40},
                    {"Authorization": "Basic " + TOKENS["admin"]},
                    {"Authorization": "Bearer " + TOKENS["admin"][:-1]},
                    {"Authorization": "Bearer " + TOKENS["admin"] + "x"}):
        r = secured.post(path, body, headers=headers)
        assert r.status_code == 401, (headers, r.text)
        assert r.json()["error"]["code"] == "unauthorized"
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
        assert TOKENS["admin"] not in r.text
    # Unknown paths say nothing to callers without a token.
    assert secured.get("/v1/nothing-here").status_code == 401
    assert secured.get("/v1/nothing-here", headers=auth("read")).status_code == 404
    assert secured.get("/v1/status").status_code == 401
    assert secured.get("/metrics").status_code == 401
    # A load balancer's probe needs no token.
    assert secured.get("/health").status_code == 200
    assert counts(secured) == before


def test_open_paths_need_no_token_and_say_405_without_one(secured):
    """/, /health and /openapi.json need no token; a wrong method on them
    once got 401 (found by Schemathesis): the path is no secret."""
    assert secured.get("/").status_code == 200
    assert secured.get("/openapi.json").json()["paths"]["/v1/status"]
    for method, path in [("TRACE", "/"), ("POST", "/health"), ("DELETE", "/openapi.json")]:
        r = requests.request(method, secured.url + path, timeout=10)
        assert r.status_code == 405, (method, path, r.text)
        assert r.headers["Allow"] == "GET"
    # Every other path still tells nothing without a token.
    for method, path in [("TRACE", "/v1/status"), ("POST", "/v1/sync/status")]:
        assert requests.request(method, secured.url + path, timeout=10).status_code == 401


def test_roles_allow_what_they_name_and_no_more(secured):
    r = secured.post("/v1/collectives", {"name": "c", "embedding_dim": 4}, headers=auth("read"))
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    assert "write" in r.json()["error"]["message"]
    coll = secured.post("/v1/collectives", {"name": "c", "embedding_dim": 4},
                        headers=auth("write")).json()
    exp = secured.post(f"/v1/collectives/{coll['id']}/experiences",
                       {"content": "x", "embedding": [1, 0, 0, 0]}, headers=auth("write")).json()
    before = counts(secured)
    # read: queries only
    assert secured.get(f"/v1/experiences/{exp['id']}", headers=auth("read")).status_code == 200
    r = secured.post(f"/v1/collectives/{coll['id']}/search", {"embedding": [1, 0, 0, 0]},
                     headers=auth("read"))
    assert r.status_code == 200 and len(r.json()["results"]) == 1
    assert secured.patch(f"/v1/experiences/{exp['id']}", {"importance": 0.1},
                         headers=auth("read")).status_code == 403
    assert secured.delete(f"/v1/experiences/{exp['id']}", headers=auth("read")).status_code == 403
    # write: entities, but neither collective deletes nor peers
    assert secured.delete(f"/v1/collectives/{coll['id']}",
                          headers=auth("write")).status_code == 403
    peer = {"name": "beta", "address": "tcp://127.0.0.1:7701"}
    assert secured.post("/v1/sync/peers", peer, headers=auth("write")).status_code == 403
    assert secured.get("/v1/sync/peers", headers=auth("write")).status_code == 403
    assert counts(secured) == before
    assert secured.get(f"/v1/experiences/{exp['id']}",
                       headers=auth("read")).json()["importance"] != 0.1
    # admin: everything
    assert secured.post("/v1/sync/peers", peer, headers=auth("admin")).status_code == 201
    assert secured.delete(f"/v1/collectives/{coll['id']}",
                          headers=auth("admin")).status_code == 204
    assert counts(secured)["collectives"] == before["collectives"] - 1


def test_cli_sends_the_token_from_the_environment(secured):
    env = dict(os.environ)
    run = lambda *a: subprocess.run([PULSEDB, *a, "--url", secured.url], capture_output=True,
                                    text=True, timeout=30, env=env)
    r = run("collective", "create", "team", "--dim", "4")
    assert r.returncode == 1 and "unauthorized" in r.stderr
    env["PULSEDB_TOKEN"] = TOKENS["write"]
    assert run("collective", "create", "team", "--dim", "4").returncode == 0
    env["PULSEDB_TOKEN"] = "has a space"
    assert run("status").returncode == 2


def test_token_command_makes_a_working_owner_only_token(make_node, tmp_path):
    path = tmp_path / "made-tokens"
    r = subprocess.run([PULSEDB, "token", "new", "write", "agents", "--file", str(path)],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    token = r.stdout.strip()
    assert len(token) == 64 and os.stat(path).st_mode & 0o777 == 0o600
    assert path.read_text() == f"write {token} agents\n"
    node = make_node(gateways=0)
    node.start_gateway(["--api-tokens", str(path)])
    r = node.post("/v1/collectives", {"name": "c", "embedding_dim": 4},
                  headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 201, r.text
    os.chmod(path, 0o644)
    r = subprocess.run([PULSEDB, "token", "new", "read", "--file", str(path)],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 1 and "chmod 600" in r.stderr
    assert path.read_text() == f"write {token} agents\n"


def run_briefly(argv, timeout=10):
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("problem, content, mode", [
    ("chmod 600", "read " + "r" * 40 + "\n", 0o644),
    ("line 2", "read " + "r" * 40 + "\nsuper " + "s" * 40 + "\n", 0o600),
    ("line 1", "read short\n", 0o600),
    ("line 2", "read " + "r" * 40 + "\nwrite " + "r" * 40 + "\n", 0o600),
    ("no token", "# nothing\n", 0o600),
])
def test_gateway_refuses_a_bad_token_file(tmp_path, problem, content, mode):
    path = tmp_path / "tokens"
    path.write_text(content)
    os.chmod(path, mode)
    data = tmp_path / "data"
    os.makedirs(data)
    r = run_briefly([GATEWAY, "--data", str(data), "--port", str(free_port()),
                     "--api-tokens", str(path)])
    # A refused configuration: SERVICE_EXIT_FATAL, so `pulsedb up` stops
    # rather than restarting the gateway for ever.
    assert r.returncode == 3, r.returncode
    assert problem in r.stderr + r.stdout
    assert "r" * 40 not in r.stderr + r.stdout      # never echoes a token


@pytest.mark.parametrize("argv, option", [
    ([GATEWAY, "--host", "0.0.0.0"], "gateway/host"),
    ([GATEWAY, "--host", "::"], "gateway/host"),
    ([SYNCER, "--sync-bind", "tcp://0.0.0.0:7799"], "sync/bind"),
    ([SYNCER, "--sync-bind", "tcp://*:7799"], "sync/bind"),
    ([STORAGE, "--storage-tcp", "tcp://0.0.0.0:7798"], "storage/tcp"),
    ([PULSEDB, "up", "--host", "0.0.0.0"], "gateway/host"),
    ([PULSEDB, "up", "--sync-bind", "tcp://192.0.2.1:7799"], "sync/bind"),
])
def test_listening_beyond_loopback_needs_credentials_or_insecure(tmp_path, argv, option):
    data = tmp_path / "data"
    r = run_briefly(argv + ["--data", str(data), "--port", str(free_port())])
    # A service refuses its configuration with SERVICE_EXIT_FATAL (3); the
    # pulsedb command with its usage error (2).
    assert r.returncode == (2 if argv[0] == PULSEDB else 3), r.returncode
    assert option in r.stderr + r.stdout and "--insecure" in r.stderr + r.stdout
    assert not os.path.exists(data / "data.mdb")        # refused before anything started


def test_sockets_and_store_are_the_node_users_only(cluster):
    a = cluster.add("a")
    for name in ("storage.sock", "storage-events.sock", "sync-relay.sock", "data.mdb"):
        mode = os.stat(os.path.join(a.data, name)).st_mode & 0o777
        assert mode == 0o600, (name, oct(mode))
    assert os.stat(a.data).st_mode & 0o077 == 0


def test_storage_tcp_with_a_key_pair_admits_only_the_nodes_key(make_node, tmp_path):
    import msgpack
    import zmq
    node = make_node(start=False)
    r = subprocess.run([PULSEDB, "keygen", "--data", node.data], capture_output=True, text=True,
                       timeout=10)
    assert r.returncode == 0, r.stderr
    node_public = r.stdout.strip()
    port = free_port()
    endpoint = f"tcp://127.0.0.1:{port}"
    node.storage = node._spawn([STORAGE, "--data", node.data, "--storage-tcp", endpoint],
                               "storage")
    wait_for(lambda: node.storage_call("ping")[1] == 0, what="storage ping")
    assert "auth=CURVE" in open(tmp_path / "storage.log").read()
    # The node's own processes, with its key pair, write over tcp.
    node.start_gateway(["--storage", endpoint])
    coll = node.post("/v1/collectives", {"name": "c", "embedding_dim": 4})
    assert coll.status_code == 201, coll.text
    ping = msgpack.packb([1, 7, "ping", []], use_bin_type=True)

    def ask(sock):
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RCVTIMEO, 1500)
        sock.connect(endpoint)
        sock.send(ping)
        try:
            return sock.recv()
        except zmq.Again:
            return None
        finally:
            sock.close()
    ctx = zmq.Context.instance()
    assert ask(ctx.socket(zmq.DEALER)) is None                   # no CURVE
    stranger = ctx.socket(zmq.DEALER)
    stranger.curve_publickey, stranger.curve_secretkey = zmq.curve_keypair()
    stranger.curve_serverkey = node_public.encode()
    assert ask(stranger) is None                                 # a key it does not know
