/*  POST /v1/collectives/{id}/experiences:batch - up to PDB_WRITE_BATCH_MAX
    experiences in one request: {"experiences": [{...}, ...]}, each as the
    single create accepts it. All or nothing: the items go to storage as one
    "write_batch" request, written in one transaction and made durable by
    one commit; the first bad item refuses the batch (400 with its "index").
    201 {"ids": [...]} lists the new ids in item order.
*/
#include "api.h"
#include "bounds.h"
#include "json_map.h"
#include "log.h"
#include "mpk.h"
#include "sclient.h"
#include "sproto.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH_MEMBER "experiences"
#define BATCH_STORAGE_PREFIX "item "     // storage names a refused item so (wbatch.h)

//  The collective's embedding size, or false with a 404/500 reply.
static bool
s_dim(api_t *api, http_reply_t *reply, const pdb_id_t *collective, uint32_t *dim)
{
    MDB_txn *txn;
    if (!api_read_begin(api, reply, &txn))
        return false;
    int rc = store_collective_dim(api->store, txn, collective, dim);
    mdb_txn_abort(txn);
    if (rc == PDB_ENOTFOUND || rc == PDB_EDELETED) {
        char text[PDB_ID_STR_LEN + 1];
        pdb_id_format(collective, text);
        http_reply_error(reply, 404, "collective %s not found", text);
    }
    else if (rc)
        http_reply_rc(reply, rc, NULL);
    return rc == 0;
}

//  The item array of the body, or NULL with a 400/413 reply.
static const json_t *
s_items(const json_t *body, http_reply_t *reply)
{
    const char *key;
    json_t *value;
    json_object_foreach((json_t *) body, key, value)
        if (strcmp(key, BATCH_MEMBER) != 0) {
            http_reply_error(reply, 400, "unknown field '%.64s': a batch body is "
                             "{\"" BATCH_MEMBER "\": [...]}", key);
            return NULL;
        }
    const json_t *items = json_object_get(body, BATCH_MEMBER);
    if (!json_is_array(items) || json_array_size(items) == 0) {
        http_reply_error(reply, 400, "field '" BATCH_MEMBER "' must be a non-empty array of "
                         "experience objects");
        return NULL;
    }
    if (json_array_size(items) > PDB_WRITE_BATCH_MAX) {
        http_reply_error(reply, 413, "a batch holds at most %u experiences, this one %zu",
                         PDB_WRITE_BATCH_MAX, json_array_size(items));
        return NULL;
    }
    return items;
}

//  [experience, collective, [bin(fields), ...]]: each item converted as a
//  single create's body would be (storage checks the fields). On a bad
//  item replies with its index.
static bool
s_pack_args(const json_t *items, const jvec_t *vecs, const pdb_id_t *collective, uint32_t dim,
            mpk_out_t *args, http_reply_t *reply)
{
    size_t n = json_array_size(items);
    mpk_pack_array(&args->pk, 3);
    mpk_pack_u64(&args->pk, ENT_EXPERIENCE);
    mpk_pack_id(&args->pk, collective);
    mpk_pack_array(&args->pk, n);
    mpk_out_t fields;
    for (size_t i = 0; i < n; i++) {
        char why[PDB_ERRMSG_MAX] = "", text[PDB_ERRMSG_MAX + 48];
        mpk_out_init(&fields);
        //  Converted only: storage checks each item (entity_check) as it takes it.
        int rc = json_map_convert(ENT_EXPERIENCE, json_array_get(items, i), true, dim, vecs, i,
                                  &fields, why);
        if (!rc)
            mpk_pack_bin(&args->pk, fields.buf.data, fields.buf.size);
        mpk_out_release(&fields);
        if (rc) {
            snprintf(text, sizeof text, BATCH_MEMBER "[%zu]: %s", i, why);
            http_reply_rc_index(reply, rc, text, i);
            return false;
        }
    }
    int rc = mpk_out_status(args);
    if (rc)
        http_reply_rc(reply, rc, NULL);
    return rc == 0;
}

