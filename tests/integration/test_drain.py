"""A gateway told to stop (SIGTERM: a scale-down, a rolling restart) lets
the requests in flight finish and sends its clients to the port's other
gateways: under load, no request fails."""
import signal
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
