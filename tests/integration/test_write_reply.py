"""A create's 201 shows the entity as stored without reading it back: it
must equal what a read of the entity returns (less the embedding the writer
just sent)."""


def test_create_replies_equal_a_read(node):
    c = node.post("/v1/collectives", {"name": "kb", "embedding_dim": 4, "owner": "ann"})
    assert c.status_code == 201, c.text
    assert c.json() == node.get(f"/v1/collectives/{c.json()['id']}").json()
    coll = c.json()["id"]
    e = node.post(f"/v1/collectives/{coll}/experiences", {
        "content": "x", "embedding": [1, 0, 0, 0], "domain": ["a", "b"], "tags": {"k": "v"},
        "type": {"kind": "fact", "statement": "s", "source": "t"}, "confidence": 0.25})
    assert e.status_code == 201, e.text
    got = node.get(f"/v1/experiences/{e.json()['id']}").json()
    assert got.pop("embedding") == [1, 0, 0, 0]
    assert e.json() == got
    i = node.post(f"/v1/collectives/{coll}/insights", {
        "content": "i", "embedding": [0, 1, 0, 0], "type": "pattern",
        "source_ids": [e.json()["id"]]})
    assert i.status_code == 201, i.text
    assert i.json() == node.get(f"/v1/insights/{i.json()['id']}").json()
