"""The status page (GET /) in a real browser: headless Chromium, driven
over the DevTools protocol, against two syncing nodes. The page asks for
the node's token, then shows the node, its collectives and, for the peer,
its state, lag (with the chart), WAL held back and errors, and a snapshot
in progress with its ETA, all refreshed live. Screenshots go to the test's
temporary folder (status-token.png, status.png, status-snapshot.png).

Chromium is Debian's `chromium` (scripts/deps.sh --test installs it); the
test is skipped, saying so, only when it is missing outside CI."""
import base64
import json
import os
import shutil
import subprocess
import time
import urllib.request

import msgpack
import pytest
import websocket

from conftest import new_token, wait_for

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


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


def status_set(node, peers):
    """Writes the syncer's status file (common/syncstat.h) as a syncer would."""
    doc = {"written_ms": int(time.time() * 1000), "pid": os.getpid(), "peers": peers}
    tmp = os.path.join(node.data, ".sync-status.mpk.test.tmp")
    with open(tmp, "wb") as f:
        f.write(msgpack.packb(doc, use_bin_type=True))
    os.replace(tmp, os.path.join(node.data, "sync-status.mpk"))


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
    # and so does the failing push.
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

    # A snapshot in progress, as the syncer reports one.
    alpha.stop_syncer()
    status_set(alpha, {"beta": {"state": "snapshot", "snapshot_done": 50,
                                "snapshot_total": 200, "snapshot_bytes": 65536,
                                "snapshot_rate": 25, "snapshot_eta_ms": 6000, "failures": 1,
                                "error": "peer tcp://127.0.0.1:1 timed out",
                                "error_ms": int(time.time() * 1000)}})
    browser.wait(CELL.format("snapshot") + " === '50 / 200 (25%) · 25/s · ETA 6.0 s'",
                 "the snapshot's progress")
    assert browser.js(ROW + ".querySelector('.badge').textContent") == "snapshot"
    assert "timed out (1 failures)" in browser.js(CELL.format("error"))
    png = browser.screenshot(tmp_path / "status-snapshot.png")
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10000
