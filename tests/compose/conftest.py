"""The docker-compose.yml deployment, brought up for real: one stack per
test module under a project name of its own, torn down (containers,
networks, volumes) even when a test fails.

Run by scripts/compose-test.sh, which checks for a Docker engine and the
base image first. Environment:
  PDB_COMPOSE        the compose command ["docker compose" when it works,
                     else "docker-compose"]
  PDB_COMPOSE_IMAGE  the image tag the stack builds and runs [pulsedb:compose-test]
  PDB_COMPOSE_PROJECT the project name [pdbtest + a random suffix]
  PDB_COMPOSE_KEEP=1 leaves the stack up after the tests (to look at it)

Tests reach the nodes only through the ports published on the host's
loopback, as a user would.
"""
import json
import os
import shlex
import socket
import subprocess
import threading
import time
import uuid

import pytest
import requests

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
COMPOSE_FILE = os.path.join(ROOT, "docker-compose.yml")
IMAGE = os.environ.get("PDB_COMPOSE_IMAGE", "pulsedb:compose-test")
NODES = ("alpha", "beta", "gamma")
# Every service of every node, profile services included, so that `down`
# removes what a profile started.
PROFILES = ("--profile", "gamma")


def compose_command():
    given = os.environ.get("PDB_COMPOSE")
    if given:
        return shlex.split(given)
    if subprocess.run(["docker", "compose", "version"], capture_output=True,
                      timeout=60).returncode == 0:
        return ["docker", "compose"]
    return ["docker-compose"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout, what, detail=None):
    """Polls predicate until true; on timeout says what was awaited and,
    when given, what detail() returns."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except Exception as e:          # a node restarting refuses connections
            last = e
        time.sleep(0.2)
    extra = f": {detail()}" if detail else (f" (last error {last!r})" if last else "")
    raise AssertionError(f"timed out after {timeout}s waiting for {what}{extra}")


class NodeClient:
    """A node's HTTP API through its published port, with its admin token."""

    def __init__(self, name, port, token):
        self.name = name
        self.url = f"http://127.0.0.1:{port}"
        self.headers = {"Authorization": f"Bearer {token}"}

    def get(self, path, **kw):
        return requests.get(self.url + path, headers=self.headers, timeout=15, **kw)

    def post(self, path, body, **kw):
        return requests.post(self.url + path, json=body, headers=self.headers, timeout=15, **kw)

    def healthy(self):
        return requests.get(self.url + "/health", timeout=3).status_code == 200

    def digest(self, coll):
        r = self.get(f"/v1/collectives/{coll}/digest")
        r.raise_for_status()
        return r.json()

    def write(self, coll, content, session=None):
        """One experience; its id once acknowledged (201), else an exception.
        A fresh connection each time, unless a session is given, so that
        successive writes land on any of the node's gateways."""
        send = session.post if session else requests.post
        headers = dict(self.headers)
        if session is None:
            headers["Connection"] = "close"
        r = send(f"{self.url}/v1/collectives/{coll}/experiences", headers=headers, timeout=30,
                 json={"content": content, "embedding": [1.0, 0.0, 0.0, 0.0]})
        if r.status_code != 201:
            raise RuntimeError(f"{self.name}: {r.status_code} {r.text[:200]}")
        return r.json()["id"]

    def has(self, exp_id):
        return self.get(f"/v1/experiences/{exp_id}").status_code == 200

    def gateway_pid(self):
        """The PID of the gateway that answered (a fresh connection)."""
        r = requests.get(self.url + "/metrics", timeout=10,
                         headers={**self.headers, "Connection": "close"})
        r.raise_for_status()
        for line in r.text.splitlines():
            if line.startswith("pulsedb_gateway_info{"):
                return line.split('pid="', 1)[1].split('"', 1)[0]
        raise AssertionError("no pulsedb_gateway_info in /metrics")


