"""Sync controls: peers added, listed and removed over HTTP and with the
`pulsedb` command, bad peer input refused without effect, the sync status
and the per-peer /metrics series built from what the syncer writes (here
simulated: cursors with storage's "peer_set", the volatile status with the
status file), and `pulsedb sync once` finding (or not finding)
pulsedb-syncer."""
import json
import os
import shutil
import subprocess
import time
import uuid

import msgpack

from conftest import PULSEDB

COLL_A = "0190c3e2-0000-7000-8000-000000000001"
COLL_B = "0190c3e2-0000-7000-8000-000000000002"
CONFIG_FIELDS = {"name", "defined_by", "address", "direction", "collectives", "public_key"}


def cli(node, *args):
    return subprocess.run([PULSEDB, *args, "--url", node.url], capture_output=True, text=True,
                          timeout=30)


def peer_set(node, name, fields):
    reply = node.storage_call("peer_set", [name, fields])
    assert reply[1] == 0, reply


def status_set(node, peers):
    """Writes the syncer's status file (common/syncstat.h) as a syncer would:
    {peer name: {status fields}}, replaced whole."""
    doc = {"written_ms": int(time.time() * 1000), "pid": os.getpid(), "peers": peers}
    tmp = os.path.join(node.data, ".sync-status.mpk.test.tmp")
    with open(tmp, "wb") as f:
        f.write(msgpack.packb(doc, use_bin_type=True))
    os.replace(tmp, os.path.join(node.data, "sync-status.mpk"))


def peers(node):
    r = node.get("/v1/sync/peers")
    assert r.status_code == 200, r.text
    return r.json()["peers"]


def test_peers_added_listed_and_removed_over_http(node):
    assert peers(node) == []
    r = node.post("/v1/sync/peers", {"name": "beta", "address": "tcp://127.0.0.1:7701",
                                     "direction": "push", "collectives": [COLL_A, COLL_B]})
    assert r.status_code == 201, r.text
    made = r.json()
    assert {k: made[k] for k in CONFIG_FIELDS} == {
        "name": "beta", "defined_by": "api", "address": "tcp://127.0.0.1:7701",
        "direction": "push", "collectives": [COLL_A, COLL_B], "public_key": None}
    assert made["state"] is None and made["snapshot"] is None
    key = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
    r = node.post("/v1/sync/peers", {"name": "gamma", "address": "tcp://gamma.example:7700",
                                     "public_key": key})
    assert r.status_code == 201, r.text
    assert r.json()["direction"] == "both" and r.json()["collectives"] == []
    assert r.json()["public_key"] == key
    r = node.post("/v1/sync/peers", {"name": "delta", "address": "tcp://d.example:7700",
                                     "public_key": key[:-1]})
    assert r.status_code == 400 and "public_key" in r.text

    listed = peers(node)
    assert [p["name"] for p in listed] == ["beta", "gamma"]
    assert all(set(p) == CONFIG_FIELDS for p in listed)

    # The same name again is a conflict, and changes nothing.
    r = node.post("/v1/sync/peers", {"name": "beta", "address": "tcp://other:1"})
    assert r.status_code == 409, r.text
    assert "already exists" in r.json()["error"]["message"]
    assert peers(node) == listed

    r = node.delete("/v1/sync/peers/beta")
    assert r.status_code == 204, r.text
    assert [p["name"] for p in peers(node)] == ["gamma"]
    r = node.delete("/v1/sync/peers/beta")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"

    # Removed means forgotten: added again, it starts clean (no old filter).
    r = node.post("/v1/sync/peers", {"name": "beta", "address": "tcp://127.0.0.1:7702"})
    assert r.status_code == 201, r.text
    assert r.json()["collectives"] == [] and r.json()["direction"] == "both"
    r = node.get("/v1/sync/peers/beta")
    assert r.status_code == 405