//  Storage's refusal: an item's ("item N: ...") is shown with its index.
static void
s_reply_refused(http_reply_t *reply, int rc, const char *why, size_t n)
{
    unsigned long index;
    int used = 0;
    if (sscanf(why, BATCH_STORAGE_PREFIX "%lu: %n", &index, &used) == 1 && used > 0 && index < n) {
        char text[PDB_ERRMSG_MAX + 48];
        snprintf(text, sizeof text, BATCH_MEMBER "[%lu]: %s", index, why + used);
        http_reply_rc_index(reply, rc, text, index);
        return;
    }
    http_reply_rc(reply, rc, why);
}

//  201 {"ids": [...]} from storage's [[id, ...], last_seq].
static void
s_reply_ids(http_reply_t *reply, const void *result, size_t len, size_t n)
{
    msgpack_unpacked u;
    if (!result || mpk_parse(result, len, &u)) {
        http_reply_rc(reply, PDB_EPROTO, "storage sent a malformed batch reply");
        return;
    }
    const msgpack_object *o = &u.data;
    const msgpack_object *ids = o->type == MSGPACK_OBJECT_ARRAY && o->via.array.size == 2
                              ? &o->via.array.ptr[0] : NULL;
    json_t *list = ids && ids->type == MSGPACK_OBJECT_ARRAY && ids->via.array.size == n
                 ? json_array() : NULL;
    for (uint32_t i = 0; list && i < n; i++) {
        pdb_id_t id;
        char text[PDB_ID_STR_LEN + 1];
        if (mpk_get_id(&ids->via.array.ptr[i], &id)) {
            json_decref(list);
            list = NULL;
            break;
        }
        pdb_id_format(&id, text);
        json_array_append_new(list, json_stringn(text, PDB_ID_STR_LEN));
    }
    msgpack_unpacked_destroy(&u);
    if (!list) {
        http_reply_rc(reply, PDB_EPROTO, "storage sent a malformed batch reply");
        return;
    }
    http_reply_json(reply, 201, json_pack("{s:o}", "ids", list));
}

void
api_experiences_batch(api_t *api, http_req_t *req, const pdb_id_t *id, http_reply_t *reply)
{
    uint32_t dim;
    if (!s_dim(api, reply, id, &dim))
        return;
    //  The items' embeddings are read on the fast path, the rest parsed as JSON.
    jvec_t vecs;
    json_t *body;
    if (!api_body_vecs(req, reply, JVEC_ITEMS, PDB_WRITE_BATCH_MAX, &body, &vecs)) {
        jvec_release(&vecs);
        return;
    }
    const json_t *items = s_items(body, reply);
    size_t n = items ? json_array_size(items) : 0;
    mpk_out_t args;
    mpk_out_init(&args);
    bool packed = items && s_pack_args(items, &vecs, id, dim, &args, reply);
    json_decref(body);
    jvec_release(&vecs);
    if (!packed) {
        mpk_out_release(&args);
        return;
    }
    char why[PDB_ERRMSG_MAX] = "";
    void *result = NULL;
    size_t result_len = 0;
    sclient_t *client = spool_take(api->pool);
    int rc = client ? sclient_call(client, "write_batch", args.buf.data, args.buf.size, &result,
                                   &result_len, why) : PDB_EUNAVAIL;
    spool_give(api->pool, client);
    mpk_out_release(&args);
    if (rc == PDB_EUNAVAIL && !client)
        snprintf(why, sizeof why, "cannot connect to storage");
    if (rc && rc != PDB_EINVAL && rc != PDB_ENOTFOUND && rc != PDB_ETOOBIG && rc != PDB_EDELETED)
        log_w("gateway", "storage batch write failed items=%zu rc=%d (%s) why=%s", n, rc,
              pdb_strerror(rc), why);
    if (rc)
        s_reply_refused(reply, rc, why, n);
    else
        s_reply_ids(reply, result, result_len, n);
    free(result);
}
