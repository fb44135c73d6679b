#!/usr/bin/env bash
# Runs every libFuzzer harness (tests/fuzz) for SECONDS each (default 60),
# each over a copy of its seed corpus (tests/fuzz/corpus/<harness>; the
# repository is never written), and prints one line per harness with its
# exec count and execs/s. Fails when any harness finds a crash, leak,
# undefined behaviour or a broken check; the input is kept in
# build-fuzz/artifacts/.
#   ./scripts/fuzz.sh          60 s each (CI runs it shorter)
#   ./scripts/fuzz.sh 3600     a longer session
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
seconds="${1:-60}"
harnesses=(syncmsg change change_ref json_map snapshot jvec texts)
# Bounds for one input: memory and time (a harness slower than this on one
# input has found a hang).
rss_limit_mb=2048
input_timeout_s=10

"$root/scripts/deps.sh" --fuzz

build="$root/build-fuzz"
# clang for C and C++ alike: libFuzzer's instrumentation is clang's (common/ann.cpp is C++).
cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DPDB_FUZZ=ON > /dev/null
cmake --build "$build" -j"$(nproc)" --target "${harnesses[@]/#/fuzz_}"

work="$build/work"
artifacts="$build/artifacts"
rm -rf "$work"
mkdir -p "$work/tmp" "$artifacts"
export TMPDIR="$work/tmp"          # the snapshot harness's store
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
failed=()
for h in "${harnesses[@]}"; do
  cp -r "$root/tests/fuzz/corpus/$h" "$work/$h"
  log="$work/$h.log"
  rc=0
  "$build/tests/fuzz/fuzz_$h" -max_total_time="$seconds" -rss_limit_mb="$rss_limit_mb" \
    -timeout="$input_timeout_s" -print_final_stats=1 -artifact_prefix="$artifacts/$h-" \
    "$work/$h" > "$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
  corpus=$(ls "$work/$h" | wc -l)
  echo "fuzz: $h ${execs:-?} execs in ${seconds} s, ${rate:-?} execs/s, corpus $corpus, rc=$rc"
  if [ "$rc" -ne 0 ]; then
    failed+=("$h")
    grep -E "^fuzz: |ERROR|SUMMARY|Test unit written" "$log" | head -20 || true
  fi
done
rm -rf "$work/tmp"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]} (logs in $work, inputs in $artifacts)"
  exit 1
fi
