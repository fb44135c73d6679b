#include "view_sync.h"
#include "peer_json.h"
#include "entity.h"
#include "err.h"
#include "mpk.h"
#include "clock.h"
#include "syncstat.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

//  One decoded row; its strings point into LMDB, valid while the txn is.
typedef struct {
    char name[PEER_JSON_NAME_MAX + 1];
    size_t name_len;
    msgpack_unpacked u;
    bool inbound;
    bool has_id;
    pdb_id_t id;                 // instance_id (inbound: from the name when missing)
    const char *peer;            // inbound: the outbound peer with that instance
    bool configured;             // outbound: rendered with its configured peer
} s_row_t;

typedef struct {
    s_row_t *rows;
    size_t n;
} s_rows_t;

static void
s_rows_release(s_rows_t *self)
{
    for (size_t i = 0; i < self->n; i++)
        msgpack_unpacked_destroy(&self->rows[i].u);
    free(self->rows);
    memset(self, 0, sizeof *self);
}

//  Decodes one row into slot; false when it is skipped (odd key, not a map).
static bool
s_row_decode(s_row_t *slot, const char *name, size_t name_len, const MDB_val *val)
{
    if (name_len == 0 || name_len > PEER_JSON_NAME_MAX || !entity_utf8_valid(name, name_len))
        return false;
    if (mpk_parse(val->mv_data, val->mv_size, &slot->u) != 0)
        return false;
    if (slot->u.data.type != MSGPACK_OBJECT_MAP) {
        msgpack_unpacked_destroy(&slot->u);
        return false;
    }
    memcpy(slot->name, name, name_len);
    slot->name[name_len] = '\0';
    slot->name_len = name_len;
    slot->inbound = store_peer_is_inbound(slot->name, slot->name_len);
    slot->has_id = peer_json_instance(&slot->u.data, &slot->id);
    if (slot->inbound && !slot->has_id)
        slot->has_id = pdb_id_parse(slot->name + STORE_PEER_INBOUND_PREFIX_LEN,
                                    slot->name_len - STORE_PEER_INBOUND_PREFIX_LEN,
                                    &slot->id) == 0;
    slot->peer = NULL;
    slot->configured = false;
    return true;
}

//  Every row (up to VIEW_SYNC_ROWS_MAX), in name order.
static int
s_rows_read(store_t *store, MDB_txn *txn, s_rows_t *out)
{
    memset(out, 0, sizeof *out);
    uint64_t rows;
    int rc = store_peers_count(store, txn, &rows);
    if (rc)
        return rc;
    size_t cap = rows < VIEW_SYNC_ROWS_MAX ? rows : VIEW_SYNC_ROWS_MAX;
    out->rows = calloc(cap ? cap : 1, sizeof *out->rows);
    if (!out->rows)
        return -ENOMEM;
    store_iter_t it;
    rc = store_peers(store, txn, &it);
    const char *name;
    size_t len;
    MDB_val val;
    while (!rc && out->n < cap && (rc = store_peer_next(&it, &name, &len, &val)) == 0)
        out->n += s_row_decode(&out->rows[out->n], name, len, &val);
    store_iter_close(&it);
    if (rc && rc != PDB_ENOTFOUND) {
        s_rows_release(out);
        return rc;
    }
    return 0;
}

static s_row_t *
s_outbound_row(s_rows_t *rows, const char *name, size_t len)
{
    for (size_t i = 0; i < rows->n; i++)
        if (!rows->rows[i].inbound && rows->rows[i].name_len == len
            && memcmp(rows->rows[i].name, name, len) == 0)
            return &rows->rows[i];
    return NULL;
}

static s_row_t *
s_inbound_row(s_rows_t *rows, const pdb_id_t *instance)
{
    for (size_t i = 0; i < rows->n; i++)
        if (rows->rows[i].inbound && rows->rows[i].has_id
            && pdb_id_cmp(&rows->rows[i].id, instance) == 0)
            return &rows->rows[i];
    return NULL;
}

const peerspec_t *
view_sync_config_peer(const peerspec_t *config, size_t config_n, const char *name,
                      size_t name_len)
{
    for (size_t i = 0; i < config_n; i++)
        if (strlen(config[i].name) == name_len && memcmp(config[i].name, name, name_len) == 0)
            return &config[i];
    return NULL;
}

//  The syncer's status file, decoded; peers is NULL when there is none
//  (no syncer running) or it does not decode (torn by a crash).
typedef struct {
    void *buf;
    msgpack_unpacked u;
    const msgpack_object *peers;    // map: peer name -> its status map
} s_status_t;

