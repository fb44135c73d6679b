#!/bin/sh
# pulsedb-entrypoint COMMAND... - first-start set-up of a container, then
# runs COMMAND (tini is PID 1 above it).
#
# When PULSEDB_API_TOKENS names a token file that does not exist yet, makes
# it with one admin token (label PULSEDB_INIT_TOKEN_LABEL, "docker"): a
# gateway listening beyond loopback needs one (README "Security"). The token
# is not logged; `pulsedb-show-token` prints it. Several containers of one
# node may start at once: the file appears whole, once (link(2) is atomic).
#
# HTTP sync peers: for each NAME in PULSEDB_INIT_HTTP_PEERS, this node
# (PULSEDB_INIT_NODE) and NAME share one peer token. Whichever of the two
# starts first makes it, once, in the folder they share
# (PULSEDB_INIT_SHARED, a volume both mount; file peer-token.A-B, the two
# names sorted); each then adds the line `peer:OTHER TOKEN` to its own token
# file when it has no peer:OTHER line yet. The gateway and the syncer read
# that file at start, and start after this step.
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

# The token NODE and PEER share, made in the shared folder when absent.
shared_token() {
  pair="$(printf '%s\n%s\n' "$1" "$2" | sort | paste -sd- -)"
  link="${PULSEDB_INIT_SHARED:-/var/lib/pulsedb-shared}/peer-token.$pair"
  if [ ! -e "$link" ]; then
    tmp="$link.new.$$"
    pulsedb token new "peer:$pair" compose --file "$tmp" >/dev/null
    ln "$tmp" "$link" 2>/dev/null || true
    rm -f "$tmp"
  fi
  awk 'NR == 1 { print $2 }' "$link"
}

peers="${PULSEDB_INIT_HTTP_PEERS:-}"
if [ -n "$peers" ]; then
  node="${PULSEDB_INIT_NODE:?PULSEDB_INIT_HTTP_PEERS needs PULSEDB_INIT_NODE, this node's name}"
  [ -n "$tokens" ] || { echo "E entrypoint: PULSEDB_INIT_HTTP_PEERS needs PULSEDB_API_TOKENS" >&2; exit 1; }
  for peer in $peers; do
    token="$(shared_token "$node" "$peer")"
    [ -n "$token" ] || { echo "E entrypoint: no shared token for peer=$peer" >&2; exit 1; }
    # One writer at a time: the node's containers start together.
    (
      flock 9
      if ! awk -v role="peer:$peer" '$1 == role { found = 1 } END { exit !found }' "$tokens"; then
        printf 'peer:%s %s compose\n' "$peer" "$token" >> "$tokens"
        echo "I entrypoint: added the HTTP sync peer token peer:$peer to $tokens" >&2
      fi
    ) 9<"$tokens"
  done
fi
exec "$@"
