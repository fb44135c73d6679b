"""Embeddings in request bodies: the JSON number array (read on a fast path
that must store exactly what the general path would) and the compact
"embedding_b64" (base64 of little-endian float32), in single and batch
creates; bad compact payloads are refused and change nothing."""
import base64
import random
import struct

import requests


def b64(values, fmt="f"):
    return base64.b64encode(struct.pack(f"<{len(values)}{fmt}", *values)).decode()


def stored(node, exp_id):
    """The stored embedding as float32 values (the API shows each float32's
    shortest decimal)."""
    return f32(node.get(f"/v1/experiences/{exp_id}").json()["embedding"])


def f32(values):
    return list(struct.unpack(f"<{len(values)}f", struct.pack(f"<{len(values)}f", *values)))


def test_number_arrays_and_base64_store_the_same_float32_values(node):
    dim = 384
    c = node.collective("forms", dim)["id"]
    rnd = random.Random(3)
    # Shortest doubles (17 digits), short decimals, integers, exponents, -0.
    vec = [rnd.uniform(-1, 1) for _ in range(dim - 6)] + [0.5, -3, 1e-7, 2.5e10, -0.0, 1]
    a = node.post(f"/v1/collectives/{c}/experiences", {"content": "json", "embedding": vec})
    b = node.post(f"/v1/collectives/{c}/experiences", {"content": "b64",
                                                      "embedding_b64": b64(vec)})
    assert a.status_code == 201 and b.status_code == 201, (a.text, b.text)
    assert "embedding" not in a.json() and "embedding_b64" not in b.json()
    want = f32(vec)
    assert stored(node, a.json()["id"]) == want
    assert stored(node, b.json()["id"]) == want
    # The same in a batch, both forms mixed.
    r = node.post(f"/v1/collectives/{c}/experiences:batch", {"experiences": [
        {"content": "j", "embedding": vec}, {"content": "b", "embedding_b64": b64(vec)}]})
    assert r.status_code == 201, r.text
    assert all(stored(node, i) == want for i in r.json()["ids"])


def test_bad_base64_embeddings_are_refused(node):
    c = node.collective("forms", 2)["id"]
    path = f"/v1/collectives/{c}/experiences"
    before = node.get("/v1/status").json()["wal"]["head"]
    cases = [
        ("not base64!", "not valid base64"),
        (b64([1.0, 2.0]).rstrip("="), "not valid base64"),      # unpadded
        (b64([1.0]), "holds 4 bytes"),                            # one value, dim 2
        (b64([1.0, 2.0, 3.0]), "holds 12 bytes"),
        (base64.b64encode(b"\0" * 6).decode(), "holds 6 bytes"),  # not whole float32s
        (b64([1.0, float("nan")]), "NaN or infinite value at index 1"),
        (b64([float("inf"), 1.0]), "NaN or infinite value at index 0"),
        (b64([1.0, float("-inf")]), "NaN or infinite value at index 1"),
        (b64([0.0, 0.0]), "zero"),                               # no direction, as for arrays
    ]
    for payload, why in cases:
        r = node.post(path, {"content": "x", "embedding_b64": payload})
        assert r.status_code == 400, (payload, r.text)
        assert why in r.json()["error"]["message"], (payload, r.text)
    r = node.post(path, {"content": "x", "embedding_b64": 12})
    assert r.status_code == 400 and "base64 string" in r.text
    r = node.post(path, {"content": "x", "embedding": [1, 2], "embedding_b64": b64([1.0, 2.0])})
    assert r.status_code == 400 and "not both" in r.text
    r = node.post(f"{path}:batch", {"experiences": [
        {"content": "ok", "embedding_b64": b64([1.0, 2.0])},
        {"content": "bad", "embedding_b64": b64([1.0, float("nan")])}]})
    assert r.status_code == 400 and r.json()["error"]["index"] == 1, r.text
    assert node.get("/v1/status").json()["wal"]["head"] == before


def test_number_arrays_the_fast_path_leaves_get_the_usual_errors(node):
    c = node.collective("forms", 2)["id"]
    path = f"/v1/collectives/{c}/experiences"
    raw = {"Content-Type": "application/json"}
    cases = [
        ('{"content": "x", "embedding": [1e39, 1]}', "outside the float32 range"),
        ('{"content": "x", "embedding": [1, "2"]}', "must hold only numbers"),
        ('{"content": "x", "embedding": [1, 2, 3]}', "has 3 dimensions"),
        ('{"content": "x", "embedding": [01, 2]}', "invalid JSON"),
        ('{"content": "x", "embedding": [1, 2], "embedding": [1, 2]}', "invalid JSON"),
    ]
    for body, why in cases:
        r = requests.post(node.url + path, data=body, headers=raw, timeout=10)
        assert r.status_code == 400, (body, r.text)
        assert why in r.json()["error"]["message"], (body, r.text)
