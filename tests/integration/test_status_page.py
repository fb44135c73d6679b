"""The status page (GET /) in a real browser: headless Chromium, driven
over the DevTools protocol, against two syncing nodes. The page asks for
the node's token, then shows the node, its collectives and, for the peer,
its state, lag (with the chart), WAL held back and errors, all refreshed
live; on a third, new node it shows a real initial sync in progress with
its ETA, then finished. Screenshots go to the test's temporary folder
(status-token.png, status.png, status-snapshot.png).

Chromium is Debian's `chromium` (scripts/deps.sh --test installs it); the
test is skipped, saying so, only when it is missing outside CI."""
import base64
import json
import os
import re
import shutil
import signal
import subprocess
import urllib.request

import pytest
import websocket

from conftest import new_token, wait_for

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
#  Entities beta holds when gamma's initial sync starts: with one-entity
#  pages, far more than a page could install between its first page and the
#  hold, on any machine.
SNAPSHOT_EXPERIENCES = 5000


class Browser:
    """One headless Chromium with one page, spoken to over the DevTools
    protocol's WebSocket (loopback only)."""

    def __init__(self, profile):
        self.ws = None
        self.log = open(os.path.join(profile, "..", "chromium.log"), "wb")
        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu",
             "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check",
             "--disable-extensions", "--disable-background-networking", "--hide-scrollbars",
             "--window-size=1400,1000", f"--user-data-dir={profile}",
             "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
             "about:blank"],
            stdout=subprocess.DEVNULL, stderr=self.log)
        try:
            self._connect(profile)
        except BaseException:
            self.close()
            raise
        self.next_id = 0

    def _connect(self, profile):
        port_file = os.path.join(profile, "DevToolsActivePort")

        def written():
            # "PORT\n/devtools/browser/ID", once Chromium listens.
            with open(port_file) as f:
                return "\n" in f.read()

        wait_for(written, timeout=30, what="chromium's DevTools port")
        with open(port_file) as f:
            port = int(f.read().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
            page = next(t for t in json.load(r) if t["type"] == "page")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=30,
                                              suppress_origin=True)

    def call(self, method, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            reply = json.loads(self.ws.recv())
            if reply.get("id") == self.next_id:
                assert "error" not in reply, reply
                return reply["result"]

    def js(self, expression):
        """The value of a JavaScript expression in the page."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True,
                           awaitPromise=True)
        assert "exceptionDetails" not in result, result
        return result["result"].get("value")

    def wait(self, expression, what, timeout=30):
        wait_for(lambda: self.js(expression), timeout=timeout, what=what,
                 detail=lambda: self.js("document.body.innerText"))

    def screenshot(self, path):
        data = base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"])
        with open(path, "wb") as f:
            f.write(data)
        return data

    def close(self):
        try:
            if self.ws is not None:
                self.ws.close()
        finally:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.log.close()


@pytest.fixture
def browser(tmp_path):
    if not CHROMIUM:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing, and CI must run the status page test "
                        "(scripts/deps.sh and .ci/run install it)")
        pytest.skip("chromium is not installed (apt-get install chromium, or "
                    "scripts/deps.sh --test): the status page test needs it")
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    b = Browser(str(profile))
    yield b
    b.close()


#  beta's row in alpha's peer table, and the text of one of its cells.
ROW = "document.querySelector('tr[data-peer=\"beta\"]')"
CELL = "(document.querySelector('tr[data-peer=\"beta\"] td.{}') || {{}}).textContent"


def test_status_page_shows_a_syncing_node_live(cluster, browser, tmp_path):
    alpha = cluster.add("alpha", start=False)
    beta = cluster.add("beta", start=False)
    cluster.link(alpha, beta)
    tokens = tmp_path / "alpha-tokens"
    read, write = new_token(tokens, "read"), new_token(tokens, "write")
    alpha.gateway_extra += ["--api-tokens", str(tokens)]
    alpha.start()
    beta.start()
    as_writer = {"Authorization": f"Bearer {write}"}
    coll = beta.collective("team")["id"]
    beta.experience(coll, "from beta")
    wait_for(lambda: alpha.get(f"/v1/collectives/{coll}/digest", headers=as_writer).json()
             == beta.get(f"/v1/collectives/{coll}/digest").json(), what="alpha has beta's data")

    # The page needs no token itself, then asks for one for its data.
    browser.call("Page.enable")
    browser.call("Page.navigate", url=alpha.url + "/")
    browser.wait("!document.getElementById('token-section').hidden", "the token prompt")
    assert browser.js("document.getElementById('node-section').hidden")
    browser.screenshot(tmp_path / "status-token.png")
    browser.js(f"document.getElementById('token').value = {json.dumps(read)};"
               "document.getElementById('token-form').requestSubmit(); true")
    browser.wait("!!" + ROW, "beta's row")
    assert browser.js(f"sessionStorage.getItem('pulsedb.token') === {json.dumps(read)}")
    assert browser.js("document.getElementById('instance').textContent") == alpha.instance_id
    browser.wait("document.getElementById('collectives').textContent.includes('team')",
                 "the collective")
    browser.wait("[...document.querySelectorAll('#collectives td')]"
                 ".some(td => td.textContent === '1')", "the collective's experience count")
    browser.wait(CELL.format("lag-changes") + " === '0'", "beta in step")

    # beta stops taking alpha's changes: alpha's lag to it grows and shows,
    # and so do the failing exchanges.
    beta.stop_syncer()
    for i in range(5):
        r = alpha.post(f"/v1/collectives/{coll}/experiences",
                       {"content": f"while beta is away {i}", "embedding": [1, 0, 0, 0]},
                       headers=as_writer)
        assert r.status_code == 201, r.text
    browser.wait(CELL.format("lag-changes") + " === '5'", "a lag of 5 changes")
    lag_ms = browser.js(CELL.format("lag-ms")).replace(",", "")
    assert lag_ms.isdigit(), lag_ms
    held = browser.js(CELL.format("wal-held")).split()[0].replace(",", "")
    assert int(held) >= 5, held
    # Two more refreshes at least: the chart has its lines.
    polls = int(browser.js("document.body.dataset.polls"))
    browser.wait(f"Number(document.body.dataset.polls) >= {polls + 2}", "two more refreshes")
    assert browser.js(ROW + ".querySelectorAll('polyline').length") >= 1
    browser.screenshot(tmp_path / "status.png")
    # The failing exchanges with beta (a 3 s connect wait each) show as the
    # error, with the failures counted.
    browser.wait(CELL.format("error") + ".includes('not reachable within')",
                 "beta's error", timeout=30)
    assert re.search(r"\((\d+) failures\)$", browser.js(CELL.format("error"))), \
        browser.js(CELL.format("error"))

    # A real snapshot in progress: gamma, a new node, takes beta's data by
    # an initial sync in one-entity pages. Beta's syncer is held (SIGSTOP)
    # once pages flow, so the snapshot stays mid-way however fast the
    # machine (gamma waits up to 120 s for a page), and the page shows its
    # progress; let go, the page shows it finish.
    beta.start_syncer()
    for first in range(0, SNAPSHOT_EXPERIENCES, 1000):
        batch = [{"content": f"bulk {i}", "embedding": [1, i, 0, 0]}
                 for i in range(first, first + 1000)]
        r = beta.post(f"/v1/collectives/{coll}/experiences:batch", {"experiences": batch})
        assert r.status_code == 201, r.text
    gamma = cluster.add("gamma", start=False, extra=["--sync-batch-max-changes", "1"])
    cluster.link(gamma, beta, direction="pull")
    gamma.start()
    wait_for(lambda: "initial sync peer=beta entities=" in gamma.log("syncer"), timeout=30,
             what="snapshot pages in gamma's log", detail=lambda: gamma.log_tail("syncer", 5))
    beta.syncer.send_signal(signal.SIGSTOP)
    try:
        assert "initial sync done" not in gamma.log("syncer"), "snapshot ended before it was held"

        def mid_snapshot():
            row = gamma.peer("beta")
            snap = row and row["state"] == "snapshot" and row["snapshot"]
            return snap and snap["rate"] and 0 < snap["done"] < snap["total"] and snap

        wait_for(mid_snapshot, timeout=10, what="snapshot progress in gamma's status",
                 detail=lambda: gamma.peer("beta"))
        browser.call("Page.navigate", url=gamma.url + "/")
        browser.wait("!!" + ROW, "gamma's row for beta")
        assert browser.js("document.getElementById('instance').textContent") \
            == gamma.instance_id

        seen = {}

        def progress_shown():
            """Whether the page shows the progress gamma's status reports, as
            the page words it (the page in flight when beta was held may
            still be installing: the two agree once it is in)."""
            snap = mid_snapshot()
            if not snap:
                return False
            pct = snap["done"] * 100 // snap["total"]
            shown = f"{snap['done']:,} / {snap['total']:,} ({pct}%) · {snap['rate']:,}/s · ETA "
            text = browser.js(CELL.format("snapshot")) or ""
            seen.update(snap=snap, pct=pct, eta=text[len(shown):])
            return text.startswith(shown)

        wait_for(progress_shown, timeout=30, what="the snapshot's progress on the page",
                 detail=lambda: (gamma.peer("beta"), browser.js(CELL.format("snapshot"))))
        snap, pct, eta = seen["snap"], seen["pct"], seen["eta"]
        assert snap["total"] >= SNAPSHOT_EXPERIENCES + 6, snap
        assert re.fullmatch(r"\d+ ms|[\d.]+ s|\d+ min \d+ s|\d+ h \d+ min", eta), eta
        assert browser.js(ROW + ".querySelector('.badge').textContent") == "snapshot"
        assert browser.js(ROW + ".querySelector('.bar div').style.width") == f"{pct}%"
        png = browser.screenshot(tmp_path / "status-snapshot.png")
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10000
    finally:
        beta.syncer.send_signal(signal.SIGCONT)
    total = f"{snap['total']:,}"
    browser.wait(CELL.format("snapshot") + f".startsWith('{total} / {total} (100%)')",
                 "the snapshot finished", timeout=120)
    browser.wait(ROW + ".querySelector('.badge').textContent !== 'snapshot'",
                 "gamma past its snapshot")
    assert gamma.digest(coll) == beta.digest(coll)
