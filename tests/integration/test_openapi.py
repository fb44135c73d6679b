"""docs/openapi.yaml describes the HTTP API exactly as served.

The gateway serves the document at /openapi.json (converted at build
time), and Schemathesis drives a live node with it: every operation, with
generated valid and invalid inputs, including the chains the document's
links describe (create a collective, then write into it, ...). No reply may
be a server error or differ from the description (status, content type,
headers, body), invalid input must be refused, and the routes behind a
token must refuse callers without one.

PDB_SCHEMATHESIS_EXAMPLES (default 25) sets the examples per operation and
PDB_SCHEMATHESIS_SEED (default fixed) the seed: CI is repeatable, a longer
local run (say 500 and a random seed) searches further."""
import os
import subprocess
import sys

import pytest
import requests
import yaml

from conftest import new_token

DOC = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "openapi.yaml")
ST = os.path.join(os.path.dirname(sys.executable), "st")
EXAMPLES = int(os.environ.get("PDB_SCHEMATHESIS_EXAMPLES", "25"))
SEED = int(os.environ.get("PDB_SCHEMATHESIS_SEED", "20240601"))
#  Every check Schemathesis has but two: positive_data_acceptance (a body
#  the schema allows may still be refused for what only the node knows: an
#  embedding must have the collective's dimension, a name must be free) and
#  max_response_time (off unless given a limit: no timed assertions).
#  Invalid input may also get 413:
#  a string or list over its limit is too_large (README, "HTTP API").
CONFIG = """
hooks = "schemathesis_hooks"

[auth.openapi.apiToken]
bearer = "{admin}"

[auth.openapi.peerToken]
bearer = "{peer}"

[checks]
positive_data_acceptance.enabled = false
negative_data_rejection.expected-statuses = [400, 401, 403, 404, 405, 409, 413, 415]

# A watch stream does not end by itself: read it for a moment, then move on.
[[operations]]
include-operation-id = "watch"
request-timeout = 1
max-stream-events = 5
"""


@pytest.fixture
def secured_node(cluster, tmp_path):
    """A node (storage, gateway, syncer) that requires tokens: an admin one
    for the API, a peer one for the sync operations."""
    node = cluster.add("fuzzed", start=False)
    tokens = tmp_path / "tokens"
    node.admin = new_token(tokens, "admin")
    node.peer_token = new_token(tokens, "peer:fuzz")
    node.gateway_extra += ["--api-tokens", str(tokens)]
    node.sync_extra += ["--api-tokens", str(tokens)]
    return node.start()


def test_openapi_json_is_the_yaml_document(secured_node):
    r = requests.get(secured_node.url + "/openapi.json", timeout=10)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json"
    with open(DOC) as f:
        assert r.json() == yaml.safe_load(f)


def test_schemathesis_finds_nothing(secured_node, tmp_path):
    assert os.path.exists(ST), f"schemathesis is missing: {ST} (scripts/deps.sh --test)"
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG.format(admin=secured_node.admin, peer=secured_node.peer_token))
    argv = [ST, "--config-file", str(config), "run", "--url", secured_node.url,
            "--max-examples", str(EXAMPLES), "--seed", str(SEED), "--workers", "1",
            "--request-timeout", "20", "--no-color", "--output-truncate", "false",
            "--report", "junit", "--report-dir", str(tmp_path / "report"),
            secured_node.url + "/openapi.json"]
    env = dict(os.environ, PYTHONPATH=os.path.dirname(__file__))
    r = subprocess.run(argv, capture_output=True, text=True, timeout=600, cwd=tmp_path, env=env)
    assert r.returncode == 0, f"schemathesis failed ({' '.join(argv)}):\n{r.stdout[-20000:]}" \
                              f"\n{r.stderr[-5000:]}"
