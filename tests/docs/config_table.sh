#!/usr/bin/env bash
# README.md's configuration table is what common/cfg.c's option table says
# (scripts/gen-config-table.sh --check), and that check does catch a stale
# table: a copy with one row removed fails it, and rewriting the copy gives
# README.md back. Run by ctest with PDB_PULSEDB set to the built pulsedb.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
gen="$root/scripts/gen-config-table.sh"
: "${PDB_PULSEDB:?set PDB_PULSEDB to the pulsedb program}"
export PDB_PULSEDB
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fail() { echo "config_table: $*" >&2; exit 1; }

PDB_README="$root/README.md" "$gen" --check \
  || fail "README.md differs from the option table: run scripts/gen-config-table.sh"

grep -v '^| `gateway/port` |' "$root/README.md" > "$tmp/stale.md"
cmp -s "$root/README.md" "$tmp/stale.md" && fail "README.md's table has no gateway/port row"
rc=0
PDB_README="$tmp/stale.md" "$gen" --check > "$tmp/out" 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "--check on a table without gateway/port exited $rc, not 1"
grep -q 'gateway/port' "$tmp/out" || fail "--check did not show the missing row"
PDB_README="$tmp/stale.md" "$gen" > /dev/null
cmp -s "$root/README.md" "$tmp/stale.md" || fail "rewriting a stale table did not give README.md"

grep -v '^<!-- END configuration table -->$' "$root/README.md" > "$tmp/nomarker.md"
rc=0
PDB_README="$tmp/nomarker.md" "$gen" --check > "$tmp/out" 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "--check without the END marker exited $rc, not 2"
echo "config_table: README.md matches the option table; a stale copy is caught and rewritten"
