"""A gateway told to stop (SIGTERM: a scale-down, a rolling restart) lets
the requests in flight finish and sends its clients to the port's other
gateways: under load, no request fails."""
import json
import os
import re
import signal
import socket
import threading

import requests

from conftest import wait_for

CLIENTS = 6


def test_stopping_gateway_fails_no_request(make_node):
    node = make_node("drain", gateways=2)
    coll = node.collective("drain")["id"]
    acked, errors = [], []
    stop = threading.Event()

    def client(i):
        # Keep-alive: requests stay on one connection, so they are in
        # flight on the stopping gateway when SIGTERM comes.
        session = requests.Session()
        n = 0
        while not stop.is_set():
            try:
                r = session.post(f"{node.url}/v1/collectives/{coll}/experiences",
                                 json={"content": f"c{i}-{n}", "embedding": [1, 0, 0, 0]},
                                 timeout=30)
                if r.status_code == 201:
                    acked.append(r.json()["id"])
                else:
                    errors.append(f"{r.status_code} {r.text[:200]}")
            except requests.RequestException as e:
                errors.append(repr(e))
            n += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    try:
        wait_for(lambda: len(acked) >= 500, what="writes before the stop")
        leaving = node.gateways.pop(0)
        assert node.stop_process(leaving, signal.SIGTERM) == 0
        mark = len(acked)
        wait_for(lambda: len(acked) >= mark + 500, what="writes after the stop")
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert errors == []
    for exp_id in acked[::50]:
        assert node.get(f"/v1/experiences/{exp_id}").status_code == 200


def _read_reply(sock):
    """One HTTP reply (headers and a Content-Length body) read off a raw
    socket; returns (status line, headers text, body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        assert chunk, f"connection closed before a full reply: {data!r}"
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
    while len(body) < length:
        chunk = sock.recv(4096)
        assert chunk, "connection closed in the middle of a body"
        body += chunk
    return head.split(b"\r\n", 1)[0].decode(), head.decode(), body


def test_stopping_gateway_closes_idle_keepalive_at_once_and_finishes_requests(make_node):
    """An idle keep-alive connection is closed as soon as the stop begins,
    while a request still arriving (its body half sent) is answered: the
    drain waits for work, not for idle clients."""
    node = make_node("idle")
    gateway = node.gateways[0]
    idle = socket.create_connection(("127.0.0.1", node.port))
    idle.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
    status, _, _ = _read_reply(idle)
    assert status.endswith("200 OK"), status
    body = json.dumps({"name": "drained", "embedding_dim": 4}).encode()
    busy = socket.create_connection(("127.0.0.1", node.port))
    busy.sendall(b"POST /v1/collectives HTTP/1.1\r\nHost: t\r\n"
                 b"Content-Type: application/json\r\n"
                 b"Content-Length: %d\r\n\r\n" % len(body) + body[:10])
    # The gateway has the headers (and is waiting for the body) once a
    # request on a third connection has been answered after them.
    assert node.get("/health").status_code == 200
    gateway.send_signal(signal.SIGTERM)
    # The idle connection ends while the half-sent request is still open:
    # before the fix it stayed until the drain gave up, and the request
    # with it.
    idle.settimeout(30)
    assert idle.recv(1) == b""
    busy.sendall(body[10:])
    busy.settimeout(30)
    status, head, reply = _read_reply(busy)
    assert status.endswith("201 Created"), (status, reply)
    assert re.search(r"(?i)connection: *close", head), head
    assert json.loads(reply)["name"] == "drained"
    assert gateway.wait(30) == 0
    node.gateways.remove(gateway)
    log = open(os.path.join(node.log_dir, "gateway0.log")).read()
    assert "drain closed idle keep-alive connections count=1" in log, log
    assert "drain over with connections open" not in log, log
    idle.close()
    busy.close()
