#include "api_sync.h"
#include "peer_json.h"
#include "view_sync.h"
#include "log.h"
#include "mpk.h"
#include "sclient.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

//  Renders the status (or, with PEER_JSON_CONFIG, the peer list) as 200.
static void
s_reply_status(api_t *api, http_reply_t *reply, unsigned flags)
{
    MDB_txn *txn;
    if (!api_read_begin(api, reply, &txn))
        return;
    json_t *status = NULL;
    int rc = view_sync_status(api->store, txn, api->data_dir, api->config_peers,
                              api->config_peers_n, flags, &status);
    mdb_txn_abort(txn);
    if (rc) {
        http_reply_rc(reply, rc, "cannot read the sync state");
        return;
    }
    http_reply_json(reply, 200, status);
}

void
api_sync_status(api_t *api, http_req_t *req, const pdb_id_t *id, http_reply_t *reply)
{
    (void) req;
    (void) id;
    s_reply_status(api, reply, 0);
}

void
api_sync_peers_list(api_t *api, http_req_t *req, const pdb_id_t *id, http_reply_t *reply)
{
    (void) req;
    (void) id;
    s_reply_status(api, reply, PEER_JSON_CONFIG);
}

//  One storage op on the peers database ("peer_set", "peer_del").
static int
s_storage_op(api_t *api, const char *op, const mpk_out_t *args, char why[PDB_ERRMSG_MAX])
{
    sclient_t *client = spool_take(api->pool);
    if (!client) {
        snprintf(why, PDB_ERRMSG_MAX, "cannot connect to storage");
        return PDB_EUNAVAIL;
    }
    void *result = NULL;
    size_t result_len = 0;
    int rc = sclient_call(client, op, args->buf.data, args->buf.size, &result, &result_len,
                          why);
    free(result);
    spool_give(api->pool, client);
    if (rc && rc != PDB_EINVAL && rc != PDB_ETOOBIG)
        log_w("gateway", "storage %s failed rc=%d (%s) why=%s", op, rc, pdb_strerror(rc), why);
    return rc;
}

//  Why a new peer cannot be added under its name, or 0. A peer configured
//  in sync/peers wins over a row, so adding one by that name would do
//  nothing; one added already must be removed first (no silent replace).
static int
s_add_allowed(api_t *api, MDB_txn *txn, const peerspec_t *peer, char why[PDB_ERRMSG_MAX])
{
    size_t len = strlen(peer->name);
    if (view_sync_config_peer(api->config_peers, api->config_peers_n, peer->name, len)) {
        snprintf(why, PDB_ERRMSG_MAX, "peer '%.64s' is defined in the configuration "
                 "(sync/peers); change it there", peer->name);
        return PDB_ECONFLICT;
    }
    bool exists, has_address;
    size_t added = 0;
    int rc = view_sync_row(api->store, txn, peer->name, len, &exists, &has_address);
    if (!rc && has_address) {
        snprintf(why, PDB_ERRMSG_MAX, "peer '%.64s' already exists; remove it first "
                 "(DELETE /v1/sync/peers/%.64s)", peer->name, peer->name);
        return PDB_ECONFLICT;
    }
    if (!rc)
        rc = view_sync_api_peers(api->store, txn, &added);
    if (!rc && added >= VIEW_SYNC_API_PEERS_MAX) {
        snprintf(why, PDB_ERRMSG_MAX, "this node already has %zu added peers, the most the "
                 "syncer runs; remove one first", added);
        return PDB_ECONFLICT;
    }
    return rc;
}

//  Replies with the peer as now stored.
static void
s_reply_peer(api_t *api, http_reply_t *reply, unsigned status, const char *name)
{
    MDB_txn *txn;
    if (!api_read_begin(api, reply, &txn))
        return;
    json_t *peer = NULL;
    int rc = view_sync_peer(api->store, txn, api->data_dir, api->config_peers,
                            api->config_peers_n, name, strlen(name), &peer);
    mdb_txn_abort(txn);
    if (rc) {
        http_reply_rc(reply, rc, "cannot read the peer back");
        return;
    }
    http_reply_json(reply, status, peer);
}

void
api_sync_peer_add(api_t *api, http_req_t *req, const pdb_id_t *id, http_reply_t *reply)
{
    (void) id;
    json_t *body;
    if (!api_body(req, reply, &body))
        return;
    char why[PDB_ERRMSG_MAX] = "";
    peerspec_t peer;
    int rc = peer_json_parse(body, &peer, why);
    json_decref(body);
    MDB_txn *txn;
    if (rc) {
        http_reply_rc(reply, rc, why);
        return;
    }
    if (!api_read_begin(api, reply, &txn))
        return;
    rc = s_add_allowed(api, txn, &peer, why);
    mdb_txn_abort(txn);
    mpk_out_t args;
    mpk_out_init(&args);
    if (!rc)
        rc = peer_json_pack_set(&peer, &args);
    if (!rc)
        rc = s_storage_op(api, "peer_set", &args, why);
    mpk_out_release(&args);
    if (rc) {
        http_reply_rc(reply, rc, why);
        return;
    }
    log_i("gateway", "sync peer added name=%s address=%s direction=%s collectives=%zu",
          peer.name, peer.address, peerspec_dir_name(peer.direction), peer.collectives_n);
    s_reply_peer(api, reply, 201, peer.name);
}

