/*  peers_cfg.h - which peers this node syncs with: those of sync/peers in
    the configuration, and the peers database rows that have an "address"
    field (written by `pulsedb peer add`: address, direction, collectives
    as semicolon-separated UUIDs; removed with "peer_del"). The syncer
    re-reads the database every second, so added and removed peers take
    effect without a restart. A name in both places is the configuration's.
    Rows named "in:<uuid>" describe inbound peers and are never dialled.
*/
#ifndef PDB_SYNCER_PEERS_CFG_H
#define PDB_SYNCER_PEERS_CFG_H

#include "cfg.h"
#include "store.h"

#include <stdbool.h>
#include <stddef.h>

#define PEERS_CFG_DB_MAX 256         // peers taken from the database
#define PEERS_CFG_PROBLEMS_MAX 16    // bad rows reported per read

typedef struct {
    peerspec_t spec;
    bool from_db;
} peers_cfg_entry_t;

typedef struct {
    char name[PEERSPEC_NAME_MAX + 1];
    char why[PDB_ERRMSG_MAX];
} peers_cfg_problem_t;

typedef struct {
    peers_cfg_entry_t *items;        // configuration first, in order; then rows by name
    size_t n;
    peers_cfg_problem_t *problems;   // rows that were not taken, and why
    size_t problems_n;
} peers_cfg_t;

//  Collects the peers. Returns 0 or a store error / -ENOMEM; release with
//  peers_cfg_release either way.
int peers_cfg_collect(store_t *store, const peerspec_t *config, size_t config_n,
                      peers_cfg_t *out);
void peers_cfg_release(peers_cfg_t *self);

//  The entry named name, or NULL.
const peers_cfg_entry_t *peers_cfg_find(const peers_cfg_t *self, const char *name,
                                        size_t len);

//  True when the two describe the same peer the same way.
bool peers_cfg_same(const peers_cfg_entry_t *a, const peers_cfg_entry_t *b);

//  A peer's cursors only cover what its filter let through, so its row
//  records the filter they were built under ("cursor_filter", bin): the
//  spec's collectives sorted, PDB_ID_LEN bytes each; empty for no filter
//  (every collective).
#define PEERS_CFG_FILTER_MAX (PEERSPEC_COLLECTIVES_MAX * PDB_ID_LEN)

//  Writes spec's filter record to out and its length to *len.
void peers_cfg_filter_key(const peerspec_t *spec, uint8_t out[PEERS_CFG_FILTER_MAX],
                          size_t *len);

//  True when every collective spec syncs was already synced under the
//  recorded filter (key, len): the same filter or a narrower one, so the
//  cursors still hold. False when the filter was widened or removed, or the
//  record is not a list of ids (the cursors must then start over).
bool peers_cfg_filter_within(const peerspec_t *spec, const uint8_t *key, size_t len);

#endif
