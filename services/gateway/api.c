#include "api.h"
#include "api_sync.h"
#include "view.h"
#include "log.h"
#include "mpk.h"
#include "sclient.h"
#include "sstats.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

//  --------------------------------------------------------------------------
//  Shared steps

bool
api_body(const http_req_t *req, http_reply_t *reply, json_t **out)
{
    if (req->body_len == 0) {
        http_reply_error(reply, 400, "a JSON object body is required");
        return false;
    }
    if (!http_is_json(req)) {
        http_reply_error(reply, 415, "the body must be sent as Content-Type: application/json");
        return false;
    }
    json_error_t error;
    json_t *body = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &error);
    if (!body) {
        http_reply_error(reply, 400, "invalid JSON at line %d column %d: %s", error.line,
                         error.column, error.text);
        return false;
    }
    if (!json_is_object(body)) {
        json_decref(body);
        http_reply_error(reply, 400, "the body must be a JSON object");
        return false;
    }
    *out = body;
    return true;
}

bool
api_read_begin(api_t *api, http_reply_t *reply, MDB_txn **txn)
{
    int rc = store_read_begin(api->store, txn);
    if (rc) {
        log_e("gateway", "cannot begin a read transaction rc=%d (%s)", rc, pdb_strerror(rc));
        http_reply_rc(reply, rc, "cannot read the store");
        return false;
    }
    return true;
}

//  Logs a storage refusal a client could not have caused by its input.
static void
s_log_failed(const char *what, ent_type_t type, int op, int rc, const char *why)
{
    if (rc && rc != PDB_EINVAL && rc != PDB_ENOTFOUND && rc != PDB_ECONFLICT
        && rc != PDB_EDELETED && rc != PDB_ETOOBIG)
        log_w("gateway", "storage %s failed entity=%s op=%d rc=%d (%s) why=%s", what,
              entity_type_name(type), op, rc, pdb_strerror(rc), why);
}

int
api_write(api_t *api, ent_type_t type, change_op_t op, const pdb_id_t *collective,
          const pdb_id_t *id, const void *fields, size_t fields_len, pdb_id_t *id_out,
          char why[PDB_ERRMSG_MAX])
{
    int rc = smux_write(api->mux, type, op, collective, id, fields, fields_len, id_out, NULL,
                        why);
    s_log_failed("write", type, (int) op, rc, why);
    return rc;
}

//  A create's 201, rendered from the record storage stored, as a read of
//  it would be.
static void
s_reply_created(api_t *api, http_reply_t *reply, ent_type_t type, const pdb_id_t *collective,
                const pdb_id_t *id, void *record, size_t record_len)
{
    MDB_val value = { record_len, record };
    json_text_t entity = JSON_TEXT_INIT;
    int rc = view_record(api->store, NULL, type, type == ENT_COLLECTIVE ? id : collective, id,
                         &value, 0, &entity);
    if (rc) {
        json_text_release(&entity);
        http_reply_rc(reply, rc, "storage sent a record that does not decode");
    }
    else
        http_reply_json_text(reply, 201, &entity);
}

int
api_create(api_t *api, http_reply_t *reply, ent_type_t type, const pdb_id_t *collective,
           const void *fields, size_t fields_len, char why[PDB_ERRMSG_MAX])
{
    pdb_id_t id;
    void *record = NULL;
    size_t record_len = 0;
    int rc = smux_create(api->mux, type, collective, fields, fields_len, &id, &record,
                         &record_len, why);
    s_log_failed("create", type, OP_CREATE, rc, why);
    if (!rc)
        s_reply_created(api, reply, type, collective, &id, record, record_len);
    free(record);
    return rc;
}

//  A create on the network thread, from amux_create to http_finish.
typedef struct {
    api_t *api;
    http_deferred_t *deferred;
    ent_type_t type;
    pdb_id_t collective;
} s_create_t;

