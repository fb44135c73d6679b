"""The store's disk fails under a real storage process: a failing commit
acknowledges nothing, storage exits so that `pulsedb up` restarts it, and the
node serves again once the fault is gone; a request that fails inside a group
commit is rolled back alone while the rest commit; concurrent writes share
commits.

Faults come from tests/faultfs (libpdb_faultfs.so, built by CMake), preloaded
into the services and driven through the control file named by PDB_FAULTFS
(see faultfs.c for its words)."""
import errno
import os
import signal
import struct
import subprocess
import threading
import time
import uuid

import msgpack
import pytest
import requests
import zmq

from conftest import (PROTO, BUILD, PULSEDB, STORAGE, Node, SyncNode, free_port, sync_request,
                      wait_for)

FAULTFS = os.path.join(BUILD, "tests", "libpdb_faultfs.so")
PDB_EFULL = -5008
STORE_EXIT = 4                 # common/service.h: SERVICE_EXIT_STORE
BIG = "b" * 60000              # near the 64 KiB content limit
#  After the test releases a held commit, storage drains whatever waits on
#  its socket into the next group. This pause lets the I/O thread queue what
#  the test sent; the group the requests formed is then checked, not assumed.
SETTLE_S = 0.3


def _asan_runtime(binary):
    """The AddressSanitizer runtime binary links, or None. It must come first
    in LD_PRELOAD, before the fault library, or ASan refuses to start."""
    out = subprocess.run(["ldd", binary], capture_output=True, text=True).stdout
    for line in out.splitlines():
        if "libasan" in line and "=>" in line:
            return line.split("=>")[1].split()[0]
    return None


def fault_env(control):
    preload = [FAULTFS]
    asan = _asan_runtime(STORAGE)
    if asan:
        preload.insert(0, asan)
    return dict(os.environ, LD_PRELOAD=":".join(preload), PDB_FAULTFS=str(control))


class FaultNode(Node):
    """A storage (and gateway) with the fault library preloaded."""

    def __init__(self, root, name="f"):
        super().__init__(root / name, free_port(), str(root))
        self.control_path = root / f"{name}.faults"
        self.control_path.write_text("")
        self.storage_args = []

    def _spawn(self, argv, name):
        log = open(os.path.join(self.log_dir, f"{name}.log"), "ab")
        return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                env=fault_env(self.control_path))

    def start_storage(self):
        self.storage = self._spawn([STORAGE, "--data", self.data, *self.storage_args], "storage")
        wait_for(lambda: self.storage_call("ping")[1] == 0, what="storage ping")

    def faults(self, words):
        self.control_path.write_text(words)

    def held(self):
        return os.path.exists(f"{self.control_path}.held")

    def syncs(self):
        path = f"{self.control_path}.syncs"
        return os.path.getsize(path) if os.path.exists(path) else 0

    def stats(self):
        reply = self.storage_call("stats")
        assert reply[1] == 0, reply
        return reply[3]

    def socket(self):
        sock = zmq.Context.instance().socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RCVTIMEO, 20000)
        sock.connect(f"ipc://{os.path.realpath(self.data)}/storage.sock")
        return sock


def write_msg(coll_id, content, request_id=1):
    """storage's own "write" op for an experience, as the gateway sends it."""
    fields = msgpack.packb({"content": content,
                            "embedding": struct.pack("<4f", 1.0, 0.0, 0.0, 0.0)},
                           use_bin_type=True)
    return msgpack.packb([1, request_id, "write",
                          [2, 1, uuid.UUID(coll_id).bytes, None, fields]], use_bin_type=True)


def reply_of(sock):
    return msgpack.unpackb(sock.recv(), raw=False)


def write(node, coll_id, content):
    sock = node.socket()
    try:
        sock.send(write_msg(coll_id, content))
        return reply_of(sock)
    finally:
        sock.close()


def hold_a_commit(node, coll_id):
    """Makes storage's next fdatasync wait and sends one write into it.
    Returns the socket its reply will come on, once storage is held."""
    node.faults("hold")
    sock = node.socket()
    sock.send(write_msg(coll_id, "prime"))
    wait_for(node.held, what="storage held in its commit's fdatasync")
    return sock


