/*  pusher.h - sends this node's WAL to one peer.

    From push_acked + 1, changes the peer's vector (from hello, raised as
    pushes are acknowledged) already covers are skipped, the rest batched by
    count and bytes (our limits and the peer's max_batch_bytes). push_acked
    then moves to the reply's safe_through, never past it and never back;
    a run of skipped changes moves it too, since the peer has them.

    push_acked is written to storage lazily, at most every PUSH_PERSIST_MS
    while pushing, when idle, before a new hello and at stop (pusher_flush),
    so no batch waits for that commit. It is only an optimisation: after a
    crash the peer is sent again what it already has, and drops it. The
    same write refreshes the row's last_seen_ms, which compaction reads to
    tell a live peer from an expired one, at least every PUSH_SEEN_PERSIST_MS.

    The peer's status gets push_acked (current, unlike the row's), the
    changes above it (push_lag_changes) and push_oldest_ms: the HLC wall
    time of the first change of the batch being sent, the oldest one the
    peer needs; 0 once a batch is acknowledged whole with nothing more to
    send. While the peer cannot be reached before any batch was read, the
    first WAL change above push_acked stands in (the peer's vector is not
    known then).
*/
#ifndef PDB_SYNCER_PUSHER_H
#define PDB_SYNCER_PUSHER_H

#include "conn.h"

#include <stdint.h>

#define PUSH_TIMEOUT_MS 60000       // a large batch applied and fsynced on a busy peer
//  push_acked is written at most this often while pushing: one storage
//  commit a second instead of one per batch, at the price of re-sending at
//  most a second of changes after a crash.
#define PUSH_PERSIST_MS 1000
//  last_seen_ms is written with it at least this often (when it moved):
//  a sixth of the shortest peer_expiry_s (60 s), so compaction never takes
//  a live peer for an expired one.
#define PUSH_SEEN_PERSIST_MS 10000

typedef struct {
    conn_t conn;
    uint64_t acked;                 // push_acked (as this thread knows it)
    uint64_t persisted;             // push_acked last written
    uint64_t persisted_mono_ms;
    uint64_t seen_persisted;        // last_seen_ms last written
    vv_t remote;                    // the peer's vector, raised as pushes are acked
    bool floor_warned;
    bool stalled;                   // the last batch made no progress (missing dependency)
} pusher_t;

int pusher_init(pusher_t *self, const synctx_t *ctx, peer_t *peer, link_cancel_t *cancel,
                char why[PDB_ERRMSG_MAX]);
void pusher_release(pusher_t *self);

//  One batch (saying hello first when due). *wait_ms gets 0 when more is
//  ready to send now, else how long to idle before looking again (a "wal"
//  event may end the idle early). Returns 0, -ECANCELED, or a failure code
//  with why (the caller backs off).
int pusher_step(pusher_t *self, uint64_t *wait_ms, char why[PDB_ERRMSG_MAX]);

//  Writes push_acked now if it moved since it was last written (at stop, at
//  the end of `sync once`). Returns 0 or a storage failure with why.
int pusher_flush(pusher_t *self, char why[PDB_ERRMSG_MAX]);

#endif
