#!/usr/bin/env bash
# The build step that serves docs/openapi.yaml as JSON
# (services/gateway/gen/yaml2json.c): it keeps types, order and text, and it
# refuses what YAML readers could take two ways (plain yes/no, 1e5, 0755,
# dates, number keys), anchors, duplicate keys and broken YAML, each with its
# line and exit 1. Run by ctest with PDB_YAML2JSON set to the built tool.
set -euo pipefail
: "${PDB_YAML2JSON:?set PDB_YAML2JSON to the pdb_yaml2json program}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fail() { echo "yaml2json: $*" >&2; exit 1; }

cat > "$tmp/good.yaml" <<'YAML'
# a comment
'200':
  num: [1, -2, 2.5, 1.5e+10, 0]
  s: [x, 'yes', "1e5", '0755', 1 to 128 bytes, "é\tq"]
  z: [null, ~, true, false, '']
  block: |
    two
    lines
  empty: {}
YAML
"$PDB_YAML2JSON" "$tmp/good.yaml" "$tmp/good.json" || fail "refused good YAML"
want='{"200":{"num":[1,-2,2.5,15000000000.0,0],"s":["x","yes","1e5","0755","1 to 128 bytes","\u00E9\tq"],"z":[null,null,true,false,""],"block":"two\nlines\n","empty":{}}}'
[ "$(cat "$tmp/good.json")" = "$want" ] || fail "good YAML gave $(cat "$tmp/good.json")"

refuse() {   # refuse NAME LINE TEXT EXPECTED-MESSAGE
  printf '%b' "$3" > "$tmp/$1.yaml"
  rc=0
  "$PDB_YAML2JSON" "$tmp/$1.yaml" "$tmp/$1.json" 2> "$tmp/$1.err" || rc=$?
  [ "$rc" = 1 ] || fail "$1: exited $rc, not 1"
  grep -q ":$2: $4" "$tmp/$1.err" || fail "$1: said $(cat "$tmp/$1.err")"
}
refuse yes 2 'a: 1\nb: yes\n' "a plain yes/no/on/off"
refuse exponent 1 'a: 1e5\n' "a plain scalar that only looks like a number"
refuse octal 1 'a: [0755]\n' "a plain scalar that only looks like a number"
refuse date 1 'a: 2024-01-01\n' "a plain scalar that only looks like a number"
refuse version 1 'version: 1.0.3\n' "a plain scalar that only looks like a number"
refuse numkey 1 '200: x\n' "a plain key that YAML reads as a number"
refuse anchor 1 'a: &x 1\nb: *x\n' "only mappings, sequences and scalars"
refuse merge 2 'a: {x: 1}\n<<: {y: 2}\n' "merge keys are not supported"
refuse twice 2 'a: 1\na: 2\n' "a key appears twice"
refuse tag 1 'a: !!str 1\n' "tags are not supported"
refuse broken 2 'a: [1\nb: 2\n' ""
rc=0
"$PDB_YAML2JSON" "$tmp/missing.yaml" "$tmp/out.json" 2> /dev/null || rc=$?
[ "$rc" = 1 ] || fail "a missing input exited $rc, not 1"
echo "yaml2json: ok"