def test_bad_peer_input_is_refused_and_changes_nothing(node):
    r = node.post("/v1/sync/peers", {"name": "keep", "address": "tcp://127.0.0.1:7701"})
    assert r.status_code == 201
    before = node.get("/v1/sync/status").json()
    too_many = [str(uuid.UUID(int=i + 1)) for i in range(257)]
    over_row = [str(uuid.UUID(int=i + 1)) for i in range(111)]
    cases = [
        ({"address": "tcp://h:1"}, 400, "'name' is required"),
        ({"name": "", "address": "tcp://h:1"}, 400, "'name'"),
        ({"name": "a b", "address": "tcp://h:1"}, 400, "'name'"),
        ({"name": "in:0190c3e2-0000-7000-8000-000000000001", "address": "tcp://h:1"}, 400, "'name'"),
        ({"name": "x" * 129, "address": "tcp://h:1"}, 400, "'name'"),
        ({"name": 5, "address": "tcp://h:1"}, 400, "'name' must be a string"),
        ({"name": "b"}, 400, "'address' is required"),
        ({"name": "b", "address": "10.0.0.1:7700"}, 400, "'address'"),
        ({"name": "b", "address": "tcp://h"}, 400, "'address'"),
        ({"name": "b", "address": "tcp://h:0"}, 400, "'address'"),
        ({"name": "b", "address": "tcp://h:99999"}, 400, "'address'"),
        ({"name": "b", "address": "tcp://*:7700"}, 400, "'address'"),
        ({"name": "b", "address": "tcp://h:*"}, 400, "'address'"),
        ({"name": "b", "address": "tcp://bad host:1"}, 400, "'address'"),
        ({"name": "b", "address": "http://h:7070/v1"}, 400, "'address'"),
        ({"name": "b", "address": "tcp://h:1", "direction": "sideways"}, 400, "'direction'"),
        ({"name": "b", "address": "tcp://h:1", "direction": True}, 400, "'direction'"),
        ({"name": "b", "address": "tcp://h:1", "collectives": COLL_A}, 400, "array"),
        ({"name": "b", "address": "tcp://h:1", "collectives": ["nope"]}, 400, "item 0"),
        ({"name": "b", "address": "tcp://h:1", "collectives": [COLL_A, COLL_A]}, 400, "repeats"),
        ({"name": "b", "address": "tcp://h:1", "collectives": too_many}, 413, "at most 256"),
        ({"name": "b", "address": "tcp://h:1", "collectives": over_row}, 413, "fit"),
        ({"name": "b", "address": "tcp://h:1", "token": "x"}, 400, "unknown field 'token'"),
        ({"name": "keep", "address": "tcp://h:1", "direction": "up"}, 400, "'direction'"),
    ]
    for body, status, says in cases:
        r = node.post("/v1/sync/peers", body)
        assert r.status_code == status, (body, r.text)
        assert says in r.json()["error"]["message"], (body, r.text)
    for raw, ctype, status in [("[]", "application/json", 400), ("{", "application/json", 400),
                               ('{"name":"b","address":"tcp://h:1"}', "text/plain", 415),
                               ("", "application/json", 400)]:
        r = node.post("/v1/sync/peers", data=raw, headers={"Content-Type": ctype})
        assert r.status_code == status, (raw, r.text)
    for bad in ["a%20b", "in:x", "x" * 129]:
        r = node.delete(f"/v1/sync/peers/{bad}")
        assert r.status_code == 400, (bad, r.text)
    assert node.get("/v1/sync/status").json() == before


