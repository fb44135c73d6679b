/*  api_sync.h - sync status and peers over the API (/v1/sync/status,
    /v1/sync/peers) and the per-peer /metrics series.
*/
#ifndef GW_API_SYNC_H
#define GW_API_SYNC_H

#include "api.h"
#include "metrics.h"

#include <jansson.h>

void api_sync_status(api_t *api, http_req_t *req, const pdb_id_t *id, http_reply_t *reply);
void api_sync_peers_list(api_t *api, http_req_t *req, const pdb_id_t *id, http_reply_t *reply);
void api_sync_peer_add(api_t *api, http_req_t *req, const pdb_id_t *id, http_reply_t *reply);
void api_sync_peer_remove(api_t *api, http_req_t *req, const pdb_id_t *id, http_reply_t *reply);

//  The per-peer facts of /metrics, read in txn. On 0, *peers (caller frees
//  with free()) holds *n entries whose names are borrowed from *status
//  (caller drops it after rendering). Returns 0 or a store code / -ENOMEM.
int api_sync_metrics(api_t *api, MDB_txn *txn, json_t **status, metrics_peer_t **peers,
                     size_t *n);

#endif
