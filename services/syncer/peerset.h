/*  peerset.h - the peers the daemon runs: reload() compares what
    peers_cfg_collect says with what runs, starts new peers, stops removed
    ones and restarts changed ones; write_status() writes every peer's
    status to the status file (common/syncstat.h) when it changed. Both run
    on the main thread.

    The status never goes through storage: a storage write is a durable
    commit (an fsync every writer of the node queues behind), and this
    thread also serves the peers, so it must never wait for one.
*/
#ifndef PDB_SYNCER_PEERSET_H
#define PDB_SYNCER_PEERSET_H

#include "cfg.h"
#include "sclient.h"
#include "synctx.h"

#include <stddef.h>

typedef struct peerset peerset_t;

//  config (config_n peers) is copied. NULL when out of memory. Caller frees
//  with peerset_destroy, which stops every peer.
peerset_t *peerset_new(const synctx_t *ctx, const peerspec_t *config, size_t config_n);
void peerset_destroy(peerset_t **self_p);

//  Re-reads the peers and starts/stops accordingly. Returns 0 or a store error.
int peerset_reload(peerset_t *self);

#define PEERSET_STATUS_MS 100         // status file written at most this often...
#define PEERSET_STATUS_REFRESH_MS 1000  // ...and at least this often (written_ms moves)

//  Writes the status file when a status (or the set of peers) changed and
//  PEERSET_STATUS_MS passed since the last write, or PEERSET_STATUS_REFRESH_MS
//  passed. now_wall/now_mono: wall and monotonic milliseconds. Returns the
//  milliseconds until it should be called again; *rc gets 0 or the write's
//  failure (-errno).
uint64_t peerset_write_status(peerset_t *self, const char *data_dir, uint64_t now_wall,
                              uint64_t now_mono, int *rc);

//  Connections the sync socket refused for an unknown CURVE key, for the
//  status file's "refused" (the next write, when the count changed).
typedef struct {
    uint64_t count;
    uint64_t last_ms;
    char last_key[PEERSPEC_KEY_LEN + 1];
    char last_address[64];
} peerset_refused_t;
void peerset_set_refused(peerset_t *self, const peerset_refused_t *refused);


#endif