def test_status_shows_peers_with_their_config_and_syncer_state(node):
    for i in range(5):
        node.collective(f"c{i}")
    head = node.get("/v1/status").json()["wal"]["head"]
    assert head == 5
    r = node.post("/v1/sync/peers", {"name": "beta", "address": "tcp://127.0.0.1:7701",
                                     "collectives": [COLL_A]})
    assert r.status_code == 201
    r = node.post("/v1/sync/peers", {"name": "delta", "address": "tcp://127.0.0.1:7703",
                                     "direction": "pull"})
    assert r.status_code == 201
    beta_id = uuid.uuid4()
    outsider = uuid.uuid4()
    # What the syncer writes for beta: identity and cursors through storage,
    # the rest in its status file (lag_ms: the age of the oldest change).
    peer_set(node, "beta", {"instance_id": beta_id.bytes, "pull_cursor": 12, "push_acked": 3,
                            "conflicts": 4, "last_seen_ms": 1600000000000})
    now = int(time.time() * 1000)
    status_set(node, {
        "beta": {"peer_head": 20, "lag_changes": 8, "pull_oldest_ms": now - 1500,
                 "last_seen_ms": 1700000000000, "last_success_ms": 1700000000000,
                 "error": "peer tcp://127.0.0.1:7701 timed out", "error_ms": 1700000000000,
                 "last_error": "peer tcp://127.0.0.1:7701 timed out",
                 "last_error_ms": 1700000000000, "failures": 2, "retries": 11,
                 "state": "snapshot", "snapshot_done": 50, "snapshot_total": 200,
                 "snapshot_bytes": 65536, "snapshot_rate": 25, "snapshot_eta_ms": 6000},
        "delta": {"state": "degraded", "failures": 5, "lag_changes": 2,
                  "error": "connection refused", "error_ms": 1700000000000,
                  "last_error": "connection refused", "last_error_ms": 1700000000000}})
    # beta also pulls from us (to 4); another instance that pushed here
    # pulled to 1; one that never pushed (a made-up id) holds nothing.
    peer_set(node, f"in:{beta_id}", {"instance_id": beta_id.bytes, "pulled_through": 4,
                                     "last_seen_ms": 1700000000000})
    peer_set(node, f"in:{outsider}", {"instance_id": outsider.bytes, "pulled_through": 1,
                                      "pushed": 1})
    drifter = uuid.uuid4()
    peer_set(node, f"in:{drifter}", {"instance_id": drifter.bytes, "pulled_through": 0,
                                     "refused": 2, "last_refused_ms": 1700000000001,
                                     "last_refusal": "forged"})

    status = node.get("/v1/sync/status").json()
    assert status["instance_id"] == node.get("/v1/status").json()["instance_id"]
    assert status["wal"]["head"] == head and status["wal"]["floor"] == 1
    # The outsider keeps entries 2..5 (4); beta keeps 4..5 past push_acked 3 (2).
    assert status["wal"]["held_back_by"] == f"in:{outsider}"
    by_name = {p["name"]: p for p in status["peers"]}
    assert list(by_name) == ["beta", "delta"]
    beta = by_name["beta"]
    # Its age when read: at least what it was when written.
    assert 1500 <= beta["lag_ms"] == beta["pull_lag_ms"] < 1500 + 60000, beta
    assert beta["push_lag_ms"] == 0                     # nothing of ours is waiting
    for key in ("lag_ms", "pull_lag_ms", "push_lag_ms"):
        del beta[key]
    assert beta == {
        "name": "beta", "defined_by": "api", "address": "tcp://127.0.0.1:7701",
        "direction": "both", "collectives": [COLL_A], "public_key": None, "state": "snapshot",
        "instance_id": str(beta_id), "pull_cursor": 12, "push_acked": 3, "peer_head": 20,
        "lag_changes": 8, "pull_lag_changes": 8, "push_lag_changes": head - 3,
        "wal_held_back": head - 3, "last_seen_ms": 1700000000000,
        "last_success_ms": 1700000000000,
        "error": "peer tcp://127.0.0.1:7701 timed out", "error_ms": 1700000000000,
        "last_error": "peer tcp://127.0.0.1:7701 timed out", "last_error_ms": 1700000000000,
        "failures": 2, "retries": 11, "conflicts": 4,
        "snapshot": {"done": 50, "total": 200, "bytes": 65536, "rate": 25, "eta_ms": 6000}}
    delta = by_name["delta"]
    assert delta["state"] == "degraded" and delta["failures"] == 5
    assert delta["lag_changes"] == 2 and delta["push_lag_changes"] is None
    assert delta["wal_held_back"] == 0 and delta["snapshot"] is None
    assert delta["instance_id"] is None and delta["retries"] is None
    inbound = {i["instance_id"]: i for i in status["inbound"]}
    assert inbound[str(beta_id)] == {"instance_id": str(beta_id), "pulled_through": 4,
                                     "last_seen_ms": 1700000000000, "peer": "beta",
                                     "holds_wal": True, "wal_held_back": 1,
                                     "refused": None, "last_refused_ms": None,
                                     "last_refusal": None}
    assert inbound[str(outsider)]["peer"] is None
    assert inbound[str(outsider)]["holds_wal"] is True
    assert inbound[str(outsider)]["wal_held_back"] == head - 1
    assert inbound[str(drifter)] == {"instance_id": str(drifter), "pulled_through": 0,
                                     "last_seen_ms": None, "peer": None,
                                     "holds_wal": False, "wal_held_back": 0,
                                     "refused": 2, "last_refused_ms": 1700000000001,
                                     "last_refusal": "forged"}

    # A cursor write never lowers it; state for an unknown name is listed too.
    peer_set(node, "beta", {"pull_cursor": 2})
    peer_set(node, "stale", {"state": "idle", "push_acked": 5})
    status = node.get("/v1/sync/status").json()
    by_name = {p["name"]: p for p in status["peers"]}
    assert by_name["beta"]["pull_cursor"] == 12
    assert by_name["stale"]["defined_by"] is None and by_name["stale"]["address"] is None
    # The peers list shows configuration only.
    assert all(set(p) == CONFIG_FIELDS for p in peers(node))
    # A status-only row can be removed; peer_del forgets cursors with it.
    assert node.delete("/v1/sync/peers/stale").status_code == 204
    assert "stale" not in [p["name"] for p in node.get("/v1/sync/status").json()["peers"]]


