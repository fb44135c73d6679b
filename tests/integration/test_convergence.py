"""Randomized convergence: several nodes in a random connected topology,
client threads writing concurrently to random nodes (experiences, patches,
reinforcements, deletes, relations, insights, collectives), storage and
syncer processes killed with SIGKILL (or paused with SIGSTOP) and restarted
at random meanwhile, and one node joining late (an initial sync by snapshot
while the others write). Once the writes stop and the cluster is quiet,
every node must hold the same content and every acknowledged write must be
there.

Knobs (environment):
  PDB_SEED                         the seed (random when unset; printed, and
                                   named in every assertion message)
  PDB_CONVERGENCE_SECONDS          how long clients write (default 45)
  PDB_CONVERGENCE_NODES            nodes, at least 4 (default 4)
  PDB_CONVERGENCE_CLIENTS          client threads (default 3)
  PDB_CONVERGENCE_EDGES            both: each edge configured on both sides;
                                   mixed: also one-sided, push/push, pull/pull
                                   (default both)
  PDB_CONVERGENCE_KILLS            0 turns the SIGKILLs and pauses off (default 1)
  PDB_CONVERGENCE_LATE             0: every node from the start (default 1: one
                                   node starts a third of the way in)
  PDB_CONVERGENCE_FILTERED         0: no extra links filtered to one collective
                                   (default 1)
  PDB_CONVERGENCE_SETTLE_SECONDS   how long to wait for convergence (default 120)
  PDB_CONVERGENCE_CURVE            0: no key pairs (default 1: every node has one,
                                   so every link is CURVE and every serving node
                                   holds its callers to their peer entries;
                                   always 0 with mixed edges)

scripts/convergence.sh runs long versions of this test over many seeds.
"""
import collections
import itertools
import os
import random
import signal
import threading
import time

import requests

from conftest import Cluster, wait_for

SEED = int(os.environ["PDB_SEED"]) if os.environ.get("PDB_SEED") else random.randrange(1 << 31)
SECONDS = float(os.environ.get("PDB_CONVERGENCE_SECONDS", "45"))
NODES = max(4, int(os.environ.get("PDB_CONVERGENCE_NODES", "4")))
CLIENTS = max(1, int(os.environ.get("PDB_CONVERGENCE_CLIENTS", "3")))
EDGES = os.environ.get("PDB_CONVERGENCE_EDGES", "both")
KILLS = os.environ.get("PDB_CONVERGENCE_KILLS", "1") != "0"
LATE = os.environ.get("PDB_CONVERGENCE_LATE", "1") != "0"
FILTERED = os.environ.get("PDB_CONVERGENCE_FILTERED", "1") != "0"
SETTLE = float(os.environ.get("PDB_CONVERGENCE_SETTLE_SECONDS", "120"))
#  Mixed edges are one-sided or push/push: under CURVE the serving node would
#  (rightly) refuse those callers, so they run without keys.
CURVE = os.environ.get("PDB_CONVERGENCE_CURVE", "1") != "0" and EDGES == "both"
DIM = 4
TAG = f"seed={SEED}"

#  How each edge is configured: (what x says about y, what y says about x).
EDGE_STYLES = {"both": [("both", "both")],
               "mixed": [("both", "both"), ("both", None), ("push", "push"), ("pull", "pull")]}


def topology(rnd, names):
    """A random spanning tree plus random extra edges: {(x, y): style}."""
    order = rnd.sample(names, len(names))
    edges = set()
    for i in range(1, len(order)):
        edges.add(tuple(sorted((order[i], rnd.choice(order[:i])))))
    for x, y in itertools.combinations(names, 2):
        if rnd.random() < 0.3:
            edges.add((x, y))
    styles = EDGE_STYLES[EDGES]
    return {e: rnd.choice(styles) for e in sorted(edges)}


def connected(names, edges, without=None):
    """Whether the nodes but `without` reach each other over the edges."""
    left = [n for n in names if n != without]
    seen, todo = {left[0]}, [left[0]]
    while todo:
        x = todo.pop()
        for a, b in edges:
            for u, v in ((a, b), (b, a)):
                if u == x and v != without and v not in seen:
                    seen.add(v)
                    todo.append(v)
    return len(seen) == len(left)


