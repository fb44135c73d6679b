"""Fixtures that start real PulseDB-C processes on a temporary data folder.

Binaries come from PDB_BUILD_DIR (set by ctest); every server listens on
127.0.0.1 on a port picked free at start.

`node`/`make_node`: storage + gateways. `cluster`: sync nodes (storage +
gateway + syncer each, see SyncNode) whose processes can be stopped, killed
with SIGKILL and restarted one by one. Syncers log at PDB_SYNC_LOG_LEVEL
(default info) to TMP/NAME-logs/syncer.log.
"""
import os
import signal
import socket
import struct
import subprocess
import threading
import time
import uuid

import msgpack
import pytest
import requests
import zmq

BUILD = os.environ.get("PDB_BUILD_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
STORAGE = os.path.join(BUILD, "services", "storage", "pulsedb-storage")
GATEWAY = os.path.join(BUILD, "services", "gateway", "pulsedb-gateway")
SYNCER = os.path.join(BUILD, "services", "syncer", "pulsedb-syncer")
PULSEDB = os.path.join(BUILD, "tools", "pulsedb")


_given_ports = set()
_ports_lock = threading.Lock()


def free_port():
    """A port free now and not handed out before in this run (a syncer binds
    its port only when started, so two nodes must not be given the same)."""
    with _ports_lock:
        while True:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            if port not in _given_ports:
                _given_ports.add(port)
                return port


def wait_for(predicate, timeout=15.0, what="condition", detail=None):
    """Polls predicate until it is true. On timeout the message names `what`
    and, when given, what detail() returns (the state that was wrong)."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except Exception as e:
            last_error = e
        time.sleep(0.05)
    extra = ""
    if detail is not None:
        try:
            extra = f": {detail()}"
        except Exception as e:
            extra = f": (detail failed: {e!r})"
    elif last_error is not None:
        extra = f" (last error {last_error!r})"
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}{extra}")


def new_token(path, role):
    """A new token of `role` added to the token file at path (made owner-only
    when new) by `pulsedb token new`."""
    r = subprocess.run([PULSEDB, "token", "new", role, "test", "--file", str(path)],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip().split()[-1]


class Node:
    """One storage process and any number of gateways over one data folder."""

    def __init__(self, data, port, log_dir):
        self.data = str(data)
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_dir = log_dir
        self.storage = None
        self.gateways = []

    def _spawn(self, argv, name):
        log = open(os.path.join(self.log_dir, f"{name}.log"), "ab")
        return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)

    def start_storage(self):
        self.storage = self._spawn([STORAGE, "--data", self.data], "storage")
        wait_for(lambda: self.storage_call("ping")[1] == 0, what="storage ping")

    def start_gateway(self, extra=()):
        gw = self._spawn([GATEWAY, "--data", self.data, "--host", "127.0.0.1",
                          "--port", str(self.port), *extra], f"gateway{len(self.gateways)}")
        self.gateways.append(gw)
        wait_for(lambda: requests.get(self.url + "/health", timeout=1).status_code == 200,
                 what="gateway health")
        return gw

    def start(self, gateways=1):
        self.start_storage()
        for _ in range(gateways):
            self.start_gateway()
        return self

    def storage_call(self, op, args=(), timeout_ms=2000):
        """One request on the storage socket; returns [id, rc, message, result]."""
        ctx = zmq.Context.instance()
        sock = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RCVTIMEO, timeout_ms)
        sock.connect(f"ipc://{os.path.realpath(self.data)}/storage.sock")
        try:
            sock.send(msgpack.packb([1, 7, op, list(args)], use_bin_type=True))
            return msgpack.unpackb(sock.recv(), raw=False)
        finally:
            sock.close()

    def stop_process(self, proc, sig=signal.SIGTERM, timeout=10):
        if proc is None or proc.poll() is not None:
            return proc.returncode if proc else None
        proc.send_signal(sig)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise AssertionError(f"process {proc.args[0]} ignored signal {sig}")

    def stop(self):
        codes = [self.stop_process(gw) for gw in self.gateways]
        codes.append(self.stop_process(self.storage))
        self.gateways = []
        self.storage = None
        return codes

    # -- HTTP helpers -----------------------------------------------------
    def get(self, path, **kw):
        return requests.get(self.url + path, timeout=10, **kw)

    def post(self, path, body=None, **kw):
        return requests.post(self.url + path, json=body, timeout=10, **kw)

    def patch(self, path, body=None, **kw):
        return requests.patch(self.url + path, json=body, timeout=10, **kw)

    def delete(self, path, **kw):
        return requests.delete(self.url + path, timeout=10, **kw)

    def collective(self, name="c", dim=4):
        r = self.post("/v1/collectives", {"name": name, "embedding_dim": dim})
        assert r.status_code == 201, r.text
        return r.json()

    def experience(self, coll_id, content="x", embedding=None, **fields):
        body = {"content": content, "embedding": embedding or [1.0, 0.0, 0.0, 0.0], **fields}
        r = self.post(f"/v1/collectives/{coll_id}/experiences", body)
        assert r.status_code == 201, r.text
        return r.json()


@pytest.fixture
def make_node(tmp_path):
    nodes = []

    def make(name="n", gateways=1, start=True):
        node = Node(tmp_path / name, free_port(), str(tmp_path))
        nodes.append(node)
        return node.start(gateways) if start else node

    yield make
    for node in nodes:
        for proc in node.gateways + [node.storage]:
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.fixture
def node(make_node):
    n = make_node()
    yield n
    codes = n.stop()
    assert all(c == 0 for c in codes), f"unclean exit codes {codes}"


# -- sync: nodes with a syncer, clusters of them -------------------------------

#  Short timings so sync tests are quick: long polls of 0.5 s, retries from
#  50 ms up to 1 s.
FAST_SYNC = ("--sync-pull-wait-ms", "500", "--sync-retry-initial-ms", "50",
             "--sync-retry-max-ms", "1000")
SYNC_LOG_LEVEL = os.environ.get("PDB_SYNC_LOG_LEVEL", "info")


def id_str(raw):
    """A 16-byte id as the API prints it."""
    return str(uuid.UUID(bytes=bytes(raw)))


def sync_request(address, message, timeout_ms=5000, frames=None, curve=None):
    """One request to a syncer's sync port (DEALER, as the syncer itself
    talks). `message` is a list (packed with MessagePack) or raw bytes;
    `frames` sends these frames instead; `curve` = (server's public key, our
    key pair or None for a made-up one) speaks CURVE. Returns the decoded
    reply, or None when nothing came back in time (a refused CURVE
    handshake looks the same)."""
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVTIMEO, timeout_ms)
    if curve:
        server_public, keys = curve
        sock.curve_publickey, sock.curve_secretkey = keys or zmq.curve_keypair()
        sock.curve_serverkey = server_public.encode()
    sock.connect(address)
    try:
        if frames is None:
            if not isinstance(message, bytes):
                message = msgpack.packb(message, use_bin_type=True)
            sock.send(message)
        else:
            sock.send_multipart(frames)
        try:
            return msgpack.unpackb(sock.recv(), raw=False, strict_map_key=False)
        except zmq.Again:
            return None
    finally:
        sock.close()


# The sync protocol's version (common/sync_msg.h SYNC_PROTOCOL_VERSION).
PROTO = 2


def hello_msg(instance=None, protocol=PROTO, version=PROTO, target=None):
    body = {"instance": instance or uuid.uuid4().bytes, "protocol": protocol,
            "capabilities": ["push", "pull", "snapshot"], "vector": {}}
    if target is not None:
        body["target"] = target
    return [version, "hello", body]


class SyncNode(Node):
    """storage + one gateway + a syncer over one data folder.

    Peers are `--sync-peers` entries (`add_peer`) given to the syncer (and
    to the gateway, so /v1/sync/peers lists them as configured). Any process
    can be stopped (`stop_syncer`), killed (`kill`) and started again
    (`restart`). Logs go to ROOT/NAME-logs/{storage,gateway0,syncer}.log."""

    def __init__(self, root, name):
        log_dir = os.path.join(str(root), f"{name}-logs")
        os.makedirs(log_dir, exist_ok=True)
        super().__init__(os.path.join(str(root), name), free_port(), log_dir)
        self.name = name
        self.sync_port = free_port()
        self.sync_address = f"tcp://127.0.0.1:{self.sync_port}"
        self.peers = []
        self.sync_extra = []
        self.log_level = SYNC_LOG_LEVEL
        self.gateway_extra = []
        self.syncer = None
        self._instance = None
        self.public_key = None          # set by keygen(): the syncer then requires CURVE

    def __repr__(self):
        return f"SyncNode({self.name})"

    # -- configuration ---------------------------------------------------
    def spec(self, direction="both", collectives=(), name=None, http=False):
        """This node as a --sync-peers entry: its ZeroMQ sync address (with
        its CURVE key, when it has one), or with http its gateway's URL."""
        out = f"{name or self.name}={self.http_address() if http else self.sync_address}"
        if direction != "both":
            out += f",{direction}"
        if collectives:
            out += ",collectives=" + ";".join(collectives)
        if self.public_key and not http:
            out += f",key={self.public_key}"
        return out

    def http_address(self):
        return self.url

    def add_peer(self, other, direction="both", collectives=(), http=False):
        self.peers.append(other.spec(direction, collectives, http=http))

    def keygen(self):
        """Makes the node's CURVE key pair (before its syncer starts)."""
        r = subprocess.run([PULSEDB, "keygen", "--data", self.data], capture_output=True,
                           text=True, timeout=10)
        assert r.returncode == 0, r.stderr
        self.public_key = r.stdout.strip()
        return self.public_key

    def sync_flags(self):
        flags = ["--sync-bind", self.sync_address, *FAST_SYNC, *self.sync_extra]
        if self.peers:
            flags += ["--sync-peers", " ".join(self.peers)]
        return flags

    # -- processes -------------------------------------------------------
    def _wait_up(self, proc, name, predicate, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError(f"{self.name}: {name} exited with {proc.returncode}:\n"
                                     f"{self.log_tail(name)}")
            try:
                if predicate():
                    return
            except Exception:
                pass
            time.sleep(0.05)
        raise AssertionError(f"{self.name}: {name} not up after {timeout}s:\n{self.log_tail(name)}")

    def start_storage(self):
        self.storage = self._spawn([STORAGE, "--data", self.data], "storage")
        self._wait_up(self.storage, "storage", lambda: self.storage_call("ping")[1] == 0)

    def start_gateway(self, extra=()):
        flags = ["--sync-peers", " ".join(self.peers)] if self.peers else []
        gw = self._spawn([GATEWAY, "--data", self.data, "--host", "127.0.0.1",
                          "--port", str(self.port), *flags, *self.gateway_extra, *extra],
                         "gateway0")
        self.gateways.append(gw)
        self._wait_up(gw, "gateway0",
                      lambda: requests.get(self.url + "/health", timeout=1).status_code == 200)
        return gw

    def start_syncer(self, extra=()):
        assert self.syncer is None, f"{self.name}: syncer already running"
        started = self.log("syncer").count(" I syncer: started ")
        self.syncer = self._spawn([SYNCER, "--data", self.data, "--log-level", self.log_level,
                                   *self.sync_flags(), *extra], "syncer")
        if self.public_key:
            #  A CURVE server answers no stranger's hello: wait for its start line.
            ready = lambda: self.log("syncer").count(" I syncer: started ") > started
        else:
            ready = lambda: (sync_request(self.sync_address, hello_msg(), 500)
                             or [0, ""])[1] == "hello_ok"
        self._wait_up(self.syncer, "syncer", ready)
        return self.syncer

    def start(self, gateways=1, syncer=True):
        self.start_storage()
        for _ in range(gateways):
            self.start_gateway()
        if syncer:
            self.start_syncer()
        return self

    def proc(self, which):
        return {"storage": self.storage, "syncer": self.syncer,
                "gateway": self.gateways[0] if self.gateways else None}[which]

    def _forget(self, which):
        if which == "storage":
            self.storage = None
        elif which == "syncer":
            self.syncer = None
        else:
            self.gateways = []

    def kill(self, which, sig=signal.SIGKILL):
        """Kills storage, syncer or gateway at once (SIGKILL by default)."""
        proc = self.proc(which)
        assert proc is not None, f"{self.name}: no {which} running"
        proc.send_signal(sig)
        proc.wait(30)
        self._forget(which)

    def stop_syncer(self):
        """SIGTERM: the syncer finishes what it is doing and exits 0."""
        code = self.stop_process(self.syncer, timeout=30)
        self.syncer = None
        assert code == 0, f"{self.name}: syncer exited {code}:\n{self.log_tail('syncer')}"

    def restart(self, which):
        {"storage": self.start_storage, "gateway": self.start_gateway,
         "syncer": self.start_syncer}[which]()

    def running(self):
        out = [("storage", self.storage), ("syncer", self.syncer)]
        out += [(f"gateway{i}", g) for i, g in enumerate(self.gateways)]
        return [(n, p) for n, p in out if p is not None]

    def log(self, name="syncer"):
        path = os.path.join(self.log_dir, f"{name}.log")
        if not os.path.exists(path):
            return ""
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def log_tail(self, name, lines=30):
        return "\n".join(self.log(name).splitlines()[-lines:])

    # -- state -----------------------------------------------------------
    @property
    def instance_id(self):
        if self._instance is None:
            self._instance = id_str(self.stats()["instance_id"])
        return self._instance

    def stats(self):
        """storage's counters: wal_head, wal_floor, applied, known, ... (the
        counters restart from 0 with the storage process)."""
        reply = self.storage_call("stats")
        assert reply[1] == 0, reply
        return reply[3]

    def wal_head(self):
        return self.stats()["wal_head"]

    def sync_status(self):
        r = self.get("/v1/sync/status")
        assert r.status_code == 200, r.text
        return r.json()

    def peer(self, name):
        """This node's status row for peer `name` (None when it has none)."""
        return next((p for p in self.sync_status()["peers"] if p["name"] == name), None)

    def digest(self, coll_id):
        """The collective's digest, or None when this node does not have it."""
        r = self.get(f"/v1/collectives/{coll_id}/digest")
        if r.status_code == 404:
            return None
        assert r.status_code == 200, r.text
        return r.json()["digest"]

    def bulk_experiences(self, coll_id, n, prefix="bulk", dim=4):
        """n experiences written straight to storage, pipelined (storage's own
        "write" op, as the gateway sends it, but ~20x quicker than HTTP for
        building a backlog). Returns their ids."""
        sock = zmq.Context.instance().socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RCVTIMEO, 30000)
        sock.connect(f"ipc://{os.path.realpath(self.data)}/storage.sock")
        coll = uuid.UUID(coll_id).bytes
        try:
            for i in range(n):
                emb = struct.pack(f"<{dim}f", 1.0, *([float(i)] + [0.0] * (dim - 2)))
                fields = msgpack.packb({"content": f"{prefix}-{i}", "embedding": emb},
                                       use_bin_type=True)
                sock.send(msgpack.packb([1, i, "write", [2, 1, coll, None, fields]],
                                        use_bin_type=True))
            ids = [None] * n
            for _ in range(n):
                reply = msgpack.unpackb(sock.recv(), raw=False)
                assert reply[1] == 0, reply
                ids[reply[0]] = id_str(reply[3][0])
            return ids
        finally:
            sock.close()

    def collective_ids(self):
        r = self.get("/v1/collectives")
        assert r.status_code == 200, r.text
        return sorted(c["id"] for c in r.json()["collectives"])


