"""docker-compose.yml across containers: two nodes sync, survive a network
partition, a storage container killed mid-write and gateways scaled under
load; a third node joins through the `gamma` profile. The tests share one
stack and run in file order (each leaves both nodes converged)."""
import subprocess

import pytest
import requests

from conftest import Writers, wait_for

CONVERGE_S = 120


@pytest.fixture(scope="module")
def coll(stack):
    alpha, beta = stack.node("alpha"), stack.node("beta")
    r = alpha.post("/v1/collectives", {"name": "compose", "embedding_dim": 4})
    assert r.status_code == 201, r.text
    coll = r.json()["id"]
    wait_for(lambda: beta.get(f"/v1/collectives/{coll}").status_code == 200, CONVERGE_S,
             "the collective on beta", detail=lambda: stack.logs("alpha-syncer", "beta-syncer"))
    return coll


def wait_converged(stack, coll, names=("alpha", "beta")):
    nodes = [stack.node(n) for n in names]
    wait_for(lambda: len({str(n.digest(coll)) for n in nodes}) == 1, CONVERGE_S,
             f"equal digests on {', '.join(names)}",
             detail=lambda: {n.name: n.digest(coll) for n in nodes})


def assert_everywhere(stack, ids, names=("alpha", "beta")):
    for name in names:
        missing = [i for i in ids if not stack.node(name).has(i)]
        assert missing == [], f"{name} lacks {len(missing)} acknowledged writes"


def gateway_pids(node, want, tries=400):
    """Distinct gateway PIDs seen over fresh connections, until `want`."""
    seen = set()
    for _ in range(tries):
        seen.add(node.gateway_pid())
        if len(seen) >= want:
            break
    return seen


def test_writes_through_several_gateways_of_both_nodes_converge(stack, coll):
    alpha, beta = stack.node("alpha"), stack.node("beta")
    # Each node runs two gateway containers on one port; both answer.
    assert len(stack.containers("alpha-gateway")) == 2
    assert len(gateway_pids(alpha, 2)) == 2
    assert len(gateway_pids(beta, 2)) == 2
    ids = [node.write(coll, f"{node.name}-{i}") for i in range(60) for node in (alpha, beta)]
    wait_converged(stack, coll)
    assert_everywhere(stack, ids)


def test_partition_then_reconnect_loses_no_acknowledged_write(stack, coll):
    alpha, beta = stack.node("alpha"), stack.node("beta")
    mesh = stack.network("mesh")
    beta_node = stack.container("beta")
    subprocess.run(["docker", "network", "disconnect", mesh, beta_node], check=True, timeout=60)
    try:
        # Both sides keep serving their own clients through their own network.
        with Writers([alpha, alpha, beta, beta], coll, "partition") as w:
            w.wait_acked(400, "writes on both sides of the partition")
        assert w.failed == []
        # Cut off for real: a write on beta does not reach alpha.
        probe = beta.write(coll, "written on beta while cut off")
        assert not alpha.has(probe)
    finally:
        subprocess.run(["docker", "network", "connect", "--alias", "beta", mesh, beta_node],
                       check=True, timeout=60)
    wait_converged(stack, coll)
    assert_everywhere(stack, w.acked + [probe])


def test_storage_killed_mid_write_restarts_and_keeps_acknowledged_writes(stack, coll):
    alpha = stack.node("alpha")
    storage = stack.container("alpha-storage")
    restarts = stack.inspect(storage)["RestartCount"]
    with Writers([alpha, alpha, alpha, stack.node("beta")], coll, "kill") as w:
        w.wait_acked(200, "writes before the kill")
        # SIGKILL to pulsedb-storage, as a crash would: the container exits
        # and Docker's restart policy starts it again. Detached (-d): an exec
        # session in a container that dies under it may never be closed.
        subprocess.run(["docker", "exec", "-d", storage, "sh", "-c",
                        "kill -9 $(pidof pulsedb-storage)"], check=True, timeout=60)
        wait_for(lambda: stack.inspect(storage)["RestartCount"] > restarts
                 and stack.inspect(storage)["State"]["Running"], 60, "alpha-storage restarted")
        mark = len(w.acked)
        w.wait_acked(mark + 200, "writes after the restart")
    # Writes in flight at the kill may fail (503): never an acknowledged one.
    wait_converged(stack, coll)
    assert_everywhere(stack, w.acked)
    # The gateways and the syncer rode the restart out in their containers.
    assert len(stack.containers("alpha-gateway")) == 2


