#!/usr/bin/env bash
# Builds PulseDB-C and starts one node on a local data folder.
#   ./scripts/run.sh                    data in ./pulsedb-data, HTTP on 127.0.0.1:7070
#   ./scripts/run.sh --gateways 2 ...   any `pulsedb up` option
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/deps.sh"
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build "$root/build" -j"$(nproc)"
exec "$root/build/tools/pulsedb" up "$@"
