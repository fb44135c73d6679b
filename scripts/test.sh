#!/usr/bin/env bash
# Builds PulseDB-C and runs every test: cmocka unit tests and the
# integration tests that start real processes; then, in a plain run of the
# whole suite with a Docker engine present, the docker-compose deployment
# across containers (scripts/compose-test.sh; it says so when it skips).
#   ./scripts/test.sh                plain build in build/
#   PDB_SANITIZE=1 ./scripts/test.sh ASan + UBSan build in build-asan/
#   PDB_COMPOSE_TEST=0 ./scripts/test.sh   without the compose test
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/deps.sh" --test
build="$root/build"
flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo)
if [ "${PDB_SANITIZE:-0}" = "1" ]; then
  build="$root/build-asan"
  flags=(-DCMAKE_BUILD_TYPE=Debug -DPDB_SANITIZE=ON)
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:halt_on_error=1"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
fi
cmake -S "$root" -B "$build" "${flags[@]}" -DPython3_EXECUTABLE="$root/build/venv/bin/python" > /dev/null
cmake --build "$build" -j"$(nproc)"
cd "$build"
ctest --output-on-failure "$@"
# The compose test builds its own image from the sources, so one run is
# enough: not again for the sanitizer build, nor for a chosen subset.
if [ "${PDB_SANITIZE:-0}" != "1" ] && [ $# -eq 0 ]; then
  "$root/scripts/compose-test.sh"
fi
