#!/usr/bin/env bash
# The docker-compose.yml deployment tested across containers (tests/compose):
# two nodes syncing, a network partition, a storage container killed
# mid-write, gateways scaled under load, a third node. Needs a Docker engine
# and docker compose (v2) or docker-compose (1.29); without an engine it
# says so and exits 0. Builds what is missing first: the base image (from
# Debian's archive, deploy/base-image.sh) and the image (cached layers).
#   scripts/compose-test.sh [pytest args]
#   PDB_COMPOSE_TEST=0     skip it
#   PDB_COMPOSE_TIMEOUT    seconds before the run is stopped [900]
#   PDB_COMPOSE=docker-compose, PDB_COMPOSE_IMAGE, PDB_COMPOSE_KEEP=1: see tests/compose/conftest.py
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
if [ "${PDB_COMPOSE_TEST:-1}" = "0" ]; then
  echo "compose-test: SKIPPED (PDB_COMPOSE_TEST=0)"
  exit 0
fi
if ! command -v docker >/dev/null || ! docker info >/dev/null 2>&1; then
  echo "compose-test: SKIPPED: no Docker engine answers 'docker info'; the compose deployment was not tested"
  exit 0
fi
if [ -n "${PDB_COMPOSE:-}" ]; then
  read -r -a compose <<< "$PDB_COMPOSE"
elif docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
elif command -v docker-compose >/dev/null; then
  compose=(docker-compose)
else
  echo "compose-test: SKIPPED: neither 'docker compose' nor 'docker-compose' is installed"
  exit 0
fi
export PDB_COMPOSE="${compose[*]}"
python="$root/build/venv/bin/python"
[ -x "$python" ] || "$root/scripts/deps.sh" --test

start=$(date +%s)
# debian:bookworm-slim: kept when present (pulled or built before), else
# built from Debian's archive, since a test machine may reach no registry.
"$root/deploy/base-image.sh"
echo "compose-test: base image ready after $(( $(date +%s) - start ))s"
cd "$root"
# The tests tear their stack down themselves; this is the net for a run
# that was interrupted or timed out.
export PDB_COMPOSE_PROJECT="pdbtest$$$(date +%s)"
cleanup() {
  PULSEDB_IMAGE="${PDB_COMPOSE_IMAGE:-pulsedb:compose-test}" "${compose[@]}" \
    -f "$root/docker-compose.yml" -p "$PDB_COMPOSE_PROJECT" --profile gamma \
    down -v --remove-orphans -t 10 >/dev/null 2>&1 || true
}
trap cleanup EXIT
set +e
# SIGINT first: pytest then runs its teardown.
timeout -s INT -k 60 "${PDB_COMPOSE_TIMEOUT:-900}" \
  "$python" -m pytest -q -p no:cacheprovider "$root/tests/compose" "$@"
rc=$?
set -e
echo "compose-test: finished in $(( $(date +%s) - start ))s (exit $rc)"
exit $rc
