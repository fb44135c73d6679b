/*  peer_json.h - sync peers as API JSON, both ways, without touching the
    store (view_sync.c reads the rows; unit tests call these directly).

    In:  a POST /v1/sync/peers body {name, address, direction?, collectives?}
         -> a checked peerspec_t -> storage "peer_set" args
            [name, {address, direction, collectives: "UUID;UUID;..."}]
    Out: a peers-database row (a MessagePack map written through storage
         "peer_set": configuration, cursors, identity) and the peer's map
         in the syncer's status file (common/syncstat.h; state, errors,
         lag), each field of which may be missing, or have an unexpected
         type, and then shows as null -> the peer's status object:

      {name, defined_by: "config"|"api"|null, address, direction,
       collectives: [UUID...], state, instance_id, pull_cursor, push_acked,
       peer_head, lag_changes, pull_lag_changes, push_lag_changes, lag_ms,
       pull_lag_ms, push_lag_ms, wal_held_back, last_seen_ms,
       last_success_ms, error, error_ms, last_error, last_error_ms,
       failures, retries, conflicts,
       snapshot: {done, total, bytes, rate, eta_ms}|null}

    lag_changes is the peer's overall lag: the pull lag the syncer wrote
    (lag_changes) for a pull peer, the push lag (WAL head minus push_acked)
    for a push peer, the larger of the two for both. lag_ms likewise, from
    pull_lag_ms and push_lag_ms: the age (now minus its HLC wall time) of
    the oldest change the other side lacks, 0 when it lacks none; null
    while the syncer has not said (not running, or the direction is off).
    error is the failure of a direction that is failing now (null once it
    works again); last_error the latest failure, kept as history; both
    with their wall-clock time (_ms). Status fields left in rows by older
    syncers are not shown: only the status file is current.
*/
#ifndef GW_PEER_JSON_H
#define GW_PEER_JSON_H

#include "bounds.h"
#include "cfg.h"
#include "err.h"
#include "mpk.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PEER_JSON_NAME_MAX PEERSPEC_NAME_MAX              // 128 bytes: the peers db key
#define PEER_JSON_COLLECTIVES_MAX PEERSPEC_COLLECTIVES_MAX  // 256: the protocol's filter limit
//  The filter is kept in the row as one "UUID;UUID" string, and storage
//  keeps strings of at most PDB_STR_MAX bytes: 37 bytes per id, so 110 fit.
#define PEER_JSON_COLLECTIVES_STORED_MAX ((PDB_STR_MAX + 1) / (PDB_ID_STR_LEN + 1))

#define PEER_JSON_CONFIG 1u     // render the configuration fields only

//  True for 1..PEER_JSON_NAME_MAX bytes of A-Z a-z 0-9 . _ - (so never an
//  inbound "in:<uuid>" row, and always safe in a URL path).
bool peer_json_name_valid(const char *name, size_t len);

//  Checks a POST body and fills *out (direction defaults to both, no
//  collectives means every collective). Unknown members are refused.
//  Returns 0 or PDB_EINVAL with `why` naming the member and the problem.
int peer_json_parse(const json_t *body, peerspec_t *out, char why[PDB_ERRMSG_MAX]);

//  Packs the "peer_set" args for a peer into out (initialised by the
//  caller). Every configuration field is written, so a re-added peer
//  never keeps an old filter. Returns 0 or -ENOMEM.
int peer_json_pack_set(const peerspec_t *peer, mpk_out_t *out);

//  WAL entries kept for a peer that has everything up to pos: from
//  max(pos + 1, floor) through head; 0 when it is in step.
uint64_t peer_json_held_back(uint64_t head, uint64_t floor, uint64_t pos);

//  Facts from outside a peer's row that its status needs.
typedef struct {
    uint64_t wal_head, wal_floor;
    bool remote_pulls;          // the peer's instance pulls from us (an "in:" row) ...
    uint64_t pulled_through;    // ... and has pulled this far
    const msgpack_object *status;   // the peer's map in the status file, NULL: none
    uint64_t now_ms;            // wall clock: lag_ms is the age of the oldest change
} peer_json_ctx_t;

//  One outbound peer. config: the peer as configured in sync/peers (NULL
//  when it is not); row: its peers-db map (NULL when it has none yet).
//  name is used when config is NULL. flags: PEER_JSON_CONFIG or 0. Returns
//  a new object (caller drops the reference) or NULL when out of memory.
json_t *peer_json_outbound(const char *name, size_t name_len, const peerspec_t *config,
                           const msgpack_object *row, const peer_json_ctx_t *ctx,
                           unsigned flags);

//  One inbound row ("in:<uuid>"): {instance_id, pulled_through,
//  last_seen_ms, peer, holds_wal, wal_held_back, refused, last_refused_ms,
//  last_refusal}; peer names the outbound peer with that instance id
//  (NULL: none). NULL when out of memory.
json_t *peer_json_inbound(const msgpack_object *row, const char *peer,
                          const peer_json_ctx_t *ctx);

//  Whether an inbound row holds the WAL (as compaction counts it): it has a
//  cursor and pushed here or is an outbound peer (peer not NULL).
bool peer_json_inbound_holds(const msgpack_object *row, const char *peer);

//  The row's instance_id (bin16), when it has one.
bool peer_json_instance(const msgpack_object *row, pdb_id_t *out);

//  A row's u64 field, when present with that type.
bool peer_json_u64(const msgpack_object *row, const char *key, uint64_t *out);

#endif
