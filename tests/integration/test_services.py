"""The three service processes follow one convention (common/service.h):
--help works whatever the configuration holds and lists exit codes and every
option's bounds; a refused command line or configuration exits 3, the code
`pulsedb up` treats as fatal."""
import os
import subprocess

import pytest

from conftest import GATEWAY, STORAGE, SYNCER

SERVICES = [STORAGE, SYNCER, GATEWAY]
FATAL = 3


def run(argv, **env):
    return subprocess.run(argv, capture_output=True, text=True, timeout=30,
                          env=dict(os.environ, **env))


@pytest.mark.parametrize("program", SERVICES, ids=os.path.basename)
def test_help_works_with_a_bad_environment_and_shows_codes_and_bounds(program):
    r = run([program, "--help"], PULSEDB_HTTP_PORT="not-a-port")
    assert r.returncode == 0, r.stderr
    assert "Exit status: 0 stopped cleanly" in r.stdout
    assert "4 the store failed" in r.stdout
    assert "60..315360000" in r.stdout          # the shortest peer expiry, and the longest
    assert "--map-size-mb N" in r.stdout and "16..67108864" in r.stdout


@pytest.mark.parametrize("program", SERVICES, ids=os.path.basename)
def test_refused_configuration_exits_fatal(program, tmp_path):
    data = str(tmp_path / "d")
    r = run([program, "--data", data, "--no-such-option"])
    assert r.returncode == FATAL, (r.returncode, r.stderr)
    assert "unknown option '--no-such-option'" in r.stderr
    r = run([program, "--data", data], PULSEDB_SYNC_PEER_EXPIRY_S="59")
    assert r.returncode == FATAL, (r.returncode, r.stderr)
    assert "out of range 60..315360000" in r.stderr