//  Why the peer `name` cannot be removed (404, 409), or 0.
static int
s_remove_allowed(api_t *api, const char *name, size_t len, char why[PDB_ERRMSG_MAX])
{
    if (view_sync_config_peer(api->config_peers, api->config_peers_n, name, len)) {
        snprintf(why, PDB_ERRMSG_MAX, "peer '%.*s' is defined in the configuration "
                 "(sync/peers); remove it there", (int) (len > 64 ? 64 : len), name);
        return PDB_ECONFLICT;
    }
    MDB_txn *txn;
    int rc = store_read_begin(api->store, &txn);
    bool exists = false, has_address;
    if (!rc) {
        rc = view_sync_row(api->store, txn, name, len, &exists, &has_address);
        mdb_txn_abort(txn);
    }
    if (!rc && !exists) {
        snprintf(why, PDB_ERRMSG_MAX, "no sync peer named '%.*s'", (int) (len > 64 ? 64 : len), name);
        return PDB_ENOTFOUND;
    }
    return rc;
}

void
api_sync_peer_remove(api_t *api, http_req_t *req, const pdb_id_t *id, http_reply_t *reply)
{
    (void) id;
    const char *name = req->path_name;
    size_t len = req->path_name_len;
    if (!peer_json_name_valid(name, len)) {
        http_reply_error(reply, 400, "'%.*s' is not a peer name (1..%u characters of A-Z a-z "
                         "0-9 . _ -)", (int) (len > 64 ? 64 : len), name, PEER_JSON_NAME_MAX);
        return;
    }
    char why[PDB_ERRMSG_MAX] = "";
    int rc = s_remove_allowed(api, name, len, why);
    mpk_out_t args;
    mpk_out_init(&args);
    mpk_pack_array(&args.pk, 1);
    mpk_pack_strn(&args.pk, name, len);
    if (!rc)
        rc = mpk_out_status(&args);
    if (!rc)
        rc = s_storage_op(api, "peer_del", &args, why);
    mpk_out_release(&args);
    if (rc) {
        http_reply_rc(reply, rc, why);
        return;
    }
    log_i("gateway", "sync peer removed name=%.*s", (int) len, name);
    http_reply_empty(reply, 204);
}

//  --------------------------------------------------------------------------
//  /metrics

static metrics_fact_t
s_fact(const json_t *object, const char *key)
{
    const json_t *value = json_object_get(object, key);
    json_int_t n = json_integer_value(value);
    return (metrics_fact_t) { .value = n > 0 ? (uint64_t) n : 0,
                              .known = json_is_integer(value) };
}

static void
s_metric_peer(const json_t *item, metrics_peer_t *out)
{
    const char *state = json_string_value(json_object_get(item, "state"));
    const json_t *snapshot = json_object_get(item, "snapshot");
    *out = (metrics_peer_t) {
        .name = json_string_value(json_object_get(item, "name")),
        .state = state,
        .up = !state || strcmp(state, "degraded") != 0,
        .lag_changes = s_fact(item, "lag_changes"),
        .lag_ms = s_fact(item, "lag_ms"),
        .failures = s_fact(item, "failures"),
        .retries = s_fact(item, "retries"),
        .conflicts = s_fact(item, "conflicts"),
        .wal_held_back = s_fact(item, "wal_held_back"),
        .last_success_ms = s_fact(item, "last_success_ms"),
        .snapshot_done = s_fact(snapshot, "done"),
        .snapshot_total = s_fact(snapshot, "total"),
    };
}

int
api_sync_metrics(api_t *api, MDB_txn *txn, json_t **status, metrics_peer_t **peers, size_t *n)
{
    *peers = NULL;
    *n = 0;
    int rc = view_sync_status(api->store, txn, api->data_dir, api->config_peers,
                              api->config_peers_n, 0,
                              status);
    if (rc)
        return rc;
    const json_t *list = json_object_get(*status, "peers");
    size_t count = json_array_size(list);
    *peers = calloc(count ? count : 1, sizeof **peers);
    if (!*peers) {
        json_decref(*status);
        *status = NULL;
        return -ENOMEM;
    }
    for (size_t i = 0; i < count; i++)
        s_metric_peer(json_array_get(list, i), &(*peers)[i]);
    *n = count;
    return 0;
}
