/*  synctx.h - what every sync thread of a node shares, read-only once the
    syncer has started: the store (read-only, MDB_NOTLS so transactions may
    live on any thread), this node's identity, the storage endpoints, the
    sync options from the configuration, and its credentials.
*/
#ifndef PDB_SYNCER_SYNCTX_H
#define PDB_SYNCER_SYNCTX_H

#include "cfg.h"
#include "id.h"
#include "senv.h"
#include "store.h"
#include "tokens.h"

#include <czmq.h>

#include <stddef.h>
#include <stdint.h>

typedef struct {
    store_t *store;                            // borrowed
    const senv_t *env;                         // borrowed
    pdb_id_t self;                             // this node's instance id
    char storage_endpoint[CFG_ENDPOINT_MAX];   // storage's request socket
    char events_endpoint[CFG_ENDPOINT_MAX];    // storage's "wal <seq>" PUB socket
    size_t batch_max_changes;
    size_t batch_max_bytes;
    unsigned pull_wait_ms;
    uint64_t retry_initial_ms, retry_max_ms;
    unsigned retry_multiplier_pct;
    zcert_t *cert;                             // this node's CURVE key pair, NULL: none
    const tokens_t *tokens;                    // peer tokens for HTTP peers, NULL: none
    const char *ca_file;                       // CA bundle for https peers, "" for the system's
} synctx_t;

#endif