@pytest.fixture
def fault_node(tmp_path):
    made = []

    def make(storage_args=()):
        node = FaultNode(tmp_path, f"f{len(made)}")
        node.storage_args = list(storage_args)
        made.append(node)
        return node.start()

    yield make
    for node in made:
        node.faults("")
        for proc in node.gateways + [node.storage]:
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()


def test_concurrent_writes_share_one_commit_and_one_fsync(fault_node):
    n = fault_node()
    c = n.collective("group", 4)
    before, syncs_before = n.stats(), n.syncs()
    prime = hold_a_commit(n, c["id"])
    clients = [n.socket() for _ in range(16)]
    for i, sock in enumerate(clients):
        sock.send(write_msg(c["id"], f"w{i}", i))
    time.sleep(SETTLE_S)
    n.faults("")
    replies = [reply_of(prime)] + [reply_of(sock) for sock in clients]
    for sock in [prime] + clients:
        sock.close()
    assert all(r[1] == 0 for r in replies), replies
    after = n.stats()
    writes = len(replies)
    commits = after["commits"] - before["commits"]
    syncs = n.syncs() - syncs_before
    assert commits < writes, f"{writes} writes took {commits} commits"
    assert after["group_max"] >= 2
    assert syncs == commits, f"{commits} commits made {syncs} fsyncs of the store"
    assert after["wal_head"] - before["wal_head"] == writes
    for r in replies:
        assert n.get(f"/v1/experiences/{uuid.UUID(bytes=bytes(r[3][0]))}").status_code == 200


def _metrics(node):
    """The gateway's /metrics samples: name (labels included) -> value."""
    m = node.get("/metrics")
    assert m.status_code == 200
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
            for line in m.text.splitlines() if line and not line.startswith("#")}


def test_metrics_show_storage_commits_and_how_long_they_took(fault_node):
    n = fault_node()
    c = n.collective("timed", 4)
    before = _metrics(n)
    assert before["pulsedb_storage_up"] == 1
    # One commit held in its fdatasync for over half a second, then three more
    # writes through the API.
    prime = hold_a_commit(n, c["id"])
    time.sleep(0.6)
    n.faults("")
    assert reply_of(prime)[1] == 0
    prime.close()
    for i in range(3):
        n.experience(c["id"], f"after {i}")
    after = _metrics(n)

    def delta(name):
        return after[name] - before[name]

    commits = delta("pulsedb_storage_commits_total")
    assert delta("pulsedb_storage_committed_writes_total") == 4
    assert 2 <= commits <= 4
    hist = "pulsedb_storage_commit_duration_seconds"
    assert after[f"{hist}_count"] == after["pulsedb_storage_commits_total"]
    assert after[f'{hist}_bucket{{le="+Inf"}}'] == after[f"{hist}_count"]
    bounds = [k for k in after if k.startswith(f"{hist}_bucket")]
    counts = [after[k] for k in bounds]
    assert counts == sorted(counts), "buckets are cumulative"
    # The held commit is in the sum and above the 0.25 s bucket; the others are
    # fast, so at most commits - 1 new ones are at or under 0.25 s.
    assert delta(f"{hist}_sum") >= 0.55
    assert delta(f'{hist}_bucket{{le="0.25"}}') <= commits - 1
    assert delta(f'{hist}_bucket{{le="10"}}') == commits
    assert delta("pulsedb_storage_run_seconds_total") > 0
    assert delta("pulsedb_storage_requests_total") >= 4
    # Without storage the scrape still answers, and says so.
    n.storage.kill()
    n.storage.wait()
    gone = _metrics(n)
    assert gone["pulsedb_storage_up"] == 0
    assert "pulsedb_storage_commits_total" not in gone
    assert gone["pulsedb_store_up"] == 1


DRAIN_S = 5.0                  # services/gateway/gateway.h: GATEWAY_DRAIN_MS