class Cluster:
    """Sync nodes in one temporary folder. Teardown stops every process and
    fails the test if one had crashed or stops uncleanly."""

    def __init__(self, root):
        self.root = str(root)
        self.nodes = {}

    def add(self, name, start=True, syncer=True, extra=()):
        node = SyncNode(self.root, name)
        node.sync_extra += list(extra)
        self.nodes[name] = node
        if start:
            node.start(syncer=syncer)
        return node

    def __getitem__(self, name):
        return self.nodes[name]

    def __iter__(self):
        return iter(self.nodes.values())

    @staticmethod
    def link(a, b, direction="both", collectives=()):
        """a syncs with b (direction as seen from a); b does the same with a
        when direction is both. Call before the syncers start."""
        a.add_peer(b, direction, collectives)
        if direction == "both":
            b.add_peer(a, direction, collectives)

    def describe(self, coll_ids=None):
        """What each node holds: for diagnostics in assertion messages."""
        out = []
        for n in self:
            try:
                st = n.stats()
                line = f"{n.name}: head={st['wal_head']} floor={st['wal_floor']} " \
                       f"applied={st['applied']} known={st['known']} missing={st['missing']}"
            except Exception as e:
                line = f"{n.name}: storage unreachable ({e!r})"
            try:
                ids = coll_ids if coll_ids is not None else n.collective_ids()
                line += " digests=" + ",".join(f"{c[:8]}:{(n.digest(c) or '-')[:8]}" for c in ids)
                line += " peers=" + ",".join(
                    f"{p['name']}:{p['state']}:pc{p['pull_cursor']}:pa{p['push_acked']}"
                    for p in n.sync_status()["peers"])
            except Exception as e:
                line += f" (gateway: {e!r})"
            out.append(line)
        return "\n  " + "\n  ".join(out)

    def converged(self, nodes=None, coll_ids=None):
        """True when the nodes hold the same collectives with equal digests
        (only the collectives coll_ids, when given)."""
        nodes = list(nodes or self)
        ids = coll_ids
        if ids is None:
            lists = [n.collective_ids() for n in nodes]
            if any(l != lists[0] for l in lists):
                return False
            ids = lists[0]
        for c in ids:
            digests = {n.digest(c) for n in nodes}
            if len(digests) != 1 or None in digests:
                return False
        return True

    def add_from_snapshot(self, name, source, coll_ids=None):
        """A new, empty node that adds `source` as a peer through the API,
        installs its snapshot and converges with it."""
        node = self.add(name)
        r = node.post("/v1/sync/peers", {"name": source.name, "address": source.sync_address})
        assert r.status_code == 201, r.text
        wait_for(lambda: f"initial sync done peer={source.name}" in node.log("syncer"),
                 timeout=30, what=f"{name}'s snapshot of {source.name}",
                 detail=lambda: node.log_tail("syncer", 5))
        self.wait_converged(nodes=[source, node], coll_ids=coll_ids)
        return node

    def wait_converged(self, nodes=None, coll_ids=None, timeout=30, what="convergence"):
        wait_for(lambda: self.converged(nodes, coll_ids), timeout=timeout, what=what,
                 detail=lambda: self.describe(coll_ids))

    def caught_up(self, nodes=None):
        """True when every running syncer among `nodes` has pulled its peers'
        whole WAL and had its own acknowledged (cursor == head), so nothing
        is in flight: a quiet cluster."""
        nodes = list(nodes or self)
        heads = {n.name: n.wal_head() for n in nodes}
        for n in nodes:
            if n.syncer is None:
                continue
            rows = {p["name"]: p for p in n.sync_status()["peers"]}
            for spec in n.peers:
                name, rest = spec.split("=", 1)
                if name not in heads:
                    continue
                direction = "push" if ",push" in rest else "pull" if ",pull" in rest else "both"
                row = rows.get(name)
                if row is None:
                    return False
                if direction != "push" and row["pull_cursor"] != heads[name]:
                    return False
                if direction != "pull" and row["push_acked"] != heads[n.name]:
                    return False
        return heads == {n.name: n.wal_head() for n in nodes}

    def wait_quiet(self, nodes=None, timeout=30, what="a quiet cluster"):
        wait_for(lambda: self.caught_up(nodes), timeout=timeout, what=what,
                 detail=lambda: self.describe())

    def stop_all(self):
        """SIGTERM to every process, syncers first, then gateways, then
        storage (each group at once). Returns what went wrong: a process
        that had died (a crash, a sanitizer report) or stopped uncleanly."""
        problems = []
        for n in self:
            for name, proc in n.running():
                if proc.poll() is not None and proc.returncode != 0:
                    problems.append(f"{n.name}/{name} had exited with {proc.returncode}:\n"
                                    f"{n.log_tail(name)}")
        groups = [[(n, "syncer", n.syncer) for n in self],
                  [(n, f"gateway{i}", g) for n in self for i, g in enumerate(n.gateways)],
                  [(n, "storage", n.storage) for n in self]]
        for group in groups:
            live = [(n, name, p) for n, name, p in group if p is not None and p.poll() is None]
            for _, _, proc in live:
                proc.send_signal(signal.SIGTERM)
            for n, name, proc in live:
                try:
                    code = proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                    problems.append(f"{n.name}/{name} ignored SIGTERM for 30 s")
                    continue
                if code != 0:
                    problems.append(f"{n.name}/{name} exited {code} on SIGTERM:\n"
                                    f"{n.log_tail(name)}")
        for n in self:
            n.syncer, n.gateways, n.storage = None, [], None
        return problems


@pytest.fixture
def cluster(tmp_path):
    cl = Cluster(tmp_path)
    yield cl
    problems = cl.stop_all()
    assert not problems, "\n".join(problems)
