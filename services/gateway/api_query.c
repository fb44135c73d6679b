#include "api_query.h"
#include "annquery.h"
#include "decimal.h"
#include "digest.h"
#include "json_map.h"
#include "search.h"
#include "view.h"

#include <errno.h>
#include <string.h>

static void
s_reply_missing_collective(http_reply_t *reply, const pdb_id_t *id)
{
    char text[PDB_ID_STR_LEN + 1];
    pdb_id_format(id, text);
    http_reply_error(reply, 404, "collective %s not found", text);
}

//  --------------------------------------------------------------------------
//  Search

//  One result: {"id", "score", "experience": {... without embedding}}.
static int
s_result(api_t *api, MDB_txn *txn, const pdb_id_t *collective, const search_hit_t *hit,
         json_text_t *out)
{
    MDB_val record = hit->record;
    int rc = record.mv_data ? 0 : store_record_at(api->store, txn, ENT_EXPERIENCE, collective,
                                                  &hit->id, &record);
    if (rc)
        return rc;
    bool first = true;
    json_text_put(out, "{", 1);
    json_text_put_key(out, &first, "id");
    json_map_put_id(out, &hit->id);
    json_text_put_key(out, &first, "score");
    json_text_put_real(out, hit->score);
    json_text_put_key(out, &first, "experience");
    rc = view_record(api->store, txn, ENT_EXPERIENCE, collective, &hit->id, &record, 0, out);
    json_text_put(out, "}", 1);
    return rc;
}

//  Writes the results array of q's answer to out.
static int
s_search(api_t *api, MDB_txn *txn, const pdb_id_t *collective, const search_query_t *q,
         json_text_t *out, bool *approximate)
{
    search_heap_t heap;
    int rc = search_heap_init(&heap, q->k);
    if (rc)
        return rc;
    *approximate = annquery_search(api->ann, api->store, txn, collective, q, &heap);
    if (!*approximate)
        rc = search_collective(api->store, txn, collective, q, &heap);
    json_text_put(out, "[", 1);
    for (size_t i = 0; !rc && i < heap.n; i++) {
        if (i)
            json_text_put(out, ",", 1);
        rc = s_result(api, txn, collective, &heap.hits[i], out);
    }
    json_text_put(out, "]", 1);
    search_heap_release(&heap);
    return rc;
}

//  Runs the body's query against the collective in txn; false with the
//  reply filled (404, 400, 413, 500) on failure.
static bool
s_run_query(api_t *api, MDB_txn *txn, const pdb_id_t *id, const json_t *body,
            const jvec_vec_t *taken, http_reply_t *reply, json_text_t *results,
            bool *approximate)
{
    uint32_t dim;
    int rc = store_collective_dim(api->store, txn, id, &dim);
    if (rc == PDB_ENOTFOUND || rc == PDB_EDELETED) {
        s_reply_missing_collective(reply, id);
        return false;
    }
    if (rc) {
        http_reply_rc(reply, rc, NULL);
        return false;
    }
    char why[PDB_ERRMSG_MAX] = "";
    search_query_t q;
    rc = search_query_parse_taken(body, dim, taken, &q, why);
    if (rc)
        http_reply_rc(reply, rc, why);
    else if ((rc = s_search(api, txn, id, &q, results, approximate)) != 0)
        http_reply_rc(reply, rc, "search failed");
    search_query_release(&q);
    return rc == 0;
}

void
api_search(api_t *api, http_req_t *req, const pdb_id_t *id, http_reply_t *reply)
{
    json_t *body;
    jvec_t vecs;
    //  The query's numbers on the fast path, as a create's embedding.
    if (!api_body_vecs(req, reply, JVEC_BODY, 1, &body, &vecs)) {
        jvec_release(&vecs);
        return;
    }
    jvec_vec_t taken;
    bool have = jvec_get(&vecs, 0, &taken);
    MDB_txn *txn;
    json_text_t text = JSON_TEXT_INIT;
    bool approximate = false;
    if (api_read_begin(api, reply, &txn)) {
        json_text_puts(&text, "{\"results\":");
        bool ok = s_run_query(api, txn, id, body, have ? &taken : NULL, reply, &text,
                              &approximate);
        mdb_txn_abort(txn);
        json_text_puts(&text, approximate ? ",\"method\":\"approximate\"}"
                                          : ",\"method\":\"exact\"}");
        if (ok)
            http_reply_json_text(reply, 200, &text);
    }
    json_text_release(&text);
    json_decref(body);
    jvec_release(&vecs);
}

//  --------------------------------------------------------------------------
//  Watch

//  Where the stream starts: ?from=SEQ, else Last-Event-ID (a reconnecting
//  EventSource), else the current head (only new changes). Each one given
//  must be a sequence number, the unused one too: a malformed start is a
//  client's mistake to report, not to ignore.
static bool
s_watch_start(const http_req_t *req, http_reply_t *reply, bool *given, uint64_t *after)
{
    const char *from = http_query(req, "from");
    const char *last = http_header(req, "Last-Event-ID");
    uint64_t from_seq = 0, last_seq = 0;
    bool from_ok = !from || decimal_parse_u64(from, &from_seq) == 0;
    bool last_ok = !last || decimal_parse_u64(last, &last_seq) == 0;
    if (!from_ok || !last_ok) {
        http_reply_error(reply, 400, "'%s' must be a WAL sequence number",
                         from_ok ? "Last-Event-ID" : "from");
        return false;
    }
    *given = from || last;
    *after = from ? from_seq : last_seq;
    return true;
}

void
api_watch(api_t *api, http_req_t *req, const pdb_id_t *id, http_reply_t *reply)
{
    bool given;
    uint64_t after = 0;
    if (!s_watch_start(req, reply, &given, &after))
        return;
    MDB_txn *txn;
    if (!api_read_begin(api, reply, &txn))
        return;
    uint32_t dim;
    store_meta_t meta;
    int rc = store_collective_dim(api->store, txn, id, &dim);
    if (!rc && !given && (rc = store_meta_read(api->store, txn, &meta)) == 0)
        after = meta.wal_head;
    mdb_txn_abort(txn);
    if (rc == PDB_ENOTFOUND || rc == PDB_EDELETED) {
        s_reply_missing_collective(reply, id);
        return;
    }
    if (rc) {
        http_reply_rc(reply, rc, NULL);
        return;
    }
    struct MHD_Response *stream = watch_stream(api->watch, req, id, after);
    if (!stream) {
        http_reply_error(reply, 500, "cannot start the stream: out of memory");
        return;
    }
    http_reply_stream(reply, stream);
}

//  --------------------------------------------------------------------------
//  Digest

void
api_digest(api_t *api, http_req_t *req, const pdb_id_t *id, http_reply_t *reply)
{
    (void) req;
    MDB_txn *txn;
    if (!api_read_begin(api, reply, &txn))
        return;
    digest_t d;
    int rc = digest_collective(api->store, txn, id, &d);
    mdb_txn_abort(txn);
    if (rc == PDB_ENOTFOUND) {
        s_reply_missing_collective(reply, id);
        return;
    }
    if (rc) {
        http_reply_rc(reply, rc, NULL);
        return;
    }
    char text[PDB_ID_STR_LEN + 1];
    pdb_id_format(id, text);
    http_reply_json(reply, 200, json_pack("{s:s,s:s,s:I,s:I,s:I}", "collective_id", text,
                                          "digest", d.hex,
                                          "experiences", (json_int_t) d.experiences,
                                          "relations", (json_int_t) d.relations,
                                          "insights", (json_int_t) d.insights));
}
