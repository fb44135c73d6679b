/*  worker.h - the threads that run a peer: one zactor per direction, each
    with its own sockets (a DEALER to the peer, a storage client, and for
    pushing a SUB to storage's "wal <seq>" events). A worker loops over its
    pusher or puller: steps while there is work, idles until a "wal" event
    or a timer, and after a failure backs off with full jitter (backoff.h),
    marking the peer degraded after PEER_DEGRADED_AFTER failures in a row
    while the other peers carry on. Destroying the actor stops it promptly:
    every wait watches the actor pipe.
*/
#ifndef PDB_SYNCER_WORKER_H
#define PDB_SYNCER_WORKER_H

#include "peer.h"
#include "synctx.h"

#include <czmq.h>

//  Starts the thread for one direction of peer. ctx and peer must outlive
//  the actor. NULL on failure. Stop with zactor_destroy.
zactor_t *worker_start(const synctx_t *ctx, peer_t *peer, peer_dir_t dir);

#endif