def test_metrics_show_per_peer_series(node):
    node.collective()
    assert node.post("/v1/sync/peers", {"name": "beta", "address": "tcp://127.0.0.1:7701",
                                        "direction": "push"}).status_code == 201
    assert node.post("/v1/sync/peers", {"name": "delta", "address": "tcp://127.0.0.1:7703",
                                        "direction": "pull"}).status_code == 201
    peer_set(node, "beta", {"push_acked": 0})
    peer_set(node, "delta", {"conflicts": 2})
    # delta lags 2500 ms at least; beta, which we push to, has nothing waiting.
    status_set(node, {
        "beta": {"failures": 1, "state": "snapshot", "snapshot_done": 3, "snapshot_total": 9},
        "delta": {"state": "degraded", "failures": 7, "lag_changes": 4, "retries": 12,
                  "pull_oldest_ms": int(time.time() * 1000) - 2500,
                  "last_success_ms": 1800000000000}})
    text = node.get("/metrics").text
    lag = next(l for l in text.splitlines() if l.startswith('pulsedb_sync_peer_lag_ms{peer="delta"}'))
    assert 2500 <= int(lag.split()[-1]) < 2500 + 60000, lag
    lines = set(text.splitlines())
    for line in ['pulsedb_sync_peers 2',
                 'pulsedb_sync_peer_up{peer="beta"} 1',
                 'pulsedb_sync_peer_up{peer="delta"} 0',
                 'pulsedb_sync_peer_lag_changes{peer="beta"} 1',
                 'pulsedb_sync_peer_lag_changes{peer="delta"} 4',
                 'pulsedb_sync_peer_failures{peer="beta"} 1',
                 'pulsedb_sync_peer_failures{peer="delta"} 7',
                 'pulsedb_sync_peer_wal_held_back{peer="beta"} 1',
                 'pulsedb_sync_peer_wal_held_back{peer="delta"} 0',
                 'pulsedb_sync_peer_snapshot_done{peer="beta"} 3',
                 'pulsedb_sync_peer_snapshot_total{peer="beta"} 9',
                 'pulsedb_sync_peer_state{peer="beta",state="snapshot"} 1',
                 'pulsedb_sync_peer_state{peer="delta",state="degraded"} 1',
                 'pulsedb_sync_peer_retries{peer="delta"} 12',
                 'pulsedb_sync_peer_conflicts{peer="delta"} 2',
                 'pulsedb_sync_peer_last_success_ms{peer="delta"} 1800000000000',
                 '# TYPE pulsedb_sync_peer_lag_changes gauge']:
        assert line in lines, line
    assert 'pulsedb_sync_peer_snapshot_done{peer="delta"}' not in text
    assert 'pulsedb_sync_peer_lag_ms{peer="beta"} 0' in lines       # pushes, nothing waiting
    # Names the API never accepts are still escaped as label values.
    peer_set(node, 'odd"\\name', {"push_acked": 1})
    assert 'pulsedb_sync_peer_up{peer="odd\\"\\\\name"} 1' in node.get("/metrics").text