static void
s_status_read(const char *data_dir, s_status_t *out)
{
    memset(out, 0, sizeof *out);
    size_t len;
    if (!data_dir || syncstat_read(data_dir, &out->buf, &len) != 0)
        return;
    if (mpk_parse(out->buf, len, &out->u) != 0) {
        free(out->buf);
        out->buf = NULL;
        return;
    }
    const msgpack_object *peers = out->u.data.type == MSGPACK_OBJECT_MAP
                                  ? mpk_map_get(&out->u.data, "peers") : NULL;
    out->peers = peers && peers->type == MSGPACK_OBJECT_MAP ? peers : NULL;
}

static void
s_status_release(s_status_t *st)
{
    if (st->buf)
        msgpack_unpacked_destroy(&st->u);
    free(st->buf);
    memset(st, 0, sizeof *st);
}

//  The document being built, and who holds the WAL back the most.
typedef struct {
    json_t *peers, *inbound;
    store_meta_t meta;
    unsigned flags;
    char held_by[PEER_JSON_NAME_MAX + 1];
    uint64_t held_most;
    s_status_t status;
    uint64_t now_ms;
} s_doc_t;

static void
s_note_held(s_doc_t *doc, const char *name, const json_t *item)
{
    json_int_t held = json_integer_value(json_object_get(item, "wal_held_back"));
    if (held > 0 && (uint64_t) held > doc->held_most) {
        doc->held_most = (uint64_t) held;
        snprintf(doc->held_by, sizeof doc->held_by, "%s", name);
    }
}

static int
s_add_outbound(s_doc_t *doc, s_rows_t *rows, const peerspec_t *config, s_row_t *row)
{
    const char *name = config ? config->name : row->name;
    const msgpack_object *status = doc->status.peers ? mpk_map_get(doc->status.peers, name)
                                                     : NULL;
    peer_json_ctx_t ctx = { doc->meta.wal_head, doc->meta.wal_floor, false, 0, status,
                            doc->now_ms };
    s_row_t *in = row && row->has_id ? s_inbound_row(rows, &row->id) : NULL;
    if (in) {
        ctx.remote_pulls = true;
        (void) peer_json_u64(&in->u.data, "pulled_through", &ctx.pulled_through);
        in->peer = name;
    }
    json_t *item = peer_json_outbound(name, strlen(name), config, row ? &row->u.data : NULL,
                                      &ctx, doc->flags);
    if (!item || json_array_append_new(doc->peers, item) != 0)
        return -ENOMEM;
    s_note_held(doc, name, item);
    return 0;
}

//  Configured peers first, then the other outbound rows.
static int
s_add_peers(s_doc_t *doc, s_rows_t *rows, const peerspec_t *config, size_t config_n)
{
    int rc = 0;
    for (size_t i = 0; !rc && i < config_n; i++) {
        s_row_t *row = s_outbound_row(rows, config[i].name, strlen(config[i].name));
        if (row)
            row->configured = true;
        rc = s_add_outbound(doc, rows, &config[i], row);
    }
    for (size_t i = 0; !rc && i < rows->n; i++)
        if (!rows->rows[i].inbound && !rows->rows[i].configured)
            rc = s_add_outbound(doc, rows, NULL, &rows->rows[i]);
    return rc;
}

static int
s_add_inbound(s_doc_t *doc, s_rows_t *rows)
{
    peer_json_ctx_t ctx = { .wal_head = doc->meta.wal_head, .wal_floor = doc->meta.wal_floor };
    for (size_t i = 0; i < rows->n; i++) {
        s_row_t *row = &rows->rows[i];
        if (!row->inbound)
            continue;
        json_t *item = peer_json_inbound(&row->u.data, row->peer, &ctx);
        if (!item || json_array_append_new(doc->inbound, item) != 0)
            return -ENOMEM;
        //  One that is also an outbound peer was counted with it.
        if (!row->peer && peer_json_inbound_holds(&row->u.data, NULL))
            s_note_held(doc, row->name, item);
    }
    return 0;
}

//  {count, last_ms, last_key, last_address} of the connections the sync
//  socket refused for an unknown key, or null without a syncer status.
static json_t *
s_refused(const s_status_t *st)
{
    const msgpack_object *r = st->buf && st->u.data.type == MSGPACK_OBJECT_MAP
                              ? mpk_map_get(&st->u.data, "refused") : NULL;
    if (!r || r->type != MSGPACK_OBJECT_MAP)
        return json_null();
    uint64_t count = 0, last_ms = 0;
    const char *key = "", *address = "";
    size_t key_len = 0, address_len = 0;
    const msgpack_object *v;
    if ((v = mpk_map_get(r, "count")))
        (void) mpk_get_u64(v, &count);
    if ((v = mpk_map_get(r, "last_ms")))
        (void) mpk_get_u64(v, &last_ms);
    if ((v = mpk_map_get(r, "last_key")))
        (void) mpk_get_str(v, &key, &key_len);
    if ((v = mpk_map_get(r, "last_address")))
        (void) mpk_get_str(v, &address, &address_len);
    return json_pack("{s:I,s:o,s:s%,s:s%}", "count", (json_int_t) count,
                     "last_ms", last_ms ? json_integer((json_int_t) last_ms) : json_null(),
                     "last_key", key, key_len, "last_address", address, address_len);
}