class Model:
    """What the clients were told (acknowledged) or may have done (uncertain:
    503, timeout, connection reset: the write may or may not have happened)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.collectives = {}       # id -> {"base": bool}
        self.exps = {}              # id -> collective
        self.rels = {}              # id -> (collective, source, target)
        self.insights = {}          # id -> collective
        self.deleted = set()        # acknowledged deletes (any kind)
        self.maybe_deleted = set()  # deletes of unknown outcome
        self.importance = collections.defaultdict(set)   # exp -> values written (or tried)
        self.reinforced = collections.defaultdict(collections.Counter)  # exp -> node -> acked
        self.reinforce_unsure = collections.defaultdict(collections.Counter)
        self.ops = collections.Counter()
        self.errors = []

    def gone(self, *ids):
        return any(i in self.deleted or i in self.maybe_deleted for i in ids)


class Client(threading.Thread):
    WEIGHTS = [("create", 30), ("patch", 20), ("reinforce", 25), ("delete", 3),
               ("relate", 8), ("unrelate", 2), ("insight", 5), ("uninsight", 1),
               ("collective", 1), ("uncollective", 0.25)]

    def __init__(self, idx, nodes, model, stop):
        super().__init__(name=f"client-{idx}")
        self.rnd = random.Random(SEED * 1000 + idx)
        self.nodes, self.model, self.stop = nodes, model, stop
        self.idx = idx
        self.session = requests.Session()
        self.ops, self.weights = zip(*self.WEIGHTS)

    def call(self, node, method, path, body=None):
        """Returns (outcome, reply): outcome is ok, refused or unsure."""
        try:
            r = self.session.request(method, node.url + path, json=body, timeout=10)
        except requests.RequestException:
            return "unsure", None
        if r.status_code in (200, 201, 204):
            return "ok", r
        if r.status_code in (404, 409):
            return "refused", r
        if r.status_code in (500, 502, 503, 504):
            if r.status_code != 503:
                self.model.errors.append(f"{node.name} {method} {path}: {r.status_code} {r.text}")
            return "unsure", r
        self.model.errors.append(f"{node.name} {method} {path} {body}: {r.status_code} {r.text}")
        return "refused", r

    def pick(self, table):
        """A random key of table; nine times in ten one not known deleted (nor
        inside a deleted collective), else any: writes racing deletes."""
        with self.model.lock:
            keys = list(table)
            if self.rnd.random() < 0.9:
                deleted = self.model.deleted
                keys = [k for k in keys if k not in deleted
                        and self.model.exps.get(k) not in deleted
                        and self.model.insights.get(k) not in deleted]
        return self.rnd.choice(keys) if keys else None

    def run(self):
        try:
            while not self.stop.is_set():
                op = self.rnd.choices(self.ops, self.weights)[0]
                node = self.rnd.choice(self.nodes)
                outcome = getattr(self, "op_" + op)(node)
                if outcome:
                    with self.model.lock:
                        self.model.ops[(op, outcome)] += 1
        except Exception as e:
            self.model.errors.append(f"{self.name} failed: {e!r}")
            raise

    # -- operations: each returns its outcome, or None when it had no target --
    def op_create(self, node):
        coll = self.pick(self.model.collectives)
        if coll is None:
            return None
        importance = round(self.rnd.random(), 3)
        body = {"content": f"c{self.idx}-{self.rnd.random():.6f}", "importance": importance,
                "embedding": [self.rnd.uniform(-1, 1) for _ in range(DIM)],
                "tags": {"by": node.name}, "domain": [self.rnd.choice("xyz")]}
        outcome, r = self.call(node, "POST", f"/v1/collectives/{coll}/experiences", body)
        if outcome == "ok":
            with self.model.lock:
                eid = r.json()["id"]
                self.model.exps[eid] = coll
                self.model.importance[eid].add(importance)
        return outcome

    def op_patch(self, node):
        eid = self.pick(self.model.exps)
        if eid is None:
            return None
        importance = round(self.rnd.random(), 3)
        body = {"importance": importance}
        if self.rnd.random() < 0.5:
            body["tags"] = {"by": node.name, "n": str(self.rnd.randrange(100))}
        if self.rnd.random() < 0.2:
            body["archived"] = self.rnd.random() < 0.5
        with self.model.lock:          # tried values count: an unsure patch may have won
            self.model.importance[eid].add(importance)
        return self.call(node, "PATCH", f"/v1/experiences/{eid}", body)[0]

    def op_reinforce(self, node):
        eid = self.pick(self.model.exps)
        if eid is None:
            return None
        outcome, _ = self.call(node, "POST", f"/v1/experiences/{eid}/reinforce")
        with self.model.lock:
            if outcome == "ok":
                self.model.reinforced[eid][node.name] += 1
            elif outcome == "unsure":
                self.model.reinforce_unsure[eid][node.name] += 1
        return outcome

    def _remove(self, node, table, path):
        target = self.pick(table)
        if target is None:
            return None
        outcome, _ = self.call(node, "DELETE", path.format(target))
        with self.model.lock:
            if outcome == "ok":
                self.model.deleted.add(target)
            elif outcome == "unsure":
                self.model.maybe_deleted.add(target)
        return outcome

    def op_delete(self, node):
        return self._remove(node, self.model.exps, "/v1/experiences/{}")

    def op_unrelate(self, node):
        return self._remove(node, self.model.rels, "/v1/relations/{}")

    def op_uninsight(self, node):
        return self._remove(node, self.model.insights, "/v1/insights/{}")

    def op_uncollective(self, node):
        with self.model.lock:
            made = [c for c, info in self.model.collectives.items() if not info["base"]]
        if not made:
            return None
        return self._remove(node, dict.fromkeys(made), "/v1/collectives/{}")

    def op_relate(self, node):
        live_only = self.rnd.random() < 0.9
        with self.model.lock:
            by_coll = collections.defaultdict(list)
            for e, c in self.model.exps.items():
                if not live_only or not self.model.deleted & {e, c}:
                    by_coll[c].append(e)
            pairs = [v for v in by_coll.values() if len(v) >= 2]
        if not pairs:
            return None
        src, dst = self.rnd.sample(self.rnd.choice(pairs), 2)
        body = {"source": src, "target": dst, "strength": round(self.rnd.random(), 2),
                "type": self.rnd.choice(["supports", "contradicts", "elaborates", "supersedes",
                                         "implies", "related_to"])}
        outcome, r = self.call(node, "POST", "/v1/relations", body)
        if outcome == "ok":
            with self.model.lock:
                self.model.rels[r.json()["id"]] = (self.model.exps[src], src, dst)
        return outcome

    def op_insight(self, node):
        coll = self.pick(self.model.collectives)
        if coll is None:
            return None
        with self.model.lock:
            sources = [e for e, c in self.model.exps.items() if c == coll][:3]
        body = {"content": f"i{self.idx}-{self.rnd.random():.6f}", "type": "pattern",
                "embedding": [self.rnd.uniform(-1, 1) for _ in range(DIM)],
                "source_ids": sources, "confidence": round(self.rnd.random(), 2)}
        outcome, r = self.call(node, "POST", f"/v1/collectives/{coll}/insights", body)
        if outcome == "ok":
            with self.model.lock:
                self.model.insights[r.json()["id"]] = coll
        return outcome

    def op_collective(self, node):
        # Few names: the same name made on two nodes apart must give two collectives.
        name = f"made-{self.rnd.randrange(12)}"
        outcome, r = self.call(node, "POST", "/v1/collectives",
                               {"name": name, "embedding_dim": DIM})
        if outcome == "ok":
            with self.model.lock:
                self.model.collectives[r.json()["id"]] = {"base": False}
        return outcome


class Chaos(threading.Thread):
    """Now and then, on a random running node: SIGKILL its storage, its
    syncer or both and start them again, or pause one with SIGSTOP for up
    to 2 s (a hung process: its peers' requests wait)."""

    ACTIONS = [("kill", ("storage",)), ("kill", ("syncer",)), ("kill", ("syncer", "storage")),
               ("pause", ("storage",)), ("pause", ("syncer",))]
    WEIGHTS = [35, 35, 15, 7, 8]

    def __init__(self, nodes, stop, events):
        super().__init__(name="chaos")
        self.rnd = random.Random(SEED + 7)
        self.nodes, self.stop, self.events = nodes, stop, events
        self.failure = None

    def run(self):
        try:
            while not self.stop.wait(self.rnd.uniform(0.5, 2.5)):
                node = self.rnd.choice(self.nodes)
                action, which = self.rnd.choices(self.ACTIONS, self.WEIGHTS)[0]
                self.events.append(f"{action}:{node.name}:{'+'.join(which)}")
                if action == "pause":
                    proc = node.proc(which[0])
                    proc.send_signal(signal.SIGSTOP)
                    try:
                        self.stop.wait(self.rnd.uniform(0.2, 2.0))
                    finally:
                        proc.send_signal(signal.SIGCONT)
                    continue
                for w in which:
                    node.kill(w)
                self.stop.wait(self.rnd.uniform(0.0, 1.0))
                for w in reversed(which):
                    node.restart(w)
        except Exception as e:              # a process that would not come back
            self.failure = e


def list_all(node, coll):
    """Every experience id of the collective on node (all pages), or None
    when the node does not have the collective."""
    out, cursor = set(), None
    while True:
        r = node.get(f"/v1/collectives/{coll}/experiences?limit=500"
                     + (f"&cursor={cursor}" if cursor else ""))
        if r.status_code == 404:
            return None
        assert r.status_code == 200, f"{TAG}: {node.name} list {coll}: {r.text}"
        page = r.json()
        out |= {e["id"] for e in page["experiences"]}
        cursor = page["next_cursor"]
        if not cursor:
            return out


def add_filtered_links(rnd, nodes, edges, collectives):
    """Extra links, between nodes the topology does not join, that sync one
    collective only (added over HTTP: the ids exist only now). What crosses
    them is a partial copy: it must never keep a change from any node. With
    CURVE, y admits only keys it knows and holds x to its entry: y gets the
    mirror entry (same collective, the opposite direction)."""
    mirror = {"pull": "push", "push": "pull", "both": "both"}
    added = []
    for x, y in itertools.combinations(nodes, 2):
        if tuple(sorted((x.name, y.name))) in edges or rnd.random() >= 0.5:
            continue
        coll = rnd.choice(collectives)
        direction = rnd.choice(["pull", "push", "both"])
        for a, b, way in ((x, y, direction), (y, x, mirror[direction]))[:2 if CURVE else 1]:
            body = {"name": f"only-{b.name}", "address": b.sync_address, "direction": way,
                    "collectives": [coll]}
            if b.public_key:
                body["public_key"] = b.public_key
            r = a.post("/v1/sync/peers", body)
            assert r.status_code == 201, r.text
        added.append(f"{x.name}-({direction} {coll[-4:]})->{y.name}")
    print(f"  filtered links: {', '.join(added) or 'none'}")


def test_random_operations_with_crashes_converge(cluster):
    rnd = random.Random(SEED)
    names = [f"n{i}" for i in range(NODES)]
    edges = topology(rnd, names)
    print(f"convergence {TAG} seconds={SECONDS} nodes={NODES} clients={CLIENTS} "
          f"edges={EDGES} kills={KILLS} curve={CURVE}\n  topology: "
          + ", ".join(f"{x}({sx})-{y}({sy})" for (x, y), (sx, sy) in edges.items()))
    nodes = []
    for name in names:
        n = cluster.add(name, start=False, extra=["--sync-compact-interval-s", "1"])
        n.gateway_extra = ["--storage-timeout-ms", "1000"]
        if CURVE:
            n.keygen()
        nodes.append(n)
    by_name = {n.name: n for n in nodes}
    for (x, y), (sx, sy) in edges.items():
        if sx:
            by_name[x].add_peer(by_name[y], sx)
        if sy:
            by_name[y].add_peer(by_name[x], sy)
    # The late node is one the others stay connected without.
    late = rnd.choice([n for n in nodes if connected(names, edges, without=n.name)]) \
        if LATE else None
    active = [n for n in nodes if n is not late]     # what clients and chaos use
    print(f"  late node: {late.name if late else None}")
    for n in active:
        n.start()

    model = Model()
    for i in range(2):
        c = rnd.choice(active).collective(f"base-{i}", DIM)
        model.collectives[c["id"]] = {"base": True}
    cluster.wait_converged(nodes=active, timeout=60,
                           what=f"base collectives everywhere ({TAG})")
    if FILTERED:
        add_filtered_links(rnd, active, edges, list(model.collectives))

    stop = threading.Event()
    clients = [Client(i, active, model, stop) for i in range(CLIENTS)]
    kills = []
    chaos = Chaos(active, stop, kills) if KILLS else None
    for t in clients + ([chaos] if chaos else []):
        t.start()
    if late:
        # Joins with history to catch up on, while the others write.
        stop.wait(SECONDS / 3)
        late.start()
        active.append(late)
        stop.wait(SECONDS * 2 / 3)
    else:
        stop.wait(SECONDS)
    stop.set()
    for t in clients + ([chaos] if chaos else []):
        t.join(120)
        assert not t.is_alive(), f"{TAG}: {t.name} did not stop"
    started = time.monotonic()
    summary = (f"{TAG}: ops={dict(sorted(model.ops.items()))} chaos={len(kills)} "
               f"experiences={len(model.exps)} relations={len(model.rels)} "
               f"insights={len(model.insights)} collectives={len(model.collectives)}")
    print(summary)
    print(f"{TAG}: chaos: {' '.join(kills)}")
    if late:
        # An empty node that pulls from a peer with history starts with a
        # snapshot, unless a peer's push reached it first: then it is no
        # longer empty and reads that peer's log. Both are right (test_sync
        # covers each); this run says which happened.
        began = "snapshot" if "initial sync done" in late.log("syncer") else "the peers' logs"
        print(f"{TAG}: late node {late.name} caught up from {began}")
    assert chaos is None or chaos.failure is None, f"{TAG}: restart failed: {chaos.failure}"
    assert not model.errors, f"{TAG}: unexpected replies: {model.errors[:5]}"
    for n in nodes:
        for name, proc in n.running():
            assert proc.poll() is None, \
                f"{TAG}: {n.name}/{name} died (exit {proc.returncode}):\n{n.log_tail(name)}"
    assert sum(v for (op, o), v in model.ops.items() if o == "ok") > 100, summary

    # -- quiet: equal content everywhere, cursors at the heads ------------------
    cluster.wait_converged(timeout=SETTLE, what=f"convergence ({TAG}; kills {kills})")
    converged = time.monotonic() - started
    cluster.wait_quiet(timeout=SETTLE, what=f"a quiet cluster ({TAG})")
    cluster.wait_converged(timeout=10, what=f"convergence once quiet ({TAG})")
    print(f"{TAG}: converged {converged:.1f}s and quiet {time.monotonic() - started:.1f}s "
          f"after the writes")

    # -- every acknowledged write is everywhere -----------------------------------
    colls = set(nodes[0].collective_ids())
    for c, info in model.collectives.items():
        if c in model.deleted:
            assert c not in colls, f"{TAG}: deleted collective {c} is back"
        elif c not in model.maybe_deleted:
            assert c in colls, f"{TAG}: acknowledged collective {c} missing"
    listed = {c: [list_all(n, c) for n in nodes] for c in model.collectives}
    for c, per_node in listed.items():
        assert all(x == per_node[0] for x in per_node), f"{TAG}: listings of {c} differ"
    gone_colls = model.deleted | model.maybe_deleted
    for e, c in model.exps.items():
        present = listed[c][0] is not None and e in listed[c][0]
        if e in model.deleted or c in model.deleted:
            assert not present, f"{TAG}: deleted experience {e} is back"
        elif e not in model.maybe_deleted and c not in gone_colls:
            assert present, f"{TAG}: acknowledged experience {e} (collective {c}) missing"

    checked_reinforced = 0
    for e, c in model.exps.items():
        if model.gone(e, c):
            continue
        views = [n.get(f"/v1/experiences/{e}").json() for n in nodes]
        assert all(v == views[0] for v in views), f"{TAG}: {e} differs between nodes"
        v = views[0]
        assert v["importance"] in model.importance[e], \
            f"{TAG}: {e} importance {v['importance']} was never written ({model.importance[e]})"
        by_instance = v["applications_by_instance"]
        assert v["applications"] == sum(by_instance.values()), f"{TAG}: {e}: {v}"
        for n in nodes:
            got = by_instance.get(n.instance_id, 0)
            acked = model.reinforced[e][n.name]
            unsure = model.reinforce_unsure[e][n.name]
            assert acked <= got <= acked + unsure, \
                f"{TAG}: {e} reinforced {got} times by {n.name}: acknowledged {acked}, " \
                f"unsure {unsure}"
        if not model.reinforce_unsure[e]:
            assert v["applications"] == sum(model.reinforced[e].values()), f"{TAG}: {e}: {v}"
            checked_reinforced += bool(model.reinforced[e])

    for rid, (c, src, dst) in model.rels.items():
        codes = {n.get(f"/v1/relations/{rid}").status_code for n in nodes}
        if rid in model.deleted or model.deleted & {c, src, dst}:
            assert codes == {404}, f"{TAG}: deleted relation {rid} is back: {codes}"
        elif not model.gone(rid, c, src, dst):
            assert codes == {200}, f"{TAG}: acknowledged relation {rid} missing: {codes}"
    for iid, c in model.insights.items():
        codes = {n.get(f"/v1/insights/{iid}").status_code for n in nodes}
        if iid in model.deleted or c in model.deleted:
            assert codes == {404}, f"{TAG}: deleted insight {iid} is back: {codes}"
        elif not model.gone(iid, c):
            assert codes == {200}, f"{TAG}: acknowledged insight {iid} missing: {codes}"
    print(f"{TAG}: checked {len(model.exps)} experiences ({checked_reinforced} with exact "
          f"reinforcement totals), {len(model.rels)} relations, {len(model.insights)} insights")