def test_creates_in_flight_when_the_gateway_stops_still_get_their_answers(fault_node):
    """The gateway is told to stop while creates wait on a held commit. Its
    drain gives up after DRAIN_S, but it stays until storage answers, and
    every create gets that answer before the gateway exits: the writes
    committed, and a client that saw its connection close instead would
    retry into a duplicate. Several at once: libmicrohttpd sends some of the
    replies it resumes only on its next pass."""
    n = fault_node()
    c = n.collective("stopping", 4)
    n.faults("hold")
    results = [{} for _ in range(4)]

    def create(result, i):
        try:
            r = requests.post(f"{n.url}/v1/collectives/{c['id']}/experiences",
                              json={"content": f"in flight {i}", "embedding": [1.0, 0, 0, 0]},
                              timeout=30)
            result["status"] = r.status_code
        except requests.RequestException as e:
            result["error"] = repr(e)

    clients = [threading.Thread(target=create, args=(results[0], 0))]
    clients[0].start()
    wait_for(n.held, what="the first create held in its commit")
    for i in range(1, len(results)):          # these wait behind it, at the gateway
        clients.append(threading.Thread(target=create, args=(results[i], i)))
        clients[-1].start()
    time.sleep(SETTLE_S)
    gateway = n.gateways[0]
    gateway.send_signal(signal.SIGTERM)
    time.sleep(DRAIN_S + 0.5)
    assert gateway.poll() is None, "the gateway left creates unanswered"
    n.faults("")
    for client in clients:
        client.join(20)
    assert [r.get("status") for r in results] == [201] * len(results), results
    assert gateway.wait(10) == 0


def _wal_of(node):
    """node's whole WAL, each entry an encoded change, as its syncer serves it."""
    me, target = uuid.uuid4().bytes, uuid.UUID(node.instance_id).bytes
    changes, cursor = [], 0
    while True:
        reply = sync_request(node.sync_address, [PROTO, "pull", {
            "source": me, "target": target, "cursor": cursor, "max_changes": 1000,
            "max_bytes": 4 << 20, "wait_ms": 0, "vector": {}}], timeout_ms=30000)
        assert reply and reply[1] == "pull_ok", reply
        changes += reply[2]["changes"]
        cursor = reply[2]["next_cursor"]
        if not reply[2]["has_more"]:
            return changes


def apply_msg(changes, request_id):
    """storage's "apply" op: a peer's changes, as the syncer sends them (no
    peer row; the cursor is the batch's last sequence)."""
    last = msgpack.unpackb(changes[-1], raw=False)[0]
    return msgpack.packb([1, request_id, "apply", ["", last, changes]], use_bin_type=True)


def test_failing_request_in_a_group_is_rolled_back_alone(fault_node, tmp_path):
    # A batch of a peer's changes bigger than the whole 16 MiB map: it fails
    # with a full map after many of its changes were written, inside a group
    # whose other writes are small.
    src = SyncNode(tmp_path, "src").start(gateways=1, syncer=True)
    try:
        src_coll = src.collective("big", 4)["id"]
        _bulk_write(src, src_coll, [BIG + str(i) for i in range(300)])
        big_batch = _wal_of(src)
    finally:
        src.stop_syncer()
        src.stop()
    assert len(big_batch) == 301 and sum(map(len, big_batch)) > 17 << 20
    n = fault_node(["--map-size-mb", "16", "--commit-max-kb", str(64 << 10)])
    c = n.collective("small", 4)
    grouped = False
    for attempt in range(3):
        before = n.stats()
        prime = hold_a_commit(n, c["id"])
        sock = n.socket()
        sock.send(write_msg(c["id"], f"before-{attempt}", 1))
        sock.send(apply_msg(big_batch, 2))                # fails in its own transaction
        sock.send(write_msg(c["id"], f"after-{attempt}", 3))
        time.sleep(SETTLE_S)
        n.faults("")
        assert reply_of(prime)[1] == 0
        replies = {r[0]: r for r in (reply_of(sock) for _ in range(3))}
        prime.close()
        sock.close()
        after = n.stats()
        assert replies[2][1] == PDB_EFULL, replies[2][:3]
        assert replies[1][1] == 0 and replies[3][1] == 0, replies
        # Only the three small writes reached the WAL: what the batch wrote
        # before the map filled went with its nested transaction.
        assert after["wal_head"] - before["wal_head"] == 3
        assert n.get(f"/v1/collectives/{src_coll}").status_code == 404
        for r in (replies[1], replies[3]):
            got = n.get(f"/v1/experiences/{uuid.UUID(bytes=bytes(r[3][0]))}")
            assert got.status_code == 200, got.text
        # Two commits for four requests: the prime's, then one for the three.
        if after["commits"] - before["commits"] == 2:
            grouped = True
            break
    assert grouped, "the three requests never landed in one group"
    # The store is intact: a batch that fits applies.
    sock = n.socket()
    sock.send(apply_msg(big_batch[:3], 9))
    r = reply_of(sock)
    sock.close()
    assert r[1] == 0, r[:3]
    assert n.get(f"/v1/collectives/{src_coll}").status_code == 200


