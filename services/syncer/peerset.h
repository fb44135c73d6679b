/*  peerset.h - the peers the daemon runs: reload() compares what
    peers_cfg_collect says with what runs, starts new peers, stops removed
    ones and restarts changed ones; flush() writes each peer's status to its
    row when it changed. Both run on the main thread.
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
peerset_t *peerset_new(const synctx_t *ctx, const cfg_peer_t *config, size_t config_n);
void peerset_destroy(peerset_t **self_p);

//  Re-reads the peers and starts/stops accordingly. Returns 0 or a store error.
int peerset_reload(peerset_t *self);

//  Writes changed statuses through storage.
void peerset_flush(peerset_t *self, sclient_t *storage);

size_t peerset_size(const peerset_t *self);

#endif
