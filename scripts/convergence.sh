#!/usr/bin/env bash
# Long randomized convergence runs: tests/integration/test_convergence.py with
# more time, nodes and clients than CI gives it, over one seed or many.
#
#   scripts/convergence.sh                     one run: 300 s, 5 nodes, a random seed
#   DURATION=900 NODES=7 SEED=42 scripts/convergence.sh
#   RUNS=20 DURATION=120 scripts/convergence.sh     20 runs, each with a new random seed
#   SEEDS="17 42 1234" scripts/convergence.sh       these seeds in turn
#
# Environment (defaults in brackets):
#   DURATION  seconds the clients write per run [300]
#   NODES     nodes, at least 4 [5]
#   CLIENTS   client threads [4]
#   EDGES     both | mixed: how edges are configured (see the test) [mixed]
#   KILLS     1: SIGKILL storage/syncer processes at random, 0: never [1]
#   SETTLE    seconds allowed to converge once the writes stop [300]
#   SEED      the seed of a single run; SEEDS: a list; RUNS: how many random seeds [1]
#   KEEP_GOING 1: run every seed even after a failure [0]
#   PDB_BUILD_DIR  where the binaries are [build/]
#   OUT       where each run's processes' logs and data go [/tmp/pulsedb-convergence]
#
# Each run prints its seed and its summary; a failing run keeps its folder
# (OUT/seed-N: one NAME-logs/ per node) and is listed at the end. Exit
# status 1 when a run failed. Re-run one with SEED=N and the same settings.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
export PDB_BUILD_DIR="${PDB_BUILD_DIR:-$root/build}"
for bin in services/storage/pulsedb-storage services/gateway/pulsedb-gateway \
           services/syncer/pulsedb-syncer; do
  if [ ! -x "$PDB_BUILD_DIR/$bin" ]; then
    echo "convergence: $PDB_BUILD_DIR/$bin is missing; build first:" >&2
    echo "  cmake -S $root -B $PDB_BUILD_DIR && cmake --build $PDB_BUILD_DIR -j" >&2
    exit 2
  fi
done
python="$root/build/venv/bin/python"
[ -x "$python" ] || python=python3

duration="${DURATION:-300}"
out="${OUT:-/tmp/pulsedb-convergence}"
if [ -n "${SEEDS:-}" ]; then
  read -r -a seeds <<< "$SEEDS"
elif [ -n "${SEED:-}" ]; then
  seeds=("$SEED")
else
  seeds=()
  for _ in $(seq "${RUNS:-1}"); do
    seeds+=("$(( (RANDOM << 15 | RANDOM) ))")
  done
fi
mkdir -p "$out"

failed=()
for seed in "${seeds[@]}"; do
  dir="$out/seed-$seed"
  rm -rf "$dir"
  echo "=== seed=$seed duration=${duration}s nodes=${NODES:-5} clients=${CLIENTS:-4}" \
       "edges=${EDGES:-mixed} kills=${KILLS:-1} -> $dir"
  start=$(date +%s)
  if PDB_SEED="$seed" \
     PDB_CONVERGENCE_SECONDS="$duration" \
     PDB_CONVERGENCE_NODES="${NODES:-5}" \
     PDB_CONVERGENCE_CLIENTS="${CLIENTS:-4}" \
     PDB_CONVERGENCE_EDGES="${EDGES:-mixed}" \
     PDB_CONVERGENCE_KILLS="${KILLS:-1}" \
     PDB_CONVERGENCE_SETTLE_SECONDS="${SETTLE:-300}" \
     "$python" -m pytest -q -s -p no:cacheprovider --basetemp="$dir" \
       "$root/tests/integration/test_convergence.py"; then
    echo "=== seed=$seed passed in $(( $(date +%s) - start ))s"
    rm -rf "$dir"
  else
    echo "=== seed=$seed FAILED after $(( $(date +%s) - start ))s; logs in $dir"
    failed+=("$seed")
    [ "${KEEP_GOING:-0}" = "1" ] || break
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "convergence: failing seeds: ${failed[*]}"
  exit 1
fi
echo "convergence: ${#seeds[@]} run(s) passed"
