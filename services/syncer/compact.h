/*  compact.h - WAL compaction and tombstone purging.

    Every compact_interval_s the floor is computed from the peers that
    still need this node's WAL:
      - outbound peers we push to (direction push or both, configured or in
        the peers database): they have everything up to push_acked;
      - inbound peers ("in:<uuid>" rows): they have everything up to
        pulled_through; only those that pushed here (pushed) or whose
        instance a peer row here is bound to count: an unauthenticated
        pull from a made-up instance id holds nothing.
    A peer unseen for peer_expiry_s (last_seen_ms; a configured peer never
    seen counts from when this compactor started) no longer holds the
    floor: it will resync by snapshot. WAL entries below
    min(position + 1) over the live peers are deleted through storage
    "compact" in bounded steps (COMPACT_STEP per call, so writers never
    stall). With no live peer at all nothing needs the WAL: it is compacted
    up to its head (the head itself stays in meta, so sequences never
    repeat), and a peer added later starts with a snapshot, as every new
    peer with history does. Tombstones older than tombstone_ttl_s go
    through storage "purge", in steps too. One log line per run.
*/
#ifndef PDB_SYNCER_COMPACT_H
#define PDB_SYNCER_COMPACT_H

#include "cfg.h"
#include "sclient.h"
#include "synctx.h"

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define COMPACT_STEP 10000u         // WAL entries deleted per storage call
#define PURGE_STEP 10000u           // tombstones purged per storage call

//  One peer's hold on the WAL.
typedef struct {
    uint64_t position;               // everything up to here is safe at the peer
    bool seen;                       // last_seen_ms known
    uint64_t last_seen_ms;
} compact_hold_t;

//  The first seq that must be kept: min(position + 1) over live holds,
//  head + 1 when none is live. A hold is live when seen within expiry_ms
//  of now (or, never seen, when unseen_since_ms is within it). *live gets
//  the number of live holds.
uint64_t compact_floor(const compact_hold_t *holds, size_t n, uint64_t head, uint64_t now_ms,
                       uint64_t expiry_ms, uint64_t unseen_since_ms, size_t *live);

typedef struct {
    const synctx_t *ctx;
    const peerspec_t *config;        // sync/peers
    size_t config_n;
    uint64_t peer_expiry_ms;
    uint64_t tombstone_ttl_ms;
    uint64_t started_wall_ms;        // when this compactor started
} compact_opts_t;

typedef struct {
    uint64_t below;                  // the floor asked for
    uint64_t removed, floor;         // WAL entries deleted, floor after
    uint64_t purged;                 // tombstones dropped
    size_t live;                     // peers holding the floor
} compact_result_t;

//  Every hold on the WAL: the inbound rows, the rows of peers we push to,
//  and pushed-to peers without a row yet (never reached: they hold
//  everything). Caller frees *holds with free(). Returns 0 or a code.
int compact_collect(const compact_opts_t *opts, compact_hold_t **holds, size_t *n);

//  One run. Returns 0 or the first failing code with why.
int compact_run(const compact_opts_t *opts, sclient_t *storage, compact_result_t *out,
                char why[PDB_ERRMSG_MAX]);

//  A thread running compact_run every interval_s (opts copied; the
//  config array must outlive it). Stop with zactor_destroy.
zactor_t *compact_start(const compact_opts_t *opts, uint64_t interval_s);

#endif