def test_configured_peers_are_listed_and_changed_only_in_the_configuration(make_node):
    node = make_node(start=False)
    node.start_storage()
    node.start_gateway(extra=["--sync-peers",
                              f"alpha=tcp://10.0.0.1:7700,pull,collectives={COLL_A}"])
    status_set(node, {"alpha": {"state": "idle", "lag_changes": 0}})
    listed = peers(node)
    assert listed == [{"name": "alpha", "defined_by": "config", "address": "tcp://10.0.0.1:7700",
                       "direction": "pull", "collectives": [COLL_A], "public_key": None}]
    status = node.get("/v1/sync/status").json()
    assert status["peers"][0]["state"] == "idle"
    r = node.post("/v1/sync/peers", {"name": "alpha", "address": "tcp://10.0.0.9:7700"})
    assert r.status_code == 409 and "configuration" in r.json()["error"]["message"]
    r = node.delete("/v1/sync/peers/alpha")
    assert r.status_code == 409 and "configuration" in r.json()["error"]["message"]
    assert peers(node) == listed
    assert all(c == 0 for c in node.stop())


def test_cli_peer_add_list_remove_and_sync_status(node):
    node.collective()
    r = cli(node, "peer", "list")
    assert r.returncode == 0 and "no sync peers" in r.stdout
    r = cli(node, "peer", "add", "beta", "tcp://127.0.0.1:7701", "--direction", "push",
            "--collective", COLL_A, "--collective", COLL_B)
    assert r.returncode == 0, r.stderr
    assert "added peer beta" in r.stdout and "2 collectives" in r.stdout
    r = cli(node, "peer", "add", "gamma", "tcp://gamma.example:7700", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["defined_by"] == "api"
    got = {p["name"]: p for p in peers(node)}
    assert got["beta"]["collectives"] == [COLL_A, COLL_B] and got["beta"]["direction"] == "push"

    r = cli(node, "peer", "list")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split()[:2] == ["NAME", "DIRECTION"]
    assert any(l.split()[:3] == ["beta", "push", "api"] for l in lines)
    r = cli(node, "peer", "list", "--json")
    assert [p["name"] for p in json.loads(r.stdout)["peers"]] == ["beta", "gamma"]

    # Usage errors (exit 2) send nothing; server refusals exit 1.
    for args in [("peer", "add", "b c", "tcp://h:1"), ("peer", "add", "b", "tcp://h:0"),
                 ("peer", "add", "b", "tcp://h:1", "--direction", "up"),
                 ("peer", "add", "b", "tcp://h:1", "--collective", "nope"),
                 ("peer", "add", "b"), ("peer", "remove"), ("peer", "frob"), ("peer",),
                 ("sync",), ("sync", "frob"), ("sync", "status", "extra"),
                 ("peer", "list", "extra"), ("status", "extra")]:
        r = cli(node, *args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert "error:" in r.stderr, args
        if "extra" in args:
            assert "takes no arguments" in r.stderr, (args, r.stderr)
    r = cli(node, "peer", "add", "beta", "tcp://127.0.0.1:7709")
    assert r.returncode == 1 and "already exists" in r.stderr
    assert len(peers(node)) == 2

    peer_set(node, "beta", {"push_acked": 0})
    status_set(node, {"beta": {"state": "snapshot", "snapshot_done": 50, "snapshot_total": 200,
                               "snapshot_rate": 25, "snapshot_eta_ms": 6000, "failures": 3,
                               "error": "connection refused", "error_ms": 1700000000000,
                               "last_error": "connection refused",
                               "last_error_ms": 1700000000000}})
    r = cli(node, "sync", "status")
    assert r.returncode == 0, r.stderr
    assert "held back by beta" in r.stdout
    row = next(l for l in r.stdout.splitlines() if l.startswith("beta "))
    assert "snapshot" in row and "50/200 (25%) 25/s ETA 6s" in row
    assert "connection refused (3 failures)" in row
    r = cli(node, "sync", "status", "--json")
    assert r.returncode == 0
    assert json.loads(r.stdout)["peers"][0]["snapshot"]["total"] == 200

    r = cli(node, "peer", "remove", "beta")
    assert r.returncode == 0 and "removed peer beta" in r.stdout
    r = cli(node, "peer", "remove", "beta")
    assert r.returncode == 1 and "not_found" in r.stderr
    assert [p["name"] for p in peers(node)] == ["gamma"]

    for args in [("peer", "--help"), ("peer", "add", "--help"), ("peer", "list", "--help"),
                 ("peer", "remove", "--help"), ("sync", "--help"), ("sync", "status", "--help"),
                 ("sync", "once", "--help")]:
        r = subprocess.run([PULSEDB, *args], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0 and r.stdout.startswith("usage: pulsedb"), args
    r = subprocess.run([PULSEDB, "--help"], capture_output=True, text=True, timeout=30)
    assert "peer" in r.stdout and "sync" in r.stdout


def test_sync_once_runs_the_syncer_or_says_it_is_missing(tmp_path):
    bin_dir = tmp_path / "bin"
    empty = tmp_path / "empty"
    bin_dir.mkdir()
    empty.mkdir()
    tool = bin_dir / "pulsedb"
    shutil.copy(PULSEDB, tool)
    env = dict(os.environ, PATH=str(empty))
    data = tmp_path / "data"

    r = subprocess.run([str(tool), "sync", "once", "--data", str(data)], capture_output=True,
                       text=True, timeout=30, env=env)
    assert r.returncode == 1, r.stderr
    assert "cannot find pulsedb-syncer" in r.stderr

    # A bad configuration flag is a usage error, before any syncer is looked for.
    r = subprocess.run([str(tool), "sync", "once", "--bogus"], capture_output=True, text=True,
                       timeout=30, env=env)
    assert r.returncode == 2 and "--bogus" in r.stderr

    # Found next to pulsedb: run in its place with --once and the same flags.
    fake = bin_dir / "pulsedb-syncer"
    fake.write_text("#!/bin/sh\necho \"syncer $*\"\nexit 7\n")
    fake.chmod(0o755)
    r = subprocess.run([str(tool), "sync", "once", "--data", str(data), "--sync-peers",
                        "b=tcp://127.0.0.1:7701"], capture_output=True, text=True, timeout=30,
                       env=env)
    assert r.returncode == 7, r.stderr
    assert r.stdout.strip() == f"syncer --once --data {data} --sync-peers b=tcp://127.0.0.1:7701"

    # And on PATH when not next to it.
    fake.rename(empty / "pulsedb-syncer")
    r = subprocess.run([str(tool), "sync", "once"], capture_output=True, text=True,
                       timeout=30, env=env)
    assert r.returncode == 7 and r.stdout.strip() == "syncer --once"
