#include "api_entities.h"
#include "decimal.h"
#include "json_map.h"
#include "view.h"
#include "bounds.h"
#include "mpk.h"
#include "sclient.h"

#include <string.h>
#include <strings.h>

static void
s_reply_missing(http_reply_t *reply, const char *what, const pdb_id_t *id)
{
    char text[PDB_ID_STR_LEN + 1];
    pdb_id_format(id, text);
    http_reply_error(reply, 404, "%s %s not found", what, text);
}

//  A list reply written by a view: sent, or dropped for the error.
static void
s_reply_list(http_reply_t *reply, int rc, json_text_t *text)
{
    if (rc) {
        json_text_release(text);
        http_reply_rc(reply, rc, NULL);
        return;
    }
    http_reply_json_text(reply, 200, text);
}

//  The embedding size of a live collective, or false with a 404/500 reply.
static bool
s_collective_dim(api_t *api, http_reply_t *reply, const pdb_id_t *collective, uint32_t *dim)
{
    MDB_txn *txn;
    if (!api_read_begin(api, reply, &txn))
        return false;
    int rc = store_collective_dim(api->store, txn, collective, dim);
    mdb_txn_abort(txn);
    if (rc == PDB_ENOTFOUND || rc == PDB_EDELETED)
        s_reply_missing(reply, "collective", collective);
    else if (rc)
        http_reply_rc(reply, rc, NULL);
    return rc == 0;
}

//  The collective a live entity of `type` belongs to, or false with a 404.
static bool
s_locate(api_t *api, http_reply_t *reply, ent_type_t type, const pdb_id_t *id,
         pdb_id_t *collective)
{
    MDB_txn *txn;
    if (!api_read_begin(api, reply, &txn))
        return false;
    int rc = view_locate(api->store, txn, type, id, collective);
    mdb_txn_abort(txn);
    if (rc == PDB_ENOTFOUND)
        s_reply_missing(reply, entity_type_name(type), id);
    else if (rc)
        http_reply_rc(reply, rc, NULL);
    return rc == 0;
}

//  Body -> checked field map -> storage -> the stored entity, for creates
//  and updates alike. collective/id may be NULL (a create picks both).
static void
s_write_body(api_t *api, http_req_t *req, http_reply_t *reply, ent_type_t type,
             change_op_t op, const pdb_id_t *collective, const pdb_id_t *id, uint32_t dim)
{
    //  A create's embedding is read on the fast path, the rest parsed as JSON.
    jvec_t vecs;
    memset(&vecs, 0, sizeof vecs);
    json_t *body;
    bool parsed = op == OP_CREATE && dim > 0
                ? api_body_vecs(req, reply, JVEC_BODY, 1, &body, &vecs)
                : api_body(req, reply, &body);
    if (!parsed) {
        jvec_release(&vecs);
        return;
    }
    char why[PDB_ERRMSG_MAX] = "";
    mpk_out_t fields;
    mpk_out_init(&fields);
    //  Converted only: storage checks the fields (entity_check) as it takes them.
    int rc = json_map_convert(type, body, true, dim, &vecs, 0, &fields, why);
    json_decref(body);
    jvec_release(&vecs);
    if (!rc && op == OP_CREATE && req->on_loop) {
        api_create_deferred(api, req, reply, type, collective, fields.buf.data,
                            fields.buf.size);
        mpk_out_release(&fields);
        return;
    }
    if (!rc && op == OP_CREATE) {
        rc = api_create(api, reply, type, collective, fields.buf.data, fields.buf.size, why);
        mpk_out_release(&fields);
        if (rc)
            http_reply_rc(reply, rc, why);
        return;
    }
    pdb_id_t written;
    if (!rc)
        rc = api_write(api, type, op, collective, id, fields.buf.data, fields.buf.size,
                       &written, why);
    mpk_out_release(&fields);
    if (rc) {
        http_reply_rc(reply, rc, why);
        return;
    }
    //  The writer just sent the embedding: echoing it back would cost more
    //  than the write itself (float formatting), so write replies omit it.
    api_reply_entity(api, reply, op == OP_CREATE ? 201 : 200, type, id ? id : &written, 0);
}

//  --------------------------------------------------------------------------
//  Collectives

void
api_collectives_list(api_t *api, http_req_t *req, const pdb_id_t *id, http_reply_t *reply)
{
    (void) req;
    (void) id;
    MDB_txn *txn;
    if (!api_read_begin(api, reply, &txn))
        return;
    json_text_t text = JSON_TEXT_INIT;
    json_text_puts(&text, "{\"collectives\":");
    int rc = view_collectives(api->store, txn, &text);
    mdb_txn_abort(txn);
    json_text_put(&text, "}", 1);
    s_reply_list(reply, rc, &text);
}