static json_t *
s_document(s_doc_t *doc)
{
    if (doc->flags & PEER_JSON_CONFIG)
        return json_pack("{s:O}", "peers", doc->peers);
    char instance[PDB_ID_STR_LEN + 1];
    pdb_id_format(&doc->meta.instance_id, instance);
    json_t *held_by = doc->held_by[0] ? json_string(doc->held_by) : json_null();
    return json_pack("{s:s,s:{s:I,s:I,s:o},s:O,s:O,s:o}", "instance_id", instance,
                     "wal", "head", (json_int_t) doc->meta.wal_head,
                     "floor", (json_int_t) doc->meta.wal_floor, "held_back_by", held_by,
                     "peers", doc->peers, "inbound", doc->inbound,
                     "refused", s_refused(&doc->status));
}

int
view_sync_status(store_t *store, MDB_txn *txn, const char *data_dir, const peerspec_t *config,
                 size_t config_n, unsigned flags, json_t **out)
{
    s_doc_t doc = { .flags = flags, .now_ms = clock_wall_ms() };
    int rc = store_meta_read(store, txn, &doc.meta);
    if (rc)
        return rc;
    s_rows_t rows;
    rc = s_rows_read(store, txn, &rows);
    if (rc)
        return rc;
    if (!(flags & PEER_JSON_CONFIG))
        s_status_read(data_dir, &doc.status);
    doc.peers = json_array();
    doc.inbound = json_array();
    rc = doc.peers && doc.inbound ? 0 : -ENOMEM;
    if (!rc)
        rc = s_add_peers(&doc, &rows, config, config_n);
    if (!rc)
        rc = s_add_inbound(&doc, &rows);
    json_t *result = rc ? NULL : s_document(&doc);
    if (!rc && !result)
        rc = -ENOMEM;
    json_decref(doc.peers);
    json_decref(doc.inbound);
    s_rows_release(&rows);
    s_status_release(&doc.status);
    if (!rc)
        *out = result;
    return rc;
}

int
view_sync_peer(store_t *store, MDB_txn *txn, const char *data_dir, const peerspec_t *config,
               size_t config_n, const char *name, size_t name_len, json_t **out)
{
    json_t *status;
    int rc = view_sync_status(store, txn, data_dir, config, config_n, 0, &status);
    if (rc)
        return rc;
    size_t i;
    json_t *peer;
    rc = PDB_ENOTFOUND;
    json_array_foreach(json_object_get(status, "peers"), i, peer) {
        const json_t *have = json_object_get(peer, "name");
        if (json_string_length(have) == name_len
            && memcmp(json_string_value(have), name, name_len) == 0) {
            *out = json_incref(peer);
            rc = 0;
            break;
        }
    }
    json_decref(status);
    return rc;
}

static bool
s_has_address(const MDB_val *val)
{
    msgpack_unpacked u;
    if (mpk_parse(val->mv_data, val->mv_size, &u) != 0)
        return false;
    const msgpack_object *address = mpk_map_get(&u.data, "address");
    bool has = address && address->type == MSGPACK_OBJECT_STR;
    msgpack_unpacked_destroy(&u);
    return has;
}

int
view_sync_row(store_t *store, MDB_txn *txn, const char *name, size_t name_len, bool *exists,
              bool *has_address)
{
    MDB_val val;
    int rc = store_peer_get(store, txn, name, name_len, &val);
    *exists = rc == 0;
    *has_address = rc == 0 && s_has_address(&val);
    return rc == PDB_ENOTFOUND ? 0 : rc;
}

int
view_sync_api_peers(store_t *store, MDB_txn *txn, size_t *count)
{
    store_iter_t it;
    int rc = store_peers(store, txn, &it);
    *count = 0;
    const char *name;
    size_t len;
    MDB_val val;
    while (!rc && (rc = store_peer_next(&it, &name, &len, &val)) == 0)
        *count += !store_peer_is_inbound(name, len) && s_has_address(&val);
    store_iter_close(&it);
    return rc == PDB_ENOTFOUND ? 0 : rc;
}
