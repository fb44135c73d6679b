/*  view_sync.h - the node's sync state, read from the peers database in
    the caller's read transaction and rendered with peer_json:

      GET /v1/sync/status  {instance_id, wal: {head, floor, held_back_by},
                            peers: [status...], inbound: [...]}
      GET /v1/sync/peers   {peers: [configuration fields...]}

    Outbound peers are those of this gateway's sync/peers configuration,
    first and in order (a row with the same name adds its status), then the
    rows named otherwise, by name. Rows named "in:<uuid>" are inbound: an
    instance that pulls from this node. held_back_by names the peer (or the
    inbound row) whose position keeps the most WAL entries, null when none
    keeps any. Rows that do not decode are skipped, as the syncer does.
    A peer's volatile status (state, errors, lag) comes from the syncer's
    status file in data_dir (common/syncstat.h), read once per request.
*/
#ifndef GW_VIEW_SYNC_H
#define GW_VIEW_SYNC_H

#include "cfg.h"
#include "store.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define VIEW_SYNC_ROWS_MAX 4096   // rows read per request: 256 peers, their inbound twins, spares
#define VIEW_SYNC_API_PEERS_MAX 256   // peers the syncer takes from the database

//  The status document (or, with PEER_JSON_CONFIG in flags, {peers:
//  [configuration fields]}) in *out; caller drops the reference. Returns
//  0, a store code or -ENOMEM.
int view_sync_status(store_t *store, MDB_txn *txn, const char *data_dir,
                     const peerspec_t *config, size_t config_n, unsigned flags, json_t **out);

//  One outbound peer's status object. Returns 0, PDB_ENOTFOUND when it is
//  neither configured nor has a row, a store code or -ENOMEM.
int view_sync_peer(store_t *store, MDB_txn *txn, const char *data_dir,
                   const peerspec_t *config, size_t config_n, const char *name,
                   size_t name_len, json_t **out);

//  Whether the peers database has a row `name` and whether that row has
//  an address (a peer added through the API). Returns 0 or a store code.
int view_sync_row(store_t *store, MDB_txn *txn, const char *name, size_t name_len,
                  bool *exists, bool *has_address);

//  Rows with an address (peers added through the API). Returns 0 or a
//  store code.
int view_sync_api_peers(store_t *store, MDB_txn *txn, size_t *count);

//  The configured peer called name, or NULL.
const peerspec_t *view_sync_config_peer(const peerspec_t *config, size_t config_n,
                                        const char *name, size_t name_len);

#endif