static void
s_created(void *arg, int rc, const msgpack_object *answer, const char *why)
{
    s_create_t *create = arg;
    char text[PDB_ERRMSG_MAX];
    snprintf(text, sizeof text, "%s", why);
    pdb_id_t id;
    void *record = NULL;
    size_t record_len = 0;
    if (!rc)
        rc = sclient_read_id_seq(answer, &id, NULL, &record, &record_len, text);
    s_log_failed("create", create->type, OP_CREATE, rc, text);
    http_reply_t reply;
    memset(&reply, 0, sizeof reply);
    if (rc)
        http_reply_rc(&reply, rc, text);
    else
        s_reply_created(create->api, &reply, create->type, &create->collective, &id, record,
                        record_len);
    free(record);
    http_finish(create->deferred, &reply);
    free(create);
}

void
api_create_deferred(api_t *api, http_req_t *req, http_reply_t *reply, ent_type_t type,
                    const pdb_id_t *collective, const void *fields, size_t fields_len)
{
    s_create_t *create = calloc(1, sizeof *create);
    if (!create) {
        http_reply_rc(reply, -ENOMEM, NULL);
        return;
    }
    create->api = api;
    create->type = type;
    if (collective)
        create->collective = *collective;
    int rc = amux_create(api->amux, type, collective, fields, fields_len, s_created, create);
    if (rc) {
        free(create);
        http_reply_rc(reply, rc, NULL);
        return;
    }
    //  Its end never comes before this returns (amux_create).
    create->deferred = http_defer(req);
}

void
api_reply_entity(api_t *api, http_reply_t *reply, unsigned status, ent_type_t type,
                 const pdb_id_t *id, unsigned view_flags)
{
    MDB_txn *txn;
    if (!api_read_begin(api, reply, &txn))
        return;
    json_text_t entity = JSON_TEXT_INIT;
    int rc = view_entity(api->store, txn, type, id, view_flags, &entity);
    mdb_txn_abort(txn);
    if (rc)
        json_text_release(&entity);
    if (rc == PDB_ENOTFOUND) {
        char text[PDB_ID_STR_LEN + 1];
        pdb_id_format(id, text);
        http_reply_error(reply, 404, "%s %s not found", entity_type_name(type), text);
        return;
    }
    if (rc) {
        http_reply_rc(reply, rc, NULL);
        return;
    }
    http_reply_json_text(reply, status, &entity);
}

void
api_delete(api_t *api, http_reply_t *reply, ent_type_t type, const pdb_id_t *id)
{
    MDB_txn *txn;
    if (!api_read_begin(api, reply, &txn))
        return;
    pdb_id_t collective;
    int rc = view_locate(api->store, txn, type, id, &collective);
    mdb_txn_abort(txn);
    char why[PDB_ERRMSG_MAX] = "";
    if (rc == PDB_ENOTFOUND) {
        char text[PDB_ID_STR_LEN + 1];
        pdb_id_format(id, text);
        http_reply_error(reply, 404, "%s %s not found", entity_type_name(type), text);
        return;
    }
    if (!rc) {
        static const uint8_t empty_map = 0x80;   // MessagePack {}: a delete has no fields
        rc = api_write(api, type, OP_DELETE, &collective, id, &empty_map, 1, NULL, why);
    }
    if (rc) {
        http_reply_rc(reply, rc, why);
        return;
    }
    http_reply_empty(reply, 204);
}

//  --------------------------------------------------------------------------
//  Node endpoints

static int
s_ping(const char *endpoint, zcert_t *cert, char why[PDB_ERRMSG_MAX])
{
    sclient_t *client = sclient_new_keyed(endpoint, API_HEALTH_TIMEOUT_MS, cert);
    if (!client) {
        snprintf(why, PDB_ERRMSG_MAX, "cannot connect to storage");
        return PDB_EUNAVAIL;
    }
    void *result = NULL;
    size_t result_len = 0;
    int rc = sclient_call(client, "ping", NULL, 0, &result, &result_len, why);
    free(result);
    sclient_destroy(&client);
    return rc;
}

