"""Vector search through the gateway over the block layout storage keeps
(common/vecblock.h): exact results, checked against a brute-force cosine
computed here, after deletes, archives and patches, a restart, sync from a
peer and a snapshot install."""
import math
import random

from conftest import Cluster, wait_for

DIM = 8


def rand_vec(rnd, dim=DIM):
    return [round(rnd.uniform(-1, 1), 4) for _ in range(dim)]


def cosine(a, b):
    dot = sum(x * y for x, y in zip(a, b))
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(y * y for y in b))
    return dot / (na * nb)


def search(node, coll, embedding, k=10, **opts):
    r = node.post(f"/v1/collectives/{coll}/search", {"embedding": embedding, "k": k, **opts})
    assert r.status_code == 200, r.text
    return [(x["id"], x["score"]) for x in r.json()["results"]]


def ranked(live, query, keep=lambda f: True):
    """Every live ({id: (embedding, fields)}) experience that keep() takes,
    best cosine first, as (score, id)."""
    return sorted(((cosine(query, v), i) for i, (v, f) in live.items() if keep(f)),
                  key=lambda s: (-s[0], s[1]))


def assert_exact(node, coll, live, rnd, queries=5, k=10, keep=lambda f: True, **opts):
    """The gateway's top k is the exact top k: the same scores, to float32's
    ~1e-6, and the same ids (any of a tie, where scores are that close)."""
    for _ in range(queries):
        q = rand_vec(rnd)
        got = search(node, coll, q, k, **opts)
        want = ranked(live, q, keep)
        assert len(got) == min(k, len(want))
        for (gid, gs), (ws, _) in zip(got, want):
            assert abs(gs - ws) < 1e-5, (gid, gs, ws)
            assert gid in {i for s, i in want if abs(s - ws) < 1e-5}, (gid, gs)


def fill(node, coll, n, rnd, **fields):
    live = {}
    for i in range(n):
        v = rand_vec(rnd)
        e = node.experience(coll, f"e{i}", v, **fields)
        live[e["id"]] = (v, {"archived": False, "importance": 0.5})
    return live


def test_search_is_exact_after_deletes_archives_and_patches(node):
    rnd = random.Random(1)
    coll = node.collective("s", DIM)["id"]
    live = fill(node, coll, 120, rnd)
    assert_exact(node, coll, live, rnd)
    assert_exact(node, coll, live, rnd, exact=True)

    # Delete the best match of a query: it is gone from the next search at once.
    q = rand_vec(rnd)
    top = search(node, coll, q, 1)[0][0]
    assert node.delete(f"/v1/experiences/{top}").status_code == 204
    del live[top]
    assert top not in [i for i, _ in search(node, coll, q, 20)]
    for i in rnd.sample(sorted(live), 40):
        assert node.delete(f"/v1/experiences/{i}").status_code == 204
        del live[i]
    assert_exact(node, coll, live, rnd)

    # Archived ones leave default results, and come back when asked for.
    top = search(node, coll, q, 1)[0][0]
    r = node.patch(f"/v1/experiences/{top}", {"archived": True})
    assert r.status_code == 200, r.text
    live[top][1]["archived"] = True
    assert top not in [i for i, _ in search(node, coll, q, 20)]
    assert search(node, coll, q, 1, include_archived=True)[0][0] == top
    assert_exact(node, coll, live, rnd, keep=lambda f: not f["archived"])

    # A patched importance is what min_importance sees; few pass it.
    chosen = rnd.sample(sorted(i for i in live if not live[i][1]["archived"]), 3)
    for i in chosen:
        assert node.patch(f"/v1/experiences/{i}", {"importance": 0.95}).status_code == 200
        live[i][1]["importance"] = 0.95
    got = search(node, coll, q, 10, min_importance=0.9)
    assert sorted(i for i, _ in got) == sorted(chosen)

    # New experiences fill the slots the deletes cleared, and are found.
    live.update(fill(node, coll, 50, rnd))
    assert_exact(node, coll, live, rnd, keep=lambda f: not f["archived"])


def test_search_filters_with_few_matches(node):
    rnd = random.Random(2)
    coll = node.collective("f", DIM)["id"]
    q = rand_vec(rnd)
    for i in range(200):
        node.experience(coll, f"near{i}", [x + rnd.uniform(-0.01, 0.01) for x in q],
                        domain=["common"])
    far = [node.experience(coll, f"far{i}", [-x for x in q], domain=["rare"],
                           type={"kind": "fact", "statement": "s", "source": "t"})["id"]
           for i in range(2)]
    got = search(node, coll, q, 10, domain="rare")
    assert sorted(i for i, _ in got) == sorted(far)
    assert all(s < -0.99 for _, s in got)
    got = search(node, coll, q, 10, type="fact")
    assert sorted(i for i, _ in got) == sorted(far)
    assert search(node, coll, q, 10, domain="none") == []


def test_search_is_the_same_after_a_restart(node):
    rnd = random.Random(3)
    coll = node.collective("r", DIM)["id"]
    live = fill(node, coll, 150, rnd)
    for i in rnd.sample(sorted(live), 30):
        assert node.delete(f"/v1/experiences/{i}").status_code == 204
        del live[i]
    queries = [rand_vec(rnd) for _ in range(5)]
    before = [search(node, coll, q, 15) for q in queries]
    assert node.stop() == [0, 0]
    node.start()
    assert [search(node, coll, q, 15) for q in queries] == before
    assert_exact(node, coll, live, rnd)


def test_search_on_a_peer_after_sync_and_after_snapshot_install(cluster):
    rnd = random.Random(4)
    a = cluster.add("a", start=False)
    b = cluster.add("b", start=False)
    Cluster.link(a, b)
    a.start()
    b.start()
    coll = a.collective("p", DIM)["id"]
    live = fill(a, coll, 100, rnd)
    live.update(fill(b, coll, 100, rnd))
    cluster.wait_converged()
    for i in rnd.sample(sorted(live), 30):
        node = a if rnd.random() < 0.5 else b
        assert node.delete(f"/v1/experiences/{i}").status_code == 204
        del live[i]
    archived = rnd.sample(sorted(live), 10)
    for i in archived:
        assert a.patch(f"/v1/experiences/{i}", {"archived": True}).status_code == 200
        live[i][1]["archived"] = True
    cluster.wait_converged()
    keep = lambda f: not f["archived"]
    for n in (a, b):
        assert_exact(n, coll, live, rnd, keep=keep)
    queries = [rand_vec(rnd) for _ in range(5)]
    assert [search(b, coll, q) for q in queries] == [search(a, coll, q) for q in queries]

    # A new, empty node installs a snapshot of A, then searches the same.
    c = cluster.add_from_snapshot("c", a, coll_ids=[coll])
    assert [search(c, coll, q) for q in queries] == [search(a, coll, q) for q in queries]
    assert_exact(c, coll, live, rnd, keep=keep)
    # And a delete made on A afterwards reaches C's search.
    gone = search(a, coll, queries[0], 1)[0][0]
    assert a.delete(f"/v1/experiences/{gone}").status_code == 204
    wait_for(lambda: gone not in [i for i, _ in search(c, coll, queries[0], 5)],
             what="the delete in c's search")
