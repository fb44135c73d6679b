"""Progress of the CLI's long jobs: `pulsedb import` and `pulsedb sync once`
draw a bar with rate and ETA when standard error is a terminal (a pty
here), and write plain lines, one per tenth reached, when it is not."""
import json
import os
import pty
import re
import subprocess

from conftest import PULSEDB

DIM = 4
BAR = re.compile(rb"\r(?P<label>[^\r\x1b]+?)  \[[#.]{30}\]  (?P<done>\d+)/(?P<total>\d+)\s+"
                 rb"(?P<pct>\d+)%  \d+/s  ETA (?:\?|\d+[smh][\dms]*)(?:  failed \d+)?\x1b\[K")
PLAIN = re.compile(r"^(?P<label>[^:]+): (?P<done>\d+)/(?P<total>\d+) \((?P<pct>\d+)%\) "
                   r"\d+/s ETA (?:\?|[\dhms]+)(?: failed (?P<failed>\d+))?$")


def run_on_pty(argv, timeout=60):
    """Runs argv with standard error on a pseudo-terminal; returns (exit
    code, stdout text, the bytes written to the terminal)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=slave, stdin=subprocess.DEVNULL)
    os.close(slave)
    screen = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:          # EIO: the child closed the terminal's last end
            break
        if not chunk:
            break
        screen += chunk
    os.close(master)
    out = proc.stdout.read().decode()
    proc.stdout.close()
    return proc.wait(timeout), out, screen


def plain_lines(stderr, label):
    """The plain progress lines of `label`, as (done, total, percent) tuples."""
    rows = [PLAIN.match(line) for line in stderr.splitlines()]
    return [(int(m["done"]), int(m["total"]), int(m["pct"])) for m in rows
            if m and m["label"] == label]


def jsonl(path, n, bad=()):
    lines = [json.dumps({"content": f"e{i}", "embedding": [1, i, 0, 0]}) if i not in bad
             else "{broken" for i in range(n)]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_import_without_a_terminal_writes_a_line_per_tenth(node, tmp_path):
    c = node.collective("imp", DIM)["id"]
    src = jsonl(tmp_path / "in.jsonl", 200, bad={49, 150})
    r = subprocess.run([PULSEDB, "import", c, src, "--url", node.url], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 1, r.stderr            # two lines failed
    assert "\r" not in r.stderr and "\x1b" not in r.stderr
    rows = plain_lines(r.stderr, "import")
    assert 1 <= len(rows) <= 10, r.stderr
    assert [p for _, _, p in rows] == sorted(set(p for _, _, p in rows)), r.stderr
    assert rows[-1] == (200, 200, 100)
    assert r.stderr.splitlines()[-1].endswith("failed 2")
    assert f"{src}:50: " in r.stderr and f"{src}:151: " in r.stderr
    assert "imported 198, failed 2" in r.stdout
    assert node.get("/v1/status").json()["counts"]["experiences"] == 198


def test_import_on_a_terminal_draws_a_bar(node, tmp_path):
    c = node.collective("imp", DIM)["id"]
    # Small batches, the bad line late: a bar is on the screen when it is read.
    src = jsonl(tmp_path / "in.jsonl", 300, bad={250})
    code, out, screen = run_on_pty([PULSEDB, "import", c, src, "--url", node.url,
                                    "--batch", "10", "--concurrency", "1"])
    assert code == 1, screen
    bars = list(BAR.finditer(screen))
    assert bars and all(b["label"] == b"import" for b in bars), screen
    last = bars[-1]
    assert (last["done"], last["total"], last["pct"]) == (b"300", b"300", b"100")
    assert screen.rstrip(b"\r\n").endswith(b"failed 1\x1b[K"), screen[-200:]
    # The failed line is printed on a cleared line of its own, above the bar.
    assert f"\r\x1b[K{src}:251: ".encode() in screen
    assert "imported 299, failed 1" in out


def test_sync_once_shows_snapshot_pull_and_push_progress(cluster, tmp_path):
    a = cluster.add("a")
    b = cluster.add("b", syncer=False)          # storage and gateway: sync once is its syncer
    c = a.collective("history", DIM)["id"]
    a.bulk_experiences(c, 300)
    once = [PULSEDB, "sync", "once", "--data", b.data, "--sync-bind", "",
            "--sync-peers", a.spec(), "--sync-batch-max-changes", "50"]

    # An empty node takes a snapshot first.
    r = subprocess.run(once, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    snap = plain_lines(r.stderr, "sync a snapshot")
    assert snap and snap[-1] == (301, 301, 100), r.stderr
    assert "sync once progress" not in r.stdout + r.stderr      # drawn, not passed on
    assert re.search(r"^sync once peer=a .* installed=301 .*result=ok$", r.stdout, re.M)
    assert cluster.converged([a, b]), cluster.describe()

    # Then changes both ways, on a terminal: a bar per direction.
    a.bulk_experiences(c, 120, prefix="more")
    b.bulk_experiences(c, 60, prefix="from-b")
    code, out, screen = run_on_pty(once)
    assert code == 0, screen
    bars = {}
    for m in BAR.finditer(screen):
        bars[m["label"]] = (int(m["done"]), int(m["total"]), int(m["pct"]))
    assert bars == {b"sync a push": (60, 60, 100), b"sync a pull": (120, 120, 100)}, screen
    assert b"I syncer:" not in screen                  # the bars say it: the syncer ran at warn
    assert re.search(r"^sync once peer=a pushed=60 .* pulled=120 .*result=ok$", out, re.M), out
    assert cluster.converged([a, b]), cluster.describe()

    # Nothing to move: no progress at all.
    r = subprocess.run(once, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and plain_lines(r.stderr, "sync a pull") == [], r.stderr
