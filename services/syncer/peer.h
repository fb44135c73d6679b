/*  peer.h - one sync peer as the syncer runs it: its spec (name, address,
    direction, collective filter) and the state its push and pull threads
    share: the identity lock, the generation of its identity binding, its
    status (what the peers database row shows) and counters.

    Status fields written to the peer's row (storage "peer_set"):
      state          connecting | syncing | idle | snapshot | degraded
      last_seen_ms   wall time of the last reply from the peer (any reply)
      last_success_ms  wall time of the last good exchange
      last_error     the last failure, "" when it never failed
      failures       consecutive failures (the larger of push and pull)
      retries        failed attempts since the syncer started
      peer_head      the peer's WAL head, as its last hello or pull said
      lag_changes    pull: the peer's WAL head minus our pull cursor
      lag_ms         pull: how long we have not been caught up (0 when we are)
      push_lag_changes  push: our WAL head minus push_acked
      snapshot_done, snapshot_total, snapshot_bytes, snapshot_rate (entities
      per second), snapshot_eta_ms   initial sync progress
    The cursors (pull_cursor, push_acked) and instance_id are written by the
    threads themselves, with the data they cover.
*/
#ifndef PDB_SYNCER_PEER_H
#define PDB_SYNCER_PEER_H

#include "cfg.h"
#include "err.h"
#include "sclient.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

typedef enum { PEER_PUSH = 0, PEER_PULL = 1 } peer_dir_t;

typedef enum {
    PEER_OFF = 0,            // this direction does not run
    PEER_CONNECTING,         // hello not done yet, or retrying after a failure
    PEER_SYNCING,            // moving changes
    PEER_IDLE,               // in step, nothing to move
    PEER_SNAPSHOT,           // initial sync running
    PEER_DEGRADED,           // PEER_DEGRADED_AFTER consecutive failures
} peer_state_t;

#define PEER_DEGRADED_AFTER 3

//  Counters since the peer started (the --once summary and logs).
typedef struct {
    uint64_t pushed, push_accepted, push_stale, push_missing;
    uint64_t pulled, pull_applied, pull_stale, pull_missing;
    uint64_t installed;
    uint64_t errors;
} peer_counts_t;

typedef struct {
    cfg_peer_t spec;
    bool from_db;                    // a peers-db row (`pulsedb peer add`) defines it
    pthread_mutex_t ident_lock;      // held across a hello's identity check and reset
    unsigned generation;             // bumped on every identity reset (under ident_lock)

    pthread_mutex_t lock;            // guards the fields below
    peer_state_t state[2];
    unsigned failures[2];
    uint64_t last_seen_ms, last_success_ms;
    char last_error[PDB_ERRMSG_MAX];
    uint64_t peer_head;
    uint64_t lag_changes, lag_ms, caught_up_ms, push_lag_changes;
    uint64_t snap_done, snap_total, snap_bytes, snap_rate, snap_eta_ms;
    peer_counts_t counts;
    uint64_t version;                // bumped by every status change
    uint64_t flushed;                // version last written to the peers db
} peer_t;

//  A peer for spec; both directions start PEER_CONNECTING or PEER_OFF.
//  NULL when out of memory. Caller frees with peer_destroy.
peer_t *peer_new(const cfg_peer_t *spec, bool from_db);
void peer_destroy(peer_t **self_p);

bool peer_runs(const peer_t *self, peer_dir_t dir);
const char *peer_state_name(peer_state_t state);

//  The state shown for the peer: the worse of its two directions.
peer_state_t peer_state(peer_t *self);

void peer_set_state(peer_t *self, peer_dir_t dir, peer_state_t state);
//  A good exchange: failures back to 0, last_success_ms (and last_seen_ms)
//  = wall_ms.
void peer_note_ok(peer_t *self, peer_dir_t dir, uint64_t wall_ms);
//  Any reply came from the peer.
void peer_note_seen(peer_t *self, uint64_t wall_ms);
void peer_note_head(peer_t *self, uint64_t head);
//  A failed attempt: counts it, keeps the error, degrades after
//  PEER_DEGRADED_AFTER in a row. Returns the consecutive failures.
unsigned peer_note_failure(peer_t *self, peer_dir_t dir, const char *error);
void peer_note_lag(peer_t *self, peer_dir_t dir, uint64_t lag, uint64_t wall_ms);
void peer_note_snapshot(peer_t *self, uint64_t done, uint64_t total, uint64_t bytes,
                        uint64_t rate, uint64_t eta_ms);
//  Adds to the counters.
void peer_count(peer_t *self, const peer_counts_t *add);
void peer_counts(peer_t *self, peer_counts_t *out);

//  Writes the status fields to the peer's row when they changed since the
//  last flush (or always with force). Returns 0 or storage's code.
int peer_flush(peer_t *self, sclient_t *storage, bool force, char why[PDB_ERRMSG_MAX]);

#endif