def _bulk_write(node, coll_id, contents):
    """Pipelined writes straight to node's storage; all must succeed."""
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVTIMEO, 30000)
    sock.connect(f"ipc://{os.path.realpath(node.data)}/storage.sock")
    try:
        for i, content in enumerate(contents):
            sock.send(write_msg(coll_id, content, i))
        for _ in contents:
            reply = reply_of(sock)
            assert reply[1] == 0, reply[:3]
    finally:
        sock.close()


def test_nested_transaction_that_cannot_begin_fails_that_request_only(fault_node):
    n = fault_node()
    c = n.collective("nested", 4)
    n.faults("nested")
    r = write(n, c["id"], "refused")
    assert r[1] == -errno.ENOMEM and "cannot begin a transaction" in r[2], r
    assert n.storage.poll() is None, "storage died on a nested transaction that did not begin"
    n.faults("")
    r = write(n, c["id"], "accepted")
    assert r[1] == 0, r
    status = n.get("/v1/status").json()
    assert status["counts"]["experiences"] == 1


# -- under `pulsedb up` --------------------------------------------------------

def _pids(parent, program):
    out = subprocess.run(["ps", "-o", "pid=,args=", "--ppid", str(parent)],
                         capture_output=True, text=True).stdout
    return [int(line.split()[0]) for line in out.strip().splitlines() if program in line]


def _post(url, coll_id, content):
    try:
        return requests.post(f"{url}/v1/collectives/{coll_id}/experiences", timeout=30,
                             json={"content": content, "embedding": [1.0, 0.0, 0.0, 0.0]})
    except requests.RequestException:
        return None


@pytest.mark.parametrize("fault", ["fdatasync", "pwrite", "pwrite enospc", "meta"])
def test_failed_commit_acknowledges_nothing_and_storage_restarts(tmp_path, fault):
    """fdatasync: the commit's fsync fails; pwrite: its page writes (EIO, or
    ENOSPC as on a full disk); meta: its meta page, after which LMDB answers
    MDB_PANIC to every transaction until the environment is opened again."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    control = tmp_path / "faults"
    control.write_text("")
    log_path = tmp_path / "up.log"
    log = open(log_path, "wb")
    up = subprocess.Popen([PULSEDB, "up", "--data", str(tmp_path / "data"), "--port", str(port),
                           "--sync-bind", "", "--storage-timeout-ms", "5000"],
                          stdout=log, stderr=subprocess.STDOUT, env=fault_env(control))
    try:
        wait_for(lambda: requests.get(url + "/health", timeout=1).status_code == 200,
                 timeout=30, what="node from pulsedb up")
        r = requests.post(url + "/v1/collectives", json={"name": "f", "embedding_dim": 4})
        assert r.status_code == 201, r.text
        coll = r.json()["id"]
        r = _post(url, coll, "acked before")
        assert r is not None and r.status_code == 201, r and r.text
        acked = [r.json()["id"]]
        storage = _pids(up.pid, "pulsedb-storage")
        assert len(storage) == 1

        control.write_text(fault)
        r = _post(url, coll, "must not be acknowledged")
        # Storage answers the group's writes with the commit's error (500)
        # before it exits; when the gateway sees the connection drop before
        # it reads that answer, it reports storage unavailable (503).
        assert r is not None and r.status_code in (500, 503), r and r.text
        wait_for(lambda: _pids(up.pid, "pulsedb-storage") not in ([], storage),
                 timeout=30, what="storage restarted after the store fault")
        control.write_text("")

        def write_ok():
            r = _post(url, coll, "after")
            if r is not None and r.status_code == 201:
                acked.append(r.json()["id"])
                return True
            return False
        wait_for(write_ok, timeout=30, what="a write accepted after the fault cleared")
        for i in acked:
            assert requests.get(f"{url}/v1/experiences/{i}").status_code == 200
        status = requests.get(url + "/v1/status").json()
        assert status["counts"]["experiences"] == len(acked), status
    finally:
        control.write_text("")
        up.send_signal(signal.SIGTERM)
        code = up.wait(60)
        log.close()
    text = log_path.read_text(errors="replace")
    assert code == 0, text
    assert f"name=storage" in text and f"status=exit_{STORE_EXIT}" in text, text