def test_gateways_scale_up_and_down_under_load_without_a_failed_request(stack, coll):
    alpha = stack.node("alpha")
    stack.scale("alpha-gateway", 1)
    with Writers([alpha] * 4, coll, "scale") as w, \
            Writers([alpha] * 2, coll, "scale-ka", keepalive=True) as ka:
        w.wait_acked(100, "writes on one gateway")
        stack.scale("alpha-gateway", 3)
        assert len(stack.containers("alpha-gateway")) == 3
        assert len(gateway_pids(alpha, 3)) == 3
        mark = len(w.acked)
        w.wait_acked(mark + 300, "writes on three gateways")
        stack.scale("alpha-gateway", 1)
        assert len(stack.containers("alpha-gateway")) == 1
        mark = len(w.acked)
        w.wait_acked(mark + 200, "writes on one gateway again")
    assert w.failed == [] and ka.failed == []
    assert len(gateway_pids(alpha, 2, tries=50)) == 1
    wait_converged(stack, coll)
    assert_everywhere(stack, w.acked[::10] + ka.acked[::10])


def test_gamma_profile_adds_a_node_that_syncs_with_beta_over_http_only(stack, coll):
    stack.run("--profile", "gamma", "up", "-d", "--no-build", "--no-recreate", "gamma",
              "gamma-storage", "gamma-syncer", "gamma-gateway")
    alpha, beta, gamma = stack.node("alpha"), stack.node("beta"), stack.node("gamma")
    wait_converged(stack, coll, names=("alpha", "beta", "gamma"))
    # Both ways, through beta: alpha and gamma share no network.
    on_gamma = gamma.write(coll, "written on gamma")
    on_alpha = alpha.write(coll, "written on alpha for gamma")
    wait_for(lambda: alpha.has(on_gamma), CONVERGE_S, "gamma's write on alpha",
             detail=lambda: stack.logs("gamma-syncer", "beta-syncer", "beta-gateway"))
    wait_for(lambda: gamma.has(on_alpha), CONVERGE_S, "alpha's write on gamma",
             detail=lambda: stack.logs("gamma-syncer", "beta-syncer", "beta-gateway"))
    wait_converged(stack, coll, names=("alpha", "beta", "gamma"))
    # gamma's one link is beta's gateway: no ZeroMQ peer, no sync socket,
    # not on `mesh`.
    status = gamma.get("/v1/sync/status").json()
    assert [(p["name"], p["address"]) for p in status["peers"]] == [
        ("beta", "http://beta:7070")], status["peers"]
    assert not any(p["address"].startswith("tcp://") for p in status["peers"])
    networks = stack.inspect(stack.container("gamma"))["NetworkSettings"]["Networks"]
    assert mesh_name(stack) not in networks, list(networks)
    # beta's sync routes take peer tokens only (so gamma got through with
    # its own): none is 401, the admin token 403.
    hello = {"Content-Type": "application/msgpack"}
    r = requests.post(beta.url + "/v1/sync/hello", data=b"\x80", headers=hello, timeout=15)
    assert r.status_code == 401, r.status_code
    r = requests.post(beta.url + "/v1/sync/hello", data=b"\x80", timeout=15,
                      headers={**hello, **beta.headers})
    assert r.status_code == 403, r.status_code
    # The peer token opens the sync routes and nothing else; the admin
    # token keeps working on both nodes.
    token = stack.run("exec", "-T", "gamma", "pulsedb-show-token", "peer:beta").stdout.strip()
    assert token and token != beta.headers["Authorization"].split()[1]
    r = requests.get(beta.url + "/v1/status", headers={"Authorization": f"Bearer {token}"},
                     timeout=15)
    assert r.status_code in (401, 403), r.status_code
    assert beta.get("/v1/status").status_code == 200
    assert gamma.get("/v1/status").status_code == 200


def mesh_name(stack):
    """The name Docker gave the project's `mesh` network."""
    out = subprocess.run(["docker", "network", "inspect", "-f", "{{.Name}}",
                          stack.network("mesh")], capture_output=True, text=True, check=True,
                         timeout=60).stdout
    return out.strip()
