"""Fixtures that start real PulseDB-C processes on a temporary data folder.

Binaries come from PDB_BUILD_DIR (set by ctest); every server listens on
127.0.0.1 on a port picked free at start.
"""
import os
import signal
import socket
import subprocess
import time

import msgpack
import pytest
import requests
import zmq

BUILD = os.environ.get("PDB_BUILD_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
STORAGE = os.path.join(BUILD, "services", "storage", "pulsedb-storage")
GATEWAY = os.path.join(BUILD, "services", "gateway", "pulsedb-gateway")
PULSEDB = os.path.join(BUILD, "tools", "pulsedb")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout=15.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except Exception:
            pass
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


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
