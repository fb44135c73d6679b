#!/usr/bin/env bash
# Writes README.md's configuration table, between its two marker lines,
# from the option table in common/cfg.c (through `pulsedb config
# --markdown`). The table is not edited by hand: change the option's row in
# cfg.c and run this. ctest's config_table_readme fails while README.md
# differs from what this writes.
#   scripts/gen-config-table.sh           rewrite the table
#   scripts/gen-config-table.sh --check   exit 1 and show the difference when it is stale
#   PDB_PULSEDB   the pulsedb program to ask [build/tools/pulsedb, built first]
#   PDB_README    the file to check or rewrite [README.md]
# Exit: 0 up to date (or rewritten), 1 stale (--check), 2 usage, markers or pulsedb error.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
begin='<!-- BEGIN configuration table: scripts/gen-config-table.sh writes it from common/cfg.c -->'
end='<!-- END configuration table -->'
check=0
case "${1:-}" in
  --check) check=1 ;;
  "") ;;
  *) echo "usage: scripts/gen-config-table.sh [--check]" >&2; exit 2 ;;
esac
readme="${PDB_README:-$root/README.md}"
pulsedb="${PDB_PULSEDB:-}"
if [ -z "$pulsedb" ]; then
  pulsedb="$root/build/tools/pulsedb"
  [ -f "$root/build/CMakeCache.txt" ] || cmake -S "$root" -B "$root/build" > /dev/null
  cmake --build "$root/build" --target pulsedb -j2 > /dev/null
fi
if [ "$(grep -cxF -e "$begin" "$readme")" != 1 ] || [ "$(grep -cxF -e "$end" "$readme")" != 1 ] \
   || [ "$(grep -nxF -e "$begin" "$readme" | cut -d: -f1)" -gt \
        "$(grep -nxF -e "$end" "$readme" | cut -d: -f1)" ]; then
  echo "gen-config-table: $readme needs one line '$begin'" >&2
  echo "and after it one line '$end'" >&2
  exit 2
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
if ! "$pulsedb" config --markdown > "$tmp/table"; then
  echo "gen-config-table: '$pulsedb config --markdown' failed" >&2
  exit 2
fi
# Everything outside the markers is kept; the lines between them become the
# table, set off by blank lines so that Markdown sees the markers as HTML blocks.
awk -v begin="$begin" -v end="$end" -v table="$tmp/table" '
  $0 == end { inside = 0; print "" }
  !inside { print }
  $0 == begin { inside = 1; print ""; while ((getline line < table) > 0) print line }
' "$readme" > "$tmp/readme"
if cmp -s "$readme" "$tmp/readme"; then
  exit 0
fi
if [ "$check" = 1 ]; then
  diff -u "$readme" "$tmp/readme" || true
  echo "gen-config-table: the configuration table in $readme differs from common/cfg.c's;" \
       "run scripts/gen-config-table.sh" >&2
  exit 1
fi
cat "$tmp/readme" > "$readme"
echo "gen-config-table: wrote the configuration table in $readme"
