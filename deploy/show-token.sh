#!/bin/sh
# pulsedb-show-token [ROLE] - prints the first token with ROLE (admin by
# default) from the API token file PULSEDB_API_TOKENS, for clients:
#   TOKEN=$(docker compose exec -T alpha-storage pulsedb-show-token)
set -eu
role="${1:-admin}"
file="${PULSEDB_API_TOKENS:?PULSEDB_API_TOKENS names no token file}"
awk -v role="$role" '$1 == role { print $2; found = 1; exit } END { exit !found }' "$file" \
  || { echo "pulsedb-show-token: no $role token in $file" >&2; exit 1; }