void
api_collective_create(api_t *api, http_req_t *req, const pdb_id_t *id, http_reply_t *reply)
{
    (void) id;
    s_write_body(api, req, reply, ENT_COLLECTIVE, OP_CREATE, NULL, NULL, 0);
}

void
api_collective_get(api_t *api, http_req_t *req, const pdb_id_t *id, http_reply_t *reply)
{
    (void) req;
    api_reply_entity(api, reply, 200, ENT_COLLECTIVE, id, 0);
}

void
api_collective_delete(api_t *api, http_req_t *req, const pdb_id_t *id, http_reply_t *reply)
{
    (void) req;
    api_delete(api, reply, ENT_COLLECTIVE, id);
}

//  --------------------------------------------------------------------------
//  Experiences

//  ?limit=&cursor=&include_embedding= of a list request, or false with 400.
static bool
s_page_args(const http_req_t *req, http_reply_t *reply, size_t *limit, pdb_id_t *after,
            bool *has_after, unsigned *flags)
{
    const char *text = http_query(req, "limit");
    uint64_t n = API_PAGE_DEFAULT;
    if (text && (decimal_parse_u64(text, &n) != 0 || n < 1 || n > PDB_PAGE_MAX)) {
        http_reply_error(reply, 400, "'limit' must be an integer from 1 to %u", PDB_PAGE_MAX);
        return false;
    }
    *limit = (size_t) n;
    text = http_query(req, "cursor");
    *has_after = text && text[0];
    if (*has_after && pdb_id_parse(text, strlen(text), after) != 0) {
        http_reply_error(reply, 400, "'cursor' must be an experience id");
        return false;
    }
    text = http_query(req, "include_embedding");
    *flags = 0;
    if (text && (strcasecmp(text, "true") == 0 || strcmp(text, "1") == 0))
        *flags = VIEW_EMBEDDING;
    else if (text && strcasecmp(text, "false") != 0 && strcmp(text, "0") != 0) {
        http_reply_error(reply, 400, "'include_embedding' must be true or false");
        return false;
    }
    return true;
}

void
api_experiences_list(api_t *api, http_req_t *req, const pdb_id_t *id, http_reply_t *reply)
{
    size_t limit;
    pdb_id_t after;
    bool has_after, more = false;
    unsigned flags;
    if (!s_page_args(req, reply, &limit, &after, &has_after, &flags))
        return;
    MDB_txn *txn;
    if (!api_read_begin(api, reply, &txn))
        return;
    uint32_t dim;
    pdb_id_t last;
    json_text_t text = JSON_TEXT_INIT;
    json_text_puts(&text, "{\"experiences\":");
    int rc = store_collective_dim(api->store, txn, id, &dim);
    if (!rc)
        rc = view_experiences(api->store, txn, id, has_after ? &after : NULL, limit, flags,
                              &text, &more, &last);
    mdb_txn_abort(txn);
    if (rc == PDB_ENOTFOUND || rc == PDB_EDELETED) {
        json_text_release(&text);
        s_reply_missing(reply, "collective", id);
        return;
    }
    bool first = false;
    json_text_put_key(&text, &first, "next_cursor");
    if (more)
        json_map_put_id(&text, &last);
    else
        json_text_put(&text, "null", 4);
    json_text_put(&text, "}", 1);
    s_reply_list(reply, rc, &text);
}

void
api_experience_create(api_t *api, http_req_t *req, const pdb_id_t *id, http_reply_t *reply)
{
    uint32_t dim;
    if (s_collective_dim(api, reply, id, &dim))
        s_write_body(api, req, reply, ENT_EXPERIENCE, OP_CREATE, id, NULL, dim);
}

void
api_experience_get(api_t *api, http_req_t *req, const pdb_id_t *id, http_reply_t *reply)
{
    (void) req;
    api_reply_entity(api, reply, 200, ENT_EXPERIENCE, id, VIEW_EMBEDDING);
}

void
api_experience_patch(api_t *api, http_req_t *req, const pdb_id_t *id, http_reply_t *reply)
{
    pdb_id_t collective;
    if (s_locate(api, reply, ENT_EXPERIENCE, id, &collective))
        s_write_body(api, req, reply, ENT_EXPERIENCE, OP_UPDATE, &collective, id, 0);
}

void
api_experience_delete(api_t *api, http_req_t *req, const pdb_id_t *id, http_reply_t *reply)
{
    (void) req;
    api_delete(api, reply, ENT_EXPERIENCE, id);
}

