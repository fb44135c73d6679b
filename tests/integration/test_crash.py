"""kill -9 the storage process while clients write: every acknowledged write
survives, the store reopens cleanly, and nothing is half-applied."""
import os
import random
import signal
import threading
import time

import requests

from conftest import wait_for

ROUNDS = int(os.environ.get("PDB_CRASH_ROUNDS", "20"))
CLIENTS = 4


def writer(url, coll_id, acked, stop, errors):
    session = requests.Session()
    i = 0
    while not stop.is_set():
        i += 1
        body = {"content": f"w{threading.get_ident()}-{i}", "embedding": [1.0, 0.0, 0.0, float(i)]}
        try:
            r = session.post(f"{url}/v1/collectives/{coll_id}/experiences", json=body, timeout=15)
        except requests.RequestException:
            continue
        if r.status_code == 201:
            acked.append(r.json()["id"])
        elif r.status_code != 503:
            errors.append(r.text)


def test_kill_storage_while_writing_loses_no_acknowledged_write(make_node):
    seed = int(os.environ.get("PDB_SEED", random.randrange(1 << 30)))
    rnd = random.Random(seed)
    print(f"crash test seed={seed}")
    # A short storage timeout: writes in flight when storage dies answer 503
    # after 1 s instead of 10 s, so the 20 rounds stay quick.
    n = make_node("crash", start=False)
    n.start_storage()
    n.start_gateway(["--storage-timeout-ms", "1000"])
    c = n.collective("crash", 4)
    acked, errors = [], []
    for round_no in range(ROUNDS):
        stop = threading.Event()
        threads = [threading.Thread(target=writer, args=(n.url, c["id"], acked, stop, errors))
                   for _ in range(CLIENTS)]
        for t in threads:
            t.start()
        time.sleep(rnd.uniform(0.1, 0.6))
        n.storage.send_signal(signal.SIGKILL)
        n.storage.wait()
        stop.set()
        for t in threads:
            t.join()
        n.start_storage()
        assert not errors, f"seed={seed} round={round_no}: {errors[:3]}"
    wait_for(lambda: n.get("/health").status_code == 200, what="health after crashes")
    assert acked, "no write was acknowledged: the test proved nothing"
    missing = [i for i in acked if n.get(f"/v1/experiences/{i}").status_code != 200]
    assert not missing, f"seed={seed}: {len(missing)} acknowledged writes lost"
    # Every acknowledged write is in the WAL exactly once more than the collective.
    status = n.get("/v1/status").json()
    assert status["counts"]["experiences"] >= len(acked)
    assert status["counts"]["experiences"] == status["wal"]["head"] - 1
    n.stop()