void
api_health(api_t *api, http_req_t *req, const pdb_id_t *id, http_reply_t *reply)
{
    (void) req;
    (void) id;
    char why[PDB_ERRMSG_MAX] = "";
    MDB_txn *txn;
    store_meta_t meta;
    int rc = store_read_begin(api->store, &txn);
    if (!rc) {
        rc = store_meta_read(api->store, txn, &meta);
        mdb_txn_abort(txn);
    }
    if (rc)
        snprintf(why, sizeof why, "cannot read the store: %s", pdb_strerror(rc));
    else
        rc = s_ping(api->storage_endpoint, spool_cert(api->pool), why);
    if (rc) {
        http_reply_json(reply, 503, json_pack("{s:s,s:s}", "status", "unavailable", "reason",
                                              why[0] ? why : pdb_strerror(rc)));
        return;
    }
    http_reply_json(reply, 200, json_pack("{s:s}", "status", "ok"));
}

//  Node facts, sync peers included: their names are borrowed from
//  *sync_status, which the caller drops after rendering, and the array
//  node->peers is the caller's to free.
static void
s_node_facts(api_t *api, metrics_node_t *node, json_t **sync_status)
{
    memset(node, 0, sizeof *node);
    *sync_status = NULL;
    node->watch_streams = watch_streams(api->watch);
    uint64_t loop_writes, loop_messages;
    smux_counts(api->mux, &node->storage_writes, &node->storage_messages);
    amux_counts(api->amux, &loop_writes, &loop_messages);
    node->storage_writes += loop_writes;
    node->storage_messages += loop_messages;
    sstats_fetch(api->mux, &node->storage);
    MDB_txn *txn;
    if (store_read_begin(api->store, &txn) != 0)
        return;
    store_meta_t meta;
    view_counts_t counts;
    if (store_meta_read(api->store, txn, &meta) == 0
        && view_counts(api->store, txn, &counts) == 0) {
        metrics_peer_t *peers = NULL;
        //  Without its peers a scrape still reports the node.
        if (api_sync_metrics(api, txn, sync_status, &peers, &node->peers_n) == 0)
            node->peers = peers;
        node->store_ok = true;
        node->wal_head = meta.wal_head;
        node->wal_floor = meta.wal_floor;
        node->collectives = counts.collectives;
        node->experiences = counts.experiences;
        node->relations = counts.relations;
        node->insights = counts.insights;
    }
    mdb_txn_abort(txn);
}

void
api_metrics(api_t *api, http_req_t *req, const pdb_id_t *id, http_reply_t *reply)
{
    (void) req;
    (void) id;
    metrics_node_t node;
    json_t *sync_status;
    s_node_facts(api, &node, &sync_status);
    size_t len = 0;
    char *text = metrics_render(api->metrics, &node, &len);
    free((void *) node.peers);
    json_decref(sync_status);
    if (!text) {
        http_reply_error(reply, 500, "out of memory");
        return;
    }
    http_reply_text(reply, 200, "text/plain; version=0.0.4", text, len);
    free(text);
}

void
api_status(api_t *api, http_req_t *req, const pdb_id_t *id, http_reply_t *reply)
{
    (void) req;
    (void) id;
    MDB_txn *txn;
    if (!api_read_begin(api, reply, &txn))
        return;
    store_meta_t meta;
    view_counts_t counts;
    int rc = store_meta_read(api->store, txn, &meta);
    if (!rc)
        rc = view_counts(api->store, txn, &counts);
    mdb_txn_abort(txn);
    if (rc) {
        http_reply_rc(reply, rc, "cannot read the node's state");
        return;
    }
    char instance[PDB_ID_STR_LEN + 1];
    pdb_id_format(&meta.instance_id, instance);
    json_t *indexes = annquery_status(api->ann);
    if (!indexes) {
        http_reply_error(reply, 500, "out of memory");
        return;
    }
    http_reply_json(reply, 200, json_pack(
        "{s:s,s:s,s:{s:I,s:I},s:{s:I,s:I,s:I,s:I},s:o}",
        "instance_id", instance, "version", GW_VERSION,
        "wal", "head", (json_int_t) meta.wal_head, "floor", (json_int_t) meta.wal_floor,
        "counts", "collectives", (json_int_t) counts.collectives,
        "experiences", (json_int_t) counts.experiences,
        "relations", (json_int_t) counts.relations, "insights", (json_int_t) counts.insights,
        "search_indexes", indexes));
}
