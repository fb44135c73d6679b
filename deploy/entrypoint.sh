#!/bin/sh
# pulsedb-entrypoint COMMAND... - first-start set-up of a container, then
# runs COMMAND (tini is PID 1 above it).
#
# When PULSEDB_API_TOKENS names a token file that does not exist yet, makes
# it with one admin token (label PULSEDB_INIT_TOKEN_LABEL, "docker"): a
# gateway listening beyond loopback needs one (README "Security"). The token
# is not logged; `pulsedb-show-token` prints it. Several containers of one
# node may start at once: the file appears whole, once (link(2) is atomic).
set -eu

tokens="${PULSEDB_API_TOKENS:-}"
if [ -n "$tokens" ] && [ ! -e "$tokens" ]; then
  tmp="$tokens.new.$$"
  pulsedb token new admin "${PULSEDB_INIT_TOKEN_LABEL:-docker}" --file "$tmp" >/dev/null
  if ln "$tmp" "$tokens" 2>/dev/null; then
    echo "I entrypoint: made the API token file $tokens with an admin token; print it with: pulsedb-show-token" >&2
  fi
  rm -f "$tmp"
fi
exec "$@"
