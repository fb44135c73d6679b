"""Slow and hostile HTTP clients: a slowloris must not stop normal requests,
a stage of a request has a deadline, and malformed request lines get 400."""
import select
import socket
import time

import requests

SLOW_SOCKETS = 600          # more than the old limit of 512 connections
HEADERS_DEADLINE_S = 10     # HTTP_HEADERS_S in services/gateway/http.c
ATTACK_BOUND_S = HEADERS_DEADLINE_S + 15


def _open_slow(port, n):
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"POST /v1/collectives HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        s.setblocking(False)
        socks.append(s)
    return socks


def _dribble(socks):
    """One byte to every socket still open; returns the ones the server has
    closed (EOF, reset, or a reply)."""
    closed = []
    for s in socks:
        try:
            readable, _, _ = select.select([s], [], [], 0)
            if readable and s.recv(4096) == b"":
                closed.append(s)
                continue
            s.send(b"a")
        except OSError:
            closed.append(s)
    return closed


def _normal_requests(node, coll_id, i):
    """A read, a write and a search, each on a fresh connection."""
    assert requests.get(node.url + "/health", timeout=10).status_code == 200
    r = requests.post(node.url + f"/v1/collectives/{coll_id}/experiences",
                      json={"content": f"during attack {i}", "embedding": [1, i, 0, 0]},
                      timeout=10)
    assert r.status_code == 201, r.text
    r = requests.post(node.url + f"/v1/collectives/{coll_id}/search",
                      json={"embedding": [1, i, 0, 0], "k": 1}, timeout=10)
    assert r.status_code == 200 and r.json()["results"], r.text


def test_slowloris_does_not_stop_normal_requests_and_is_cut_off(node):
    coll = node.collective("slow", 4)
    socks = _open_slow(node.port, SLOW_SOCKETS)
    open_socks = list(socks)
    try:
        # While every slow socket is open and dribbling, normal clients are served.
        for i in range(5):
            for s in _dribble(open_socks):
                open_socks.remove(s)
            _normal_requests(node, coll["id"], i)
            time.sleep(1)
        assert len(open_socks) > SLOW_SOCKETS // 2, "slow sockets closed before the deadline"
        # Bytes keep coming, but the headers are overdue: the server hangs up.
        end = time.monotonic() + ATTACK_BOUND_S
        while open_socks and time.monotonic() < end:
            for s in _dribble(open_socks):
                open_socks.remove(s)
            time.sleep(1)
        assert not open_socks, f"{len(open_socks)} dribbling connections still open"
        _normal_requests(node, coll["id"], 99)
    finally:
        for s in socks:
            s.close()


def _raw_exchange(port, data):
    """Sends data on a fresh connection; returns everything the server sent
    until it closed the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(data)
        received = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                return received
            received += chunk


def test_nul_in_request_line_gets_400_and_close(node):
    for line in [b"GET /he\x00alth HTTP/1.1", b"GET /health\x00 HTTP/1.1",
                 b"GET\x00 /health HTTP/1.1", b"GET\x00X /health HTTP/1.1",
                 b"GET /v1/collectives\x00/x HTTP/1.1", b"GET /health HTTP/1.1\x00"]:
        reply = _raw_exchange(node.port, line + b"\r\nHost: x\r\n\r\n")
        assert reply.startswith(b"HTTP/1.1 400 "), (line, reply[:80])
    assert node.get("/health").status_code == 200


def test_many_watch_streams_leave_requests_served(node):
    """Streams wait for changes without holding a thread: more of them than
    there are worker threads still leave every request answered, and each
    stream gets the change."""
    coll = node.collective("watched", 4)
    streams = []
    try:
        for _ in range(100):
            s = socket.create_connection(("127.0.0.1", node.port), timeout=10)
            s.sendall(f"GET /v1/collectives/{coll['id']}/watch HTTP/1.1\r\nHost: x\r\n\r\n"
                      .encode())
            streams.append(s)
        for s in streams:
            assert s.recv(4096).startswith(b"HTTP/1.1 200 ")
        made = node.experience(coll["id"], "seen by all")
        assert node.get("/health").status_code == 200
        for s in streams:
            seen = b""
            while made["id"].encode() not in seen:
                chunk = s.recv(65536)
                assert chunk, "stream ended early"
                seen += chunk
    finally:
        for s in streams:
            s.close()
