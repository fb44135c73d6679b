/*  peer.h - one sync peer as the syncer runs it: its spec (name, address,
    direction, collective filter) and the state its push and pull threads
    share: the identity lock, the generation of its identity binding, its
    status and counters.

    The status is volatile: the daemon writes it to the status file
    (common/syncstat.h, peerset.h), never through storage. Fields:
      state          connecting | syncing | idle | snapshot | degraded
      last_seen_ms   wall time of the last reply from the peer (any reply)
      last_success_ms  wall time of the last good exchange
      error, error_ms  the failure of a direction that is failing now (its
                     latest attempt failed), and when; absent once both
                     directions work again
      last_error, last_error_ms  the latest failure ever, and when: kept
                     after recovery, as history
      failures       consecutive failures (the larger of push and pull)
      retries        failed attempts since the syncer started
      peer_head      the peer's WAL head, as its last hello or pull said
      lag_changes    pull: the peer's WAL head minus our pull cursor
      push_lag_changes  push: our WAL head minus push_acked
      push_acked     push: how far the peer has acknowledged (the durable
                     row's copy is written lazily)
      pull_oldest_ms, push_oldest_ms  the HLC wall time (when it was
                     written at its origin) of the oldest change the other
                     side lacks: pull, the peer's oldest change above our
                     cursor; push, our oldest change above push_acked that
                     the peer needs. Absent when there is none. Readers show
                     lag_ms = now - oldest, so the age is current whenever
                     it is read.
      snapshot_done, snapshot_total, snapshot_bytes, snapshot_rate (entities
      per second), snapshot_eta_ms   initial sync progress
    The cursors (pull_cursor, push_acked), instance_id and the last_seen_ms
    compaction needs are written to the peers database by the threads
    themselves, through storage.
*/
#ifndef PDB_SYNCER_PEER_H
#define PDB_SYNCER_PEER_H

#include "cfg.h"
#include "err.h"
#include "sclient.h"

#include <msgpack.h>

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
    peerspec_t spec;
    bool from_db;                    // a peers-db row (`pulsedb peer add`) defines it
    pthread_mutex_t ident_lock;      // held across a hello's identity check and reset
    unsigned generation;             // bumped on every identity reset (under ident_lock)

    pthread_mutex_t lock;            // guards the fields below
    peer_state_t state[2];
    unsigned failures[2];
    uint64_t last_seen_ms, last_success_ms;
    char error[2][PDB_ERRMSG_MAX];   // per direction: its latest failure while failing
    uint64_t error_ms[2];
    char last_error[PDB_ERRMSG_MAX]; // the latest failure of either direction, kept
    uint64_t last_error_ms;
    uint64_t peer_head;
    uint64_t lag_changes, push_lag_changes, push_acked;
    uint64_t oldest_ms[2];           // per direction: see pull_oldest_ms, push_oldest_ms
    uint64_t snap_done, snap_total, snap_bytes, snap_rate, snap_eta_ms;
    peer_counts_t counts;
    uint64_t version;                // bumped by every status change
} peer_t;

//  A peer for spec; both directions start PEER_CONNECTING or PEER_OFF.
//  NULL when out of memory. Caller frees with peer_destroy.
peer_t *peer_new(const peerspec_t *spec, bool from_db);
void peer_destroy(peer_t **self_p);

bool peer_runs(const peer_t *self, peer_dir_t dir);

//  The state shown for the peer: the worse of its two directions.
peer_state_t peer_state(peer_t *self);

void peer_set_state(peer_t *self, peer_dir_t dir, peer_state_t state);
//  A good exchange: failures back to 0, last_success_ms (and last_seen_ms)
//  = wall_ms.
void peer_note_ok(peer_t *self, peer_dir_t dir, uint64_t wall_ms);
//  Any reply came from the peer.
void peer_note_seen(peer_t *self, uint64_t wall_ms);
void peer_note_head(peer_t *self, uint64_t head);
uint64_t peer_last_seen(peer_t *self);
//  A failed attempt at wall_ms: counts it, keeps the error (current for
//  dir until its next good exchange, and as last_error), degrades after
//  PEER_DEGRADED_AFTER in a row. Returns the consecutive failures.
unsigned peer_note_failure(peer_t *self, peer_dir_t dir, const char *error, uint64_t wall_ms);
//  Changes the other side lacks in direction dir (lag_changes or
//  push_lag_changes).
void peer_note_lag(peer_t *self, peer_dir_t dir, uint64_t lag);
//  The HLC wall time of the oldest change the other side lacks in
//  direction dir; 0 when it lacks none.
void peer_note_oldest(peer_t *self, peer_dir_t dir, uint64_t oldest_ms);
uint64_t peer_oldest(peer_t *self, peer_dir_t dir);
void peer_note_acked(peer_t *self, uint64_t push_acked);
void peer_note_snapshot(peer_t *self, uint64_t done, uint64_t total, uint64_t bytes,
                        uint64_t rate, uint64_t eta_ms);
//  How far direction dir has got: changes moved (pushed or pulled) and
//  still lacking on the other side (push_lag_changes or lag_changes), and
//  the initial sync's entities done and total (pull; 0 when none ran).
typedef struct {
    uint64_t moved, lag, snap_done, snap_total;
} peer_progress_t;
void peer_progress(peer_t *self, peer_dir_t dir, peer_progress_t *out);

//  Adds to the counters.
void peer_count(peer_t *self, const peer_counts_t *add);
void peer_counts(peer_t *self, peer_counts_t *out);

//  The status version: it moves whenever a status field changes.
uint64_t peer_version(peer_t *self);

//  Packs the status fields as one map (see above); *version gets the
//  version packed. A fact not known yet is left out.
void peer_status_pack(peer_t *self, msgpack_packer *pk, uint64_t *version);

#endif
