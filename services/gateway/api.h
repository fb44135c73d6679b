/*  api.h - what the HTTP API's handlers share (api_t, the handler type, the
    common steps: body parsing, storage calls, read-back) and the node
    endpoints: /health, /metrics, /v1/status, and the built-in files of
    api_page.c: the status page (/) and the API description (/openapi.json).
    The other handlers are in
    api_entities.h (collectives, experiences, relations, insights),
    api_query.h (search, watch, digest), api_sync.h (sync status and peers)
    and api_relay.h (the sync protocol over HTTP).

    Reads use a fresh LMDB read transaction per request, ended before any
    blocking call; writes go to storage through the workers' storage writer
    (smux.h), or, for creates with a small body, on the network thread
    through amux.h with no worker; the reply shows what was stored
    (defaults included).
*/
#ifndef GW_API_H
#define GW_API_H

#include "amux.h"
#include "annquery.h"
#include "cfg.h"
#include "entity.h"
#include "http.h"
#include "jvec.h"
#include "id.h"
#include "metrics.h"
#include "smux.h"
#include "spool.h"
#include "store.h"
#include "syncrelay.h"
#include "tokens.h"
#include "watch.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define API_PAGE_DEFAULT 50
#define API_HEALTH_TIMEOUT_MS 1000   // /health answers fast even when storage hangs

//  Everything a handler may use; owned by the gateway, borrowed here.
typedef struct {
    store_t *store;
    spool_t *pool;                    // storage calls other than writes
    smux_t *mux;                      // writes from workers: creates, updates, deletes, reinforces
    amux_t *amux;                     // creates on the network thread (http_loop_t)
    watch_t *watch;
    metrics_t *metrics;
    const char *storage_endpoint;
    const peerspec_t *config_peers;   // sync/peers of the configuration
    size_t config_peers_n;
    const tokens_t *tokens;           // API tokens; NULL when none are required
    syncrelay_t *relay;               // HTTP sync requests to the syncer
    const char *data_dir;             // the syncer's status file is there
    annquery_t *ann;                  // approximate search, or NULL (storage on another host)
} api_t;

//  Every handler: `id` is the UUID captured from the path (NULL when the
//  route has none). The reply is always filled.
typedef void (*api_handler_fn)(api_t *api, http_req_t *req, const pdb_id_t *id,
                               http_reply_t *reply);

//  --- shared steps (api.c) ---------------------------------------------------

//  The request's JSON object body. On failure replies 415 (not
//  application/json), 400 (missing, malformed or not an object) and
//  returns false.
bool api_body(const http_req_t *req, http_reply_t *reply, json_t **out);

//  api_body for a create whose embeddings (those `mode` names, up to
//  `objects` objects) are read on the fast path into *vecs: their JSON
//  members then hold []. Release *vecs with jvec_release in every case
//  (api_body.c).
bool api_body_vecs(const http_req_t *req, http_reply_t *reply, jvec_mode_t mode,
                   size_t objects, json_t **out, jvec_t *vecs);

//  A read transaction, or false with a 500 reply.
bool api_read_begin(api_t *api, http_reply_t *reply, MDB_txn **txn);

//  One storage write (smux.h); fields is a packed map.
//  Returns 0 (id_out: the entity's id) or storage's code with `why`.
int api_write(api_t *api, ent_type_t type, change_op_t op, const pdb_id_t *collective,
              const pdb_id_t *id, const void *fields, size_t fields_len, pdb_id_t *id_out,
              char why[PDB_ERRMSG_MAX]);

//  A create through storage, answered 201 with the entity as storage stored
//  it (without the embedding), with no read-back. Returns 0 (reply filled)
//  or storage's code with `why` (reply untouched).
int api_create(api_t *api, http_reply_t *reply, ent_type_t type, const pdb_id_t *collective,
               const void *fields, size_t fields_len, char why[PDB_ERRMSG_MAX]);

//  api_create for a handler on the network thread (req->on_loop): the
//  write goes through the loop's amux and the request is deferred, its
//  reply (the same as api_create's, or the error) given when storage
//  answers. Or, when it cannot be sent, an error reply at once.
void api_create_deferred(api_t *api, http_req_t *req, http_reply_t *reply, ent_type_t type,
                         const pdb_id_t *collective, const void *fields, size_t fields_len);

//  Replies with the stored entity (read back in a new transaction).
void api_reply_entity(api_t *api, http_reply_t *reply, unsigned status, ent_type_t type,
                      const pdb_id_t *id, unsigned view_flags);

//  Deletes a live entity of `type`: 404 unless it exists with that type,
//  204 on success.
void api_delete(api_t *api, http_reply_t *reply, ent_type_t type, const pdb_id_t *id);

//  --- node (api.c) -----------------------------------------------------------
void api_health(api_t *api, http_req_t *req, const pdb_id_t *id, http_reply_t *reply);
void api_metrics(api_t *api, http_req_t *req, const pdb_id_t *id, http_reply_t *reply);
void api_status(api_t *api, http_req_t *req, const pdb_id_t *id, http_reply_t *reply);

//  --- built-in files (api_page.c) -------------------------------------------
void api_page(api_t *api, http_req_t *req, const pdb_id_t *id, http_reply_t *reply);
void api_openapi(api_t *api, http_req_t *req, const pdb_id_t *id, http_reply_t *reply);

#endif