void
api_experience_reinforce(api_t *api, http_req_t *req, const pdb_id_t *id, http_reply_t *reply)
{
    (void) req;
    pdb_id_t collective;
    if (!s_locate(api, reply, ENT_EXPERIENCE, id, &collective))
        return;
    char why[PDB_ERRMSG_MAX] = "";
    int rc = smux_reinforce(api->mux, id, NULL, why);
    if (rc) {
        http_reply_rc(reply, rc, why);
        return;
    }
    api_reply_entity(api, reply, 200, ENT_EXPERIENCE, id, 0);
}

void
api_experience_relations(api_t *api, http_req_t *req, const pdb_id_t *id, http_reply_t *reply)
{
    (void) req;
    MDB_txn *txn;
    if (!api_read_begin(api, reply, &txn))
        return;
    pdb_id_t collective;
    json_text_t text = JSON_TEXT_INIT;
    json_text_puts(&text, "{\"relations\":");
    int rc = view_locate(api->store, txn, ENT_EXPERIENCE, id, &collective);
    if (!rc)
        rc = view_relations_of(api->store, txn, id, &text);
    mdb_txn_abort(txn);
    if (rc == PDB_ENOTFOUND) {
        json_text_release(&text);
        s_reply_missing(reply, "experience", id);
        return;
    }
    json_text_put(&text, "}", 1);
    s_reply_list(reply, rc, &text);
}

//  --------------------------------------------------------------------------
//  Relations

//  The experience named by a relation body member, which json_map has
//  already checked is a UUID string when this runs.
static bool
s_endpoint(api_t *api, http_reply_t *reply, const json_t *body, const char *member,
           pdb_id_t *collective)
{
    const json_t *value = json_object_get(body, member);
    pdb_id_t id;
    if (!json_is_string(value)
        || pdb_id_parse(json_string_value(value), json_string_length(value), &id) != 0) {
        http_reply_error(reply, 400, "field '%s' must be an experience id", member);
        return false;
    }
    MDB_txn *txn;
    if (!api_read_begin(api, reply, &txn))
        return false;
    int rc = view_locate(api->store, txn, ENT_EXPERIENCE, &id, collective);
    mdb_txn_abort(txn);
    if (rc == PDB_ENOTFOUND) {
        char what[32];
        snprintf(what, sizeof what, "%s experience", member);
        s_reply_missing(reply, what, &id);
    }
    else if (rc)
        http_reply_rc(reply, rc, NULL);
    return rc == 0;
}

void
api_relation_create(api_t *api, http_req_t *req, const pdb_id_t *id, http_reply_t *reply)
{
    (void) id;
    json_t *body;
    if (!api_body(req, reply, &body))
        return;
    char why[PDB_ERRMSG_MAX] = "";
    mpk_out_t fields;
    mpk_out_init(&fields);
    pdb_id_t collective, target_collective, written;
    int rc = json_map_from_json(ENT_RELATION, OP_CREATE, body, true, 0, &fields, why);
    if (rc)
        http_reply_rc(reply, rc, why);
    //  Relations live in their source's collective: storage needs it named.
    else if (s_endpoint(api, reply, body, "source", &collective)
             && s_endpoint(api, reply, body, "target", &target_collective)) {
        rc = api_write(api, ENT_RELATION, OP_CREATE, &collective, NULL, fields.buf.data,
                       fields.buf.size, &written, why);
        if (rc)
            http_reply_rc(reply, rc, why);
        else
            api_reply_entity(api, reply, 201, ENT_RELATION, &written, 0);
    }
    json_decref(body);
    mpk_out_release(&fields);
}

void
api_relation_get(api_t *api, http_req_t *req, const pdb_id_t *id, http_reply_t *reply)
{
    (void) req;
    api_reply_entity(api, reply, 200, ENT_RELATION, id, 0);
}

void
api_relation_delete(api_t *api, http_req_t *req, const pdb_id_t *id, http_reply_t *reply)
{
    (void) req;
    api_delete(api, reply, ENT_RELATION, id);
}

//  --------------------------------------------------------------------------
//  Insights

void
api_insight_create(api_t *api, http_req_t *req, const pdb_id_t *id, http_reply_t *reply)
{
    uint32_t dim;
    if (s_collective_dim(api, reply, id, &dim))
        s_write_body(api, req, reply, ENT_INSIGHT, OP_CREATE, id, NULL, dim);
}

void
api_insight_get(api_t *api, http_req_t *req, const pdb_id_t *id, http_reply_t *reply)
{
    (void) req;
    api_reply_entity(api, reply, 200, ENT_INSIGHT, id, 0);
}

void
api_insight_delete(api_t *api, http_req_t *req, const pdb_id_t *id, http_reply_t *reply)
{
    (void) req;
    api_delete(api, reply, ENT_INSIGHT, id);
}
