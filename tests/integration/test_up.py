"""`pulsedb up` starts a working node, restarts a crashed child, stops on
SIGTERM; the client commands talk to it."""
import json
import os
import signal
import subprocess
import time

import requests

from conftest import PULSEDB, free_port, wait_for


def child_pids(parent):
    out = subprocess.run(["ps", "-o", "pid=,args=", "--ppid", str(parent)],
                         capture_output=True, text=True).stdout
    return {int(line.split()[0]): line.split(None, 1)[1] for line in out.strip().splitlines()}


def test_up_supervises_and_cli_works(tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    data = tmp_path / "data"
    log = open(tmp_path / "up.log", "wb")
    up = subprocess.Popen([PULSEDB, "up", "--data", str(data), "--port", str(port),
                           "--gateways", "2"], stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: requests.get(url + "/health", timeout=1).status_code == 200,
                 what="node from pulsedb up")
        cli = lambda *a: subprocess.run([PULSEDB, *a, "--url", url], capture_output=True,
                                        text=True, timeout=30)
        r = cli("collective", "create", "team", "--dim", "4")
        assert r.returncode == 0, r.stderr
        r = cli("put", "team", "--content", "hello", "--embedding", "[1,0,0,0]")
        assert r.returncode == 0, r.stderr
        r = cli("search", "team", "--embedding", "[1,0,0,0]", "--json")
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["results"][0]["experience"]["content"] == "hello"
        jsonl = tmp_path / "in.jsonl"
        jsonl.write_text("".join(json.dumps({"content": f"e{i}", "embedding": [0, 1, 0, 0]}) + "\n"
                                 for i in range(50)) + "{broken\n")
        team_id = json.loads(cli("collective", "list", "--json").stdout)["collectives"][0]["id"]
        r = cli("import", team_id, str(jsonl))      # by id as well as by name
        assert r.returncode == 1 and ":51:" in r.stderr + r.stdout
        assert requests.get(url + "/v1/status").json()["counts"]["experiences"] == 51

        gateways = [p for p, a in child_pids(up.pid).items() if "pulsedb-gateway" in a]
        assert len(gateways) == 2
        os.kill(gateways[0], signal.SIGKILL)
        wait_for(lambda: len([p for p, a in child_pids(up.pid).items()
                              if "pulsedb-gateway" in a and p != gateways[0]]) == 2,
                 what="gateway restarted")
        storage = [p for p, a in child_pids(up.pid).items() if "pulsedb-storage" in a][0]
        os.kill(storage, signal.SIGKILL)
        wait_for(lambda: cli("put", "team", "--content", "after", "--embedding",
                             "[1,0,0,0]").returncode == 0, what="writes after storage restart")
        r = cli("status")
        assert r.returncode == 0 and "52" in r.stdout
    finally:
        up.send_signal(signal.SIGTERM)
        code = up.wait(30)
        log.close()
    assert code == 0, (tmp_path / "up.log").read_text()
    assert child_pids(up.pid) == {}


def test_client_says_node_is_not_running(tmp_path):
    r = subprocess.run([PULSEDB, "status", "--url", f"http://127.0.0.1:{free_port()}"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert "not running" in r.stderr + r.stdout