class Stack:
    """One compose project: the commands, the nodes' clients, the cleanup."""

    def __init__(self, project):
        self.project = project
        self.compose = compose_command()
        self.ports = {name: free_port() for name in NODES}
        self.env = dict(os.environ, PULSEDB_IMAGE=IMAGE, PULSEDB_LOG_LEVEL="info",
                        **{f"{n.upper()}_PORT": str(p) for n, p in self.ports.items()})
        self.nodes = {}

    def run(self, *args, check=True, timeout=600):
        cmd = [*self.compose, "-f", COMPOSE_FILE, "-p", self.project, *args]
        r = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
        return r

    def up(self, *args):
        return self.run("up", "-d", "--no-build", *args)

    def scale(self, service, n):
        """Sets the number of a service's containers, leaving the others."""
        return self.up("--no-deps", "--no-recreate", "--scale", f"{service}={n}", service)

    def containers(self, service):
        return self.run("ps", "-q", service).stdout.split()

    def container(self, service):
        ids = self.containers(service)
        assert len(ids) == 1, f"{service}: {ids}"
        return ids[0]

    def inspect(self, container):
        out = subprocess.run(["docker", "inspect", container], capture_output=True, text=True,
                             check=True, timeout=60).stdout
        return json.loads(out)[0]

    def network(self, name):
        out = subprocess.run(["docker", "network", "ls", "-q", "--filter",
                              f"label=com.docker.compose.project={self.project}", "--filter",
                              f"label=com.docker.compose.network={name}"],
                             capture_output=True, text=True, check=True,
                             timeout=60).stdout.split()
        assert len(out) == 1, f"network {name}: {out}"
        return out[0]

    def node(self, name):
        """The node's client, once its first gateway answers."""
        if name not in self.nodes:
            token = self.run("exec", "-T", name, "pulsedb-show-token").stdout.strip()
            client = NodeClient(name, self.ports[name], token)
            wait_for(client.healthy, 90, f"{name} healthy", detail=lambda: self.logs(name))
            self.nodes[name] = client
        return self.nodes[name]

    def logs(self, *services):
        return self.run("logs", "--no-color", "--tail", "40", *services, check=False).stdout

    def leftovers(self):
        """Containers, networks and volumes still labelled with the project."""
        label = f"label=com.docker.compose.project={self.project}"
        found = {}
        for kind, cmd in (("containers", ["ps", "-aq"]), ("networks", ["network", "ls", "-q"]),
                          ("volumes", ["volume", "ls", "-q"])):
            out = subprocess.run(["docker", *cmd, "--filter", label], capture_output=True,
                                 text=True, check=True, timeout=60).stdout.split()
            if out:
                found[kind] = out
        return found

    def down(self):
        return self.run(*PROFILES, "down", "-v", "--remove-orphans", "-t", "20", check=False)


@pytest.fixture(scope="module")
def stack():
    project = os.environ.get("PDB_COMPOSE_PROJECT") or f"pdbtest{uuid.uuid4().hex[:10]}"
    s = Stack(project)
    try:
        # The compose file's own build: layers are cached between runs.
        s.run("build", "alpha", timeout=1800)
        s.up("--scale", "alpha-gateway=2", "--scale", "beta-gateway=2")
        for name in ("alpha", "beta"):
            s.node(name)
        yield s
    finally:
        if os.environ.get("PDB_COMPOSE_KEEP") == "1":
            print(f"\nstack left up: {' '.join(s.compose)} -p {project} ...")
        else:
            r = s.down()
            assert r.returncode == 0, r.stderr
            assert s.leftovers() == {}


class Writers:
    """Client threads writing to nodes until stopped. Every acknowledged
    write is recorded; every failure too (with what it was)."""

    def __init__(self, targets, coll, prefix, keepalive=False):
        self.targets, self.coll, self.prefix = targets, coll, prefix
        self.keepalive = keepalive
        self.acked, self.failed = [], []
        self._stop = threading.Event()
        self._threads = []

    def _run(self, i, node):
        session = requests.Session() if self.keepalive else None
        n = 0
        while not self._stop.is_set():
            try:
                self.acked.append(node.write(self.coll, f"{self.prefix}-{i}-{n}", session))
            except Exception as e:
                self.failed.append(f"{node.name}: {e!r}"[:300])
                time.sleep(0.05)
            n += 1

    def __enter__(self):
        for i, node in enumerate(self.targets):
            t = threading.Thread(target=self._run, args=(i, node), daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def wait_acked(self, n, what):
        wait_for(lambda: len(self.acked) >= n, 120, what,
                 detail=lambda: f"{len(self.acked)} acked, failures {self.failed[-3:]}")

    def __exit__(self, *exc):
        self._stop.set()
        for t in self._threads:
            t.join(60)
        return False
